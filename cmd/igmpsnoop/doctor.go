package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

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
				err = printDoctor(stdout, r)
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

// printDoctor renders the report: the features, what was not found and
// why, the bridge, and the verdict.
func printDoctor(w io.Writer, r bridge.Report) error {
	where := "not probed"
	switch {
	case r.Isolated:
		where = "probed in a network namespace of its own"
	case len(r.Features) > 0:
		where = "probed on links of its own beside the host's"
	}
	fmt.Fprintf(w, "kernel %s, bpf_jit_enable %s, %s\n", r.Kernel, orNone(strings.Fields(r.JIT)), where)
	if len(r.Features) > 0 {
		if err := printFeatures(w, r.Features); err != nil {
			return err
		}
	}
	if b := r.Bridge; b != nil && b.Err == "" {
		fmt.Fprintf(w, "\nbridge %s: mcast_snooping %s, vlan_filtering %s, source lists %s, ports %s, mcast_to_unicast on %s\n",
			b.Name, onOff(b.Snooping), onOff(b.VLANFiltering), onOff(b.SourceLists.Found), orNone(b.Ports), orNone(b.ToUnicast))
	}
	if r.CanRun {
		fmt.Fprintln(w, "\nthe daemon can run here")
		return nil
	}
	fmt.Fprintf(w, "\nthe daemon cannot run here:\n  %s\n", strings.Join(r.Reasons, "\n  "))
	return nil
}

// printFeatures prints the table of features, then why those not found
// are not.
func printFeatures(w io.Writer, rows []bridge.Row) error {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FEATURE\tFOUND\tMODE")
	var why []string
	for _, row := range rows {
		found := "no"
		if row.Found {
			found = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", row.Feature, found, row.Mode)
		if !row.Found && row.Detail != "" {
			why = append(why, fmt.Sprintf("  %s: %s\n", row.Feature, row.Detail))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(why) > 0 {
		fmt.Fprintf(w, "\nnot found:\n%s", strings.Join(why, ""))
	}
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, " ")
}
