package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/igmpsnoop/igmpsnoop/lab"
)

// TestParseLab: the flags reach the demo's options, --duration shared by
// the steps.
func TestParseLab(t *testing.T) {
	var got lab.DemoOptions
	cmd := &cobra.Command{Use: "lab", SilenceErrors: true, SilenceUsage: true}
	labFlags(cmd, func(o lab.DemoOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--duration", "30s", "--keep", "--ascii", "--verbose"})
	cmd.SetOut(io.Discard)
	if err := cmd.Execute(); err != nil || got.Step != 5*time.Second || !got.Keep || !got.ASCII || !got.Verbose {
		t.Fatalf("lab options %+v, %v", got, err)
	}
}

// TestLabCommandLine: help exits 0 and spells the flags GNU's way; every
// mistake exits 2, before the lab is built, with a message naming what is
// wrong.
func TestLabCommandLine(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--help"}, 0, "--step DUR"},
		{[]string{"-h"}, 0, "Removes\neverything it built"},
		{[]string{"--step", "2s", "--duration", "20s"}, 2, "give --step or --duration, not both"},
		{[]string{"--step", "500ms"}, 2, "steps of 500ms are too short"},
		{[]string{"--duration", "3s"}, 2, "steps of 500ms are too short"},
		{[]string{"extra"}, 2, `unexpected argument "extra"`},
		{[]string{"--step", "5"}, 2, `--step "5": needs a unit, e.g. 5s`},
		{[]string{"--duration", "soon"}, 2, `--duration "soon": not a duration`},
		{[]string{"--bogus"}, 2, "unknown flag: --bogus"},
	}
	for _, tt := range tests {
		var out bytes.Buffer // help goes to stdout, errors to stderr
		code := realMain(append([]string{"lab"}, tt.args...), &out, &out)
		if code != tt.code || !strings.Contains(out.String(), tt.want) {
			t.Errorf("lab %q: exit %d, output %q; want %d and %q", tt.args, code, out.String(), tt.code, tt.want)
		}
	}
}
