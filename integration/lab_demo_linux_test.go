package integration

import (
	"bytes"
	"errors"
	"github.com/igmpsnoop/igmpsnoop/lab"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// demo is a running `igmpsnoop lab`; exited is closed once it has exited,
// with its Wait error in err.
type demo struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// labDemo starts `igmpsnoop lab args...` with its temporary files under a
// directory of the test's, so leftovers of it can be found.
func labDemo(t *testing.T, args ...string) (d *demo, out *lab.SyncBuffer, tmp string) {
	t.Helper()
	tmp = t.TempDir()
	out = &lab.SyncBuffer{}
	cmd := exec.Command(daemonBin, append([]string{"lab"}, args...)...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d = &demo{cmd: cmd, exited: make(chan struct{})}
	go func() { d.err = cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // fails harmlessly once it has exited
		<-d.exited
		if t.Failed() {
			t.Logf("igmpsnoop lab output:\n%s", out.String())
		}
	})
	return d, out, tmp
}

// waitExit waits up to timeout for the demo to exit and returns its exit
// code.
func waitExit(t *testing.T, d *demo, timeout time.Duration) int {
	t.Helper()
	select {
	case <-d.exited:
		var ee *exec.ExitError
		if errors.As(d.err, &ee) {
			return ee.ExitCode()
		}
		if d.err != nil {
			t.Fatal(d.err)
		}
		return 0
	case <-time.After(timeout):
		_ = d.cmd.Process.Kill()
		<-d.exited
		t.Fatalf("igmpsnoop lab still running after %v", timeout)
		return -1
	}
}

var labPrefixRE = regexp.MustCompile(`network namespaces (lab[0-9a-f]{5})-`)

// checkLabGone checks that no namespace of the lab in out is left, and no
// daemon it started (their command lines name a path under tmp).
func checkLabGone(t *testing.T, out, tmp string) {
	t.Helper()
	m := labPrefixRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no lab prefix in the output")
	}
	list, err := lab.Run("ip", "netns", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, ln := range strings.Split(list, "\n") {
		if strings.HasPrefix(ln, m[1]+"-") {
			t.Errorf("namespace left behind: %s", ln)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(tmp)) {
			t.Errorf("process left behind: %s", bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
}

// TestLabDemo runs the demo as a person would and checks that it proves
// pruning from its own measurements and leaves nothing behind.
func TestLabDemo(t *testing.T) {
	needRoot(t)
	d, out, tmp := labDemo(t, "--step", "3s", "--ascii")
	code := waitExit(t, d, 2*time.Minute)
	s := out.String()
	if code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if !strings.Contains(s, "pruning verified: non-members received 0 packets while members received ") {
		t.Error("no verdict line")
	}
	// A member receiving and a non-member getting nothing in one table.
	if !regexp.MustCompile(`(?m)^  h\d .* [1-9]\d* \+ member`).MatchString(s) {
		t.Error("no table row shows a member receiving")
	}
	if !regexp.MustCompile(`(?m)^  h\d +0 \. not joined`).MatchString(s) {
		t.Error("no table row shows a non-member at 0")
	}
	if !strings.Contains(s, "daemon (show groups): news -> h1 (") {
		t.Error("the daemon's view never shows h1 in news")
	}
	if strings.Contains(s, "WRONG") {
		t.Error("a cell is marked WRONG")
	}
	checkLabGone(t, s, tmp)
}

// TestLabDemoInterrupted stops the demo with SIGINT (Ctrl-C) mid-way: it
// must stop the daemon, remove the lab and exit promptly.
func TestLabDemoInterrupted(t *testing.T) {
	needRoot(t)
	d, out, tmp := labDemo(t, "--step", "3s", "--ascii")
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(out.String(), "step 2/6") {
		select {
		case <-d.exited:
			t.Fatal("the demo exited before step 2")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the demo did not reach step 2")
		}
		time.Sleep(100 * time.Millisecond)
	}
	start := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	code := waitExit(t, d, 15*time.Second)
	t.Logf("exited %v after SIGINT", time.Since(start).Round(time.Millisecond))
	s := out.String()
	if code != 1 || !strings.Contains(s, "interrupted") || !strings.Contains(s, "Lab removed") {
		t.Errorf("exit code %d; want 1 with \"interrupted\" and \"Lab removed\" in the output", code)
	}
	checkLabGone(t, s, tmp)
}
