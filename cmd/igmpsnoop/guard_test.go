package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/daemon"
)

// --guard reaches the settings (auto by default); a bad mode exits 2
// naming the flag; show config prints the mode in force.
func TestGuardFlag(t *testing.T) {
	for args, want := range map[string]bridge.GuardMode{"": bridge.GuardAuto, "--guard=tc": bridge.GuardTC, "--guard=tcx": bridge.GuardTCX} {
		argv := []string{"--bridge", "br0"}
		if args != "" {
			argv = append(argv, args)
		}
		s, err := parseRun(argv...)
		if err != nil || s.Guard != want {
			t.Errorf("run %s: guard %q, %v; want %q", args, s.Guard, err, want)
		}
	}
	var out, errOut bytes.Buffer
	if code := realMain([]string{"run", "--bridge", "br0", "--guard", "xdp"}, &out, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), `--guard "xdp": must be auto, tcx or tc`) {
		t.Errorf("run --guard xdp: exit %d, stderr %q", code, errOut.String())
	}
	var b strings.Builder
	printConfig(&b, &daemon.Reply{Config: "guard: auto\n", Guard: "tc"})
	if b.String() != "guard: auto\n# guard in force: tc\n" {
		t.Errorf("show config printed %q", b.String())
	}
}
