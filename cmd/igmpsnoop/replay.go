package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/igmpsnoop/igmpsnoop/replay"
	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// replayHelp is the help text of `igmpsnoop replay`; the flags follow it.
const replayHelp = "usage: igmpsnoop replay [flags] FILE\n\n" + replay.Description + `Exit status: 0 when the capture was read to its end (refusals included), 1
when it cannot be opened or read (what was read is printed first, then the
error names the frame), 2 on bad flags.

flags:
`

// parseReplay reads the flags and the file of `replay`.
func parseReplay(args []string, stderr io.Writer) (replay.Options, error) {
	o := replay.Options{Config: snoop.DefaultConfig()}
	c := &o.Config
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	// The help is long: print it for -h only, not after every mistake,
	// which realMain reports in one line.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.BoolVar(&o.JSON, "json", false, "print one JSON object per frame and a final summary object")
	fs.BoolVar(&o.Verbose, "v", false, "also show the frames that are not IGMP, MLD or PIM (counted either way)")
	fs.DurationVar(&o.Until, "until", 0, "keep running timers this long after the last frame before the final tables")
	fs.DurationVar(&c.QueryInterval, "query-interval", c.QueryInterval, "query interval (RFC 3376 §8.2) until a query in the capture says otherwise")
	fs.DurationVar(&c.QueryResponseInterval, "query-response-interval", c.QueryResponseInterval, "query response interval (RFC 3376 §8.3) until a query says otherwise")
	fs.DurationVar(&c.LastMemberQueryInterval, "last-member-interval", c.LastMemberQueryInterval, "last member query interval (RFC 3376 §8.8)")
	fs.IntVar(&c.LastMemberQueryCount, "last-member-count", c.LastMemberQueryCount, "last member query count (RFC 3376 §8.9)")
	fs.IntVar(&c.Robustness, "robustness", c.Robustness, "robustness variable (RFC 3376 §8.1) until a query says otherwise")
	fs.IntVar(&c.MaxSources, "max-sources", c.MaxSources, "most sources per group and port; beyond it the port gets every source")
	anySource := fs.Bool("any-source", false, "install any-source entries only, ignoring IGMPv3/MLDv2 source lists")
	fs.BoolVar(&c.VLANFiltering, "vlan-filtering", false, "replay as on a bridge with vlan_filtering: memberships, queriers and router ports per VLAN (without it tagged messages count for VLAN 0, as the kernel takes them)")
	// Flags may follow the file too (replay X.pcap -v): the flag package
	// stops at the first argument that is not a flag, so parse what
	// follows it again.
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(stderr)
				fmt.Fprint(stderr, replayHelp)
				fs.PrintDefaults()
				return o, err
			}
			return o, usageError{fmt.Errorf("replay: %w (igmpsnoop replay -h for help)", err)}
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch len(files) {
	case 0:
		return o, usageError{errors.New("replay: which capture? igmpsnoop replay [flags] FILE")}
	case 1:
		o.File = files[0]
	default:
		return o, usageError{fmt.Errorf("replay: one capture at a time; unexpected argument %q", files[1])}
	}
	if o.Until < 0 {
		return o, usageError{fmt.Errorf("replay: --until %v: must not be negative", o.Until)}
	}
	c.SourceLists = !*anySource
	if err := o.Validate(); err != nil {
		return o, usageError{fmt.Errorf("replay: %w", err)}
	}
	return o, nil
}

// cmdReplay runs `igmpsnoop replay`: the final tables print as `show`
// prints them.
func cmdReplay(args []string, stdout, stderr io.Writer) error {
	o, err := parseReplay(args, stderr)
	if err != nil {
		return err
	}
	o.PrintTable = func(w io.Writer, what string, t *replay.Tables) error {
		return printTable(w, what, &reply{Groups: t.Groups, Routers: t.Routers, Queriers: t.Queriers})
	}
	_, err = replay.Run(context.Background(), o, stdout)
	return err
}
