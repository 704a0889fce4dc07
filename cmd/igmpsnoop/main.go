package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// version and commit are set at build time with -ldflags "-X main.version=...".
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

// realMain runs the command line args and returns the exit status: 0 for
// success (help included), 2 for a mistake in the command line, 1 for a
// failure.
func realMain(args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	if len(args) == 0 {
		root.InitDefaultHelpCmd()
		root.InitDefaultCompletionCmd()
		root.SetOut(stderr)
		_ = root.Usage()
		return 2
	}
	// Errors before a command runs are cobra's: unknown commands, flags,
	// arguments. They are all mistakes in the command line.
	ran := false
	root.PersistentPreRun = func(*cobra.Command, []string) { ran = true }
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "igmpsnoop: %v\n", err)
	var ue usageError
	if !ran || errors.As(err, &ue) {
		return 2
	}
	return 1
}

// newRoot builds the command tree.
func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "igmpsnoop",
		Short: "IGMP and MLD snooping for Linux bridges",
		Long: `igmpsnoop snoops IGMP and MLD on Linux bridges and programs their multicast
database (run), and asks a running daemon what it learned (show, events,
check, reload).`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(flagError)
	root.AddCommand(
		runCommand(stderr),
		showCommand(stdout),
		eventsCommand(stdout),
		reloadCommand(stdout),
		checkCommand(stdout),
		labCommand(stdout, stderr),
		replayCommand(stdout),
		doctorCommand(stdout, probeKernel),
		&cobra.Command{Use: "version", Short: "print the version", Args: noArgs,
			Run: func(*cobra.Command, []string) { fmt.Fprintln(stdout, versionString()) }},
	)
	return root
}

// labCommand is `igmpsnoop lab`; setupLab, one per OS, gives it its flags
// and its run.
func labCommand(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "lab", Args: noArgs,
		Short: "demo: build a namespaced lab, run the daemon in it and show hosts joining and leaving, packet by packet (needs root)",
		Long: `Builds a namespaced lab (a bridge, a querier, three hosts and a sender),
runs the daemon in it, makes hosts join and leave on a short script, and
shows each second which host receives which group. Needs root. Removes
everything it built when it ends, also on Ctrl-C.`}
	setupLab(cmd, stdout, stderr)
	return cmd
}

// usageError marks errors in the command line, which exit with status 2.
type usageError struct{ error }

// commandName is the command's path without the program's name: "show groups".
func commandName(c *cobra.Command) string {
	return strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ")
}

// noArgs refuses positional arguments.
func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("%s: unexpected argument %q", commandName(c), args[0])}
	}
	return nil
}

// flagError words a flag's error as `--name "value": what is wrong`.
func flagError(c *cobra.Command, err error) error {
	var iv *pflag.InvalidValueError
	if errors.As(err, &iv) {
		err = fmt.Errorf("--%s %q: %w", iv.GetFlag().Name, iv.GetValue(), iv.Unwrap())
	}
	return usageError{fmt.Errorf("%s: %w (see igmpsnoop %s --help)", commandName(c), err, commandName(c))}
}
