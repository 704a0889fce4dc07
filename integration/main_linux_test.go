package integration

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"github.com/igmpsnoop/igmpsnoop/lab"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// daemonBin is the igmpsnoop binary built for these tests, empty when not root.
var daemonBin string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if os.Geteuid() == 0 {
		dir, err := os.MkdirTemp("", "igmpsnoop-it-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		// Other users must be able to run it (the permission tests do).
		if err := os.Chmod(dir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		daemonBin = filepath.Join(dir, "igmpsnoop")
		build := exec.Command("go", "build", "-race", "-o", daemonBin, "../cmd/igmpsnoop")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build igmpsnoop:", err)
			return 1
		}
	}
	return m.Run()
}

// needRoot skips tests that build namespaces when not root.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces, bridges and BPF programs")
	}
	for _, tool := range []string{"ip", "tc", "sysctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: install iproute2 and procps (.ci/run does)", tool)
		}
	}
}

// newLab builds a lab with a unique prefix and removes it when the test ends.
func newLab(t *testing.T, c lab.Config) *lab.Lab {
	t.Helper()
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	c.Prefix = "is" + hex.EncodeToString(b)
	l, err := lab.New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("lab cleanup: %v", err)
		}
	})
	return l
}

// startDaemon runs the daemon in the lab, dumps its log if the test fails
// and stops it at the end.
func startDaemon(t *testing.T, l *lab.Lab, args ...string) *lab.Daemon {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "igmpsnoop.sock")
	d, err := l.StartDaemon(daemonBin, socket, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("daemon stop: %v", err)
		}
		if t.Failed() || os.Getenv("IGMPSNOOP_TEST_LOG") != "" {
			t.Logf("daemon log:\n%s", d.Log())
		}
	})
	return d
}

// waitFor polls cond every 100 ms until it holds or timeout passes; it
// returns how long it took. cond returns a description of what it saw for
// the failure message.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	var seen string
	for i := 0; time.Since(start) < timeout && i < 10000; i++ {
		var ok bool
		if ok, seen = cond(); ok {
			return time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v; last seen: %s", what, timeout, seen)
	return 0
}

// ip runs the ip command with args; its error carries the output.
func ip(args ...string) error {
	_, err := lab.Run("ip", args...)
	return err
}
