package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/igmpsnoop/igmpsnoop/bridge"
)

// doctorCommand is `igmpsnoop doctor`: probe (probeKernel, one per OS, or
// a test's) finds the kernel's features; the verdict is bridge's.
func doctorCommand(stdout io.Writer, probe func(bridgeName string) (bridge.Features, error)) *cobra.Command {
	var name string
	var asJSON bool
	cmd := &cobra.Command{Use: "doctor", Args: noArgs,
		Short: "tell which kernel features the daemon finds here and what it does without the others (needs root)",
		Long: `Probes the kernel features the daemon uses (TCX, clsact/cls_bpf, BPF maps,
MDB replace, proto and source lists, mcast_max_groups, vlan_filtering,
mcast_to_unicast) on a bridge and veth pair of its own, removed after, and
prints each with the mode the daemon will use. --bridge also reads that
bridge, without changing it. Exit status 1, with the reasons, when the
daemon cannot run here.`,
		RunE: func(*cobra.Command, []string) error {
			f, err := probe(name)
			if err != nil {
				return fmt.Errorf("doctor: %w", err)
			}
			r := f.Report()
			if asJSON {
				err = json.NewEncoder(stdout).Encode(map[string]bridge.Report{"doctor": r})
			} else {
				err = r.WriteText(stdout)
			}
			if err != nil {
				return fmt.Errorf("doctor: %w", err)
			}
			if !r.CanRun {
				return fmt.Errorf("doctor: the daemon cannot run here: %s", strings.Join(r.Reasons, "; "))
			}
			return nil
		}}
	cmd.Flags().StringVar(&name, "bridge", "", "also read the bridge `NAME`, as the daemon would find it (it is not changed)")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"doctor": {...}}`)
	return cmd
}
