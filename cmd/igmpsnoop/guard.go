package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/daemon"
)

const guardHelp = "how the guards keeping reports from the bridge attach: tcx (a BPF link, gone with the daemon; Linux 6.6+), " +
	"tc (a cls_bpf filter that stands down once the daemon has been gone 3 s), auto (tcx if the kernel has it, else tc)"

// guardMode checks a --guard value.
func guardMode(s string) (string, error) {
	if _, err := bridge.ParseGuardMode(s); err != nil || s == "" {
		return "", errors.New("must be auto, tcx or tc")
	}
	return s, nil
}

// printConfig prints the configuration in force, and the guard mode the
// daemon chose (auto resolved), as a comment the file format would ignore.
func printConfig(w io.Writer, r *daemon.Reply) {
	fmt.Fprint(w, r.Config)
	if r.Guard != "" {
		fmt.Fprintf(w, "# guard in force: %s\n", r.Guard)
	}
}
