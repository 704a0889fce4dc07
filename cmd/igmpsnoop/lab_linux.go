package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/igmpsnoop/igmpsnoop/lab"
)

// parseLab parses the flags of `lab`.
func parseLab(args []string, stderr io.Writer) (lab.DemoOptions, error) {
	o := lab.DemoOptions{}
	var duration time.Duration
	fs := flag.NewFlagSet("lab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: igmpsnoop lab [flags]

Builds a namespaced lab (a bridge, a querier, three hosts and a sender),
runs the daemon in it, makes hosts join and leave on a short script, and
shows each second which host receives which group. Needs root. Removes
everything it built when it ends, also on Ctrl-C.

`)
		fs.PrintDefaults()
	}
	fs.DurationVar(&o.Step, "step", lab.DefaultDemoStep, "length of each step of the script (at least 1s; the ageing step takes at least "+lab.DemoAgeingStep.String()+")")
	fs.DurationVar(&duration, "duration", 0, "length of the whole script, shared equally by its six steps (instead of --step)")
	fs.BoolVar(&o.Keep, "keep", false, "leave the lab up at the end, for poking around, until Ctrl-C")
	fs.BoolVar(&o.Verbose, "verbose", false, "show the daemon's log as it is written")
	fs.BoolVar(&o.ASCII, "ascii", !lab.UTF8Locale(), "draw the table with ASCII only (default unless the locale is UTF-8)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, usageError{fmt.Errorf("lab: unexpected argument %q", fs.Arg(0))}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["step"] && set["duration"] {
		return o, usageError{errors.New("lab: give --step or --duration, not both")}
	}
	if set["duration"] {
		o.Step = duration / lab.DemoSteps
	}
	if o.Step < lab.MinDemoStep {
		return o, usageError{fmt.Errorf("lab: steps of %v are too short to see anything: at least 1s (--duration at least 6s)", o.Step)}
	}
	return o, nil
}

// cmdLab runs the demo with this binary as the daemon.
func cmdLab(args []string, stdout, stderr io.Writer) error {
	o, err := parseLab(args, stderr)
	if err != nil {
		return err
	}
	if o.Daemon, err = os.Executable(); err != nil {
		return fmt.Errorf("lab: find own binary to run the daemon: %w", err)
	}
	// Caught from the start, so a Ctrl-C while the lab is being built still
	// ends in the demo's cleanup rather than killing us mid-way.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	return lab.Demo(ctx, o, stdout, stderr)
}
