package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// A configuration the bridges cannot take, or a missing bridge, fails
// before the daemon creates anything: the socket's directory does not
// exist afterwards, and the bridge was not written to. A good one creates
// the directory, parents included.
func TestStartValidatesBeforeCreating(t *testing.T) {
	tests := []struct {
		name string
		edit func(*fakeKernel, *Settings)
		want string // "" for a start
	}{
		{"missing bridge", func(_ *fakeKernel, s *Settings) {
			s.Bridges = append(s.Bridges, BridgeSettings{Name: "br9", Engine: s.Bridges[0].Engine})
		}, "bridge br9: lookup br9"},
		{"bridge deleted", func(k *fakeKernel, _ *Settings) { k.locked(func() { k.gone = true }) }, "bridge br0: lookup br0"},
		{"snooping off", func(k *fakeKernel, _ *Settings) { k.opts.Snooping = false }, "bridge br0: multicast snooping is off on br0"},
		{"group limit over the hash table", func(_ *fakeKernel, s *Settings) {
			s.Bridges[0].MaxGroupsSet, s.Bridges[0].Engine.Limits.MaxKeys = true, 4096
		}, "bridge br0: max_groups 4096 (--max-groups) must be below the bridge's mcast_hash_max 4096"},
		{"derived group limit leaves no room", func(k *fakeKernel, _ *Settings) { k.opts.HashMax = 1 },
			"max_groups (--max-groups), not set, is 3/4 of the bridge's mcast_hash_max 1, which leaves no room"},
		{"bad metrics address", func(_ *fakeKernel, s *Settings) { s.MetricsAddress = "127.0.0.1:-1" }, "metrics:"},
		{"good", func(*fakeKernel, *Settings) {}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, set := newFakeKernel("p1"), testSettings(t, nil)
			dir := filepath.Join(t.TempDir(), "run", "igmpsnoop")
			set.Socket = filepath.Join(dir, "ctl.sock")
			tt.edit(k, set)
			if tt.want == "" {
				startDaemon(t, k, set, nil)
				if _, err := os.Stat(dir); err != nil {
					t.Errorf("a good start did not create the socket's directory: %v", err)
				}
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := Run(ctx, Options{Kernel: k, Log: zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)), Settings: set})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("start: %v, want %q", err, tt.want)
			}
			if _, err := os.Stat(filepath.Dir(dir)); !os.IsNotExist(err) {
				t.Errorf("the socket's directory's parent exists after a refused start: %v", err)
			}
			k.mu.Lock()
			defer k.mu.Unlock()
			if len(k.setOpts) != 0 || len(k.ports) != 0 {
				t.Errorf("a refused start touched the bridge: options %+v, %d ports opened", k.setOpts, len(k.ports))
			}
		})
	}
}

// A second daemon on a live socket is refused first, before its bridges
// are even looked up: here its bridge is missing, and the refusal still
// names the other daemon.
func TestSecondDaemonRefusedBeforeBridges(t *testing.T) {
	set := testSettings(t, nil)
	set.Socket = filepath.Join(t.TempDir(), "run", "ctl.sock")
	h := startDaemon(t, newFakeKernel("p1"), set, nil)
	k2 := newFakeKernel("p1")
	k2.locked(func() { k2.gone = true })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := Run(ctx, Options{Kernel: k2, Log: zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)), Settings: set})
	if err == nil || !strings.Contains(err.Error(), "another daemon is listening") {
		t.Errorf("second daemon with a missing bridge: %v, want refused for the other daemon", err)
	}
	if r := h.ask(GroupsRequest{}); r.Error != "" {
		t.Errorf("first daemon after the second: %s", r.Error)
	}
}
