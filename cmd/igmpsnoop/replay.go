package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/igmpsnoop/igmpsnoop/replay"
	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// replayCommand is `igmpsnoop replay`: the final tables print as `show`
// prints them.
func replayCommand(stdout io.Writer) *cobra.Command {
	o := replay.Options{Config: snoop.DefaultConfig()}
	c := &o.Config
	cmd := &cobra.Command{
		Use:   "replay FILE",
		Short: "replay a capture (pcap/pcapng) through the engine, offline",
		Long: replay.Description + `Exit status: 0 when the capture was read to its end (refusals included), 1
when it cannot be opened or read (what was read is printed first, then the
error names the frame), 2 on bad flags.`,
		Args: func(_ *cobra.Command, args []string) error {
			switch len(args) {
			case 0:
				return usageError{errors.New("replay: which capture? igmpsnoop replay [flags] FILE")}
			case 1:
				return nil
			}
			return usageError{fmt.Errorf("replay: one capture at a time; unexpected argument %q", args[1])}
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&o.JSON, "json", false, "print one JSON object per frame and a final summary object")
	fs.BoolVarP(&o.Verbose, "verbose", "v", false, "also show the frames that are not IGMP, MLD or PIM (counted either way)")
	fs.Var(value[time.Duration]{&o.Until, "DUR", func(s string) (time.Duration, error) {
		d, err := parseDuration(s)
		if err == nil && d < 0 {
			err = errors.New("must not be negative")
		}
		return d, err
	}}, "until", "keep running timers this long after the last frame before the final tables")
	fs.Var(duration(&c.QueryInterval), "query-interval", "query interval (RFC 3376 §8.2) until a query in the capture says otherwise")
	fs.Var(duration(&c.QueryResponseInterval), "query-response-interval", "query response interval (RFC 3376 §8.3) until a query says otherwise")
	fs.Var(duration(&c.LastMemberQueryInterval), "last-member-interval", "last member query interval (RFC 3376 §8.8)")
	fs.Var(integer(&c.LastMemberQueryCount), "last-member-count", "last member query count (RFC 3376 §8.9)")
	fs.Var(integer(&c.Robustness), "robustness", "robustness variable (RFC 3376 §8.1) until a query says otherwise")
	fs.Var(integer(&c.MaxSources), "max-sources", "most sources per group and port; beyond it the port gets every source")
	anySource := fs.Bool("any-source", false, "install any-source entries only, ignoring IGMPv3/MLDv2 source lists")
	fs.BoolVar(&c.VLANFiltering, "vlan-filtering", false, "replay as on a bridge with vlan_filtering: memberships, queriers and router ports per VLAN (without it tagged messages count for VLAN 0, as the kernel takes them)")
	cmd.RunE = func(_ *cobra.Command, args []string) error {
		o.File = args[0]
		c.SourceLists = !*anySource
		if err := o.Validate(); err != nil {
			return usageError{fmt.Errorf("replay: %w", err)}
		}
		o.PrintTable = func(w io.Writer, what string, t *replay.Tables) error {
			return printTable(w, what, &reply{Groups: t.Groups, Routers: t.Routers, Queriers: t.Queriers})
		}
		_, err := replay.Run(context.Background(), o, stdout)
		return err
	}
	return cmd
}
