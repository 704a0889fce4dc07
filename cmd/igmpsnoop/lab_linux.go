package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/igmpsnoop/igmpsnoop/lab"
)

// setupLab makes cmd run the demo with this binary as the daemon.
func setupLab(cmd *cobra.Command, stdout, stderr io.Writer) {
	labFlags(cmd, func(o lab.DemoOptions) error {
		var err error
		if o.Daemon, err = os.Executable(); err != nil {
			return fmt.Errorf("lab: find own binary to run the daemon: %w", err)
		}
		// Caught from the start, so a Ctrl-C while the lab is being built
		// still ends in the demo's cleanup rather than killing us mid-way.
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
		defer stop()
		return lab.Demo(ctx, o, stdout, stderr)
	})
}

// labFlags adds the flags of `lab` to cmd, which runs demo with them.
func labFlags(cmd *cobra.Command, demo func(lab.DemoOptions) error) {
	o := lab.DemoOptions{Step: lab.DefaultDemoStep}
	var whole time.Duration
	fs := cmd.Flags()
	fs.Var(duration(&o.Step), "step", "length of each step of the script (at least 1s; the ageing step takes at least "+lab.DemoAgeingStep.String()+")")
	fs.Var(duration(&whole), "duration", "length of the whole script, shared equally by its six steps (instead of --step)")
	fs.BoolVar(&o.Keep, "keep", false, "leave the lab up at the end, for poking around, until Ctrl-C")
	fs.BoolVar(&o.Verbose, "verbose", false, "show the daemon's log as it is written")
	fs.BoolVar(&o.ASCII, "ascii", !lab.UTF8Locale(), "draw the table with ASCII only (default unless the locale is UTF-8)")
	cmd.RunE = func(*cobra.Command, []string) error {
		if fs.Changed("step") && fs.Changed("duration") {
			return usageError{errors.New("lab: give --step or --duration, not both")}
		}
		if fs.Changed("duration") {
			o.Step = whole / lab.DemoSteps
		}
		if o.Step < lab.MinDemoStep {
			return usageError{fmt.Errorf("lab: steps of %v are too short to see anything: at least 1s (--duration at least 6s)", o.Step)}
		}
		return demo(o)
	}
}
