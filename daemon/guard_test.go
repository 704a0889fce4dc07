package daemon

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/igmpsnoop/igmpsnoop/bridge"
)

// UseGuard records the mode asked for; auto is TCX, as on a new kernel.
func (k *fakeKernel) UseGuard(mode bridge.GuardMode) (bridge.GuardMode, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.guardAsked = mode
	if k.guardErr != nil {
		return "", k.guardErr
	}
	if mode == bridge.GuardAuto {
		return bridge.GuardTCX, nil
	}
	return mode, nil
}

// The configured guard mode reaches the kernel before the ports open, and
// `show config` tells the mode in force.
func TestGuardModeInForce(t *testing.T) {
	for _, tt := range []struct {
		configured, asked, inForce bridge.GuardMode
	}{
		{"", bridge.GuardAuto, bridge.GuardTCX},
		{bridge.GuardAuto, bridge.GuardAuto, bridge.GuardTCX},
		{bridge.GuardTC, bridge.GuardTC, bridge.GuardTC},
		{bridge.GuardTCX, bridge.GuardTCX, bridge.GuardTCX},
	} {
		t.Run(string(tt.configured), func(t *testing.T) {
			k, set := newFakeKernel("p1"), testSettings(t, nil)
			set.Guard = tt.configured
			h := startDaemon(t, k, set, nil)
			k.mu.Lock()
			asked := k.guardAsked
			k.mu.Unlock()
			if asked != tt.asked {
				t.Errorf("kernel asked for guard mode %q, want %q", asked, tt.asked)
			}
			if r := h.ask(ConfigRequest{}); r.Guard != string(tt.inForce) || r.Config != set.Text {
				t.Errorf("show config = %+v, want guard %s", r, tt.inForce)
			}
		})
	}
}

// A guard mode the kernel cannot do stops the start before any port opens.
func TestGuardModeRefused(t *testing.T) {
	k, set := newFakeKernel("p1"), testSettings(t, nil)
	set.Guard = bridge.GuardTCX
	k.guardErr = errors.New("attach type not supported")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := Run(ctx, Options{Kernel: k, Log: zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)), Settings: set})
	if err == nil || !strings.Contains(err.Error(), "guard tcx: attach type not supported") {
		t.Errorf("start = %v, want the guard's refusal", err)
	}
	if p := k.port(10); p != nil {
		t.Error("a port was opened")
	}
}

// The guard mode cannot change on reload: the guards are attached.
func TestReloadRefusesGuardChange(t *testing.T) {
	k := newFakeKernel("p1")
	h, ld := startReloadable(t, k)
	tc := *h.settings
	tc.Guard = bridge.GuardTC
	ld.next(&tc, nil)
	if r := h.ask(ReloadRequest{}); r.OK || !strings.Contains(r.Error, "guard cannot change on reload (auto to tc)") {
		t.Errorf("reload = %+v, want the guard change refused", r)
	}
	// The same mode spelt differently is no change.
	auto := *h.settings
	auto.Guard = bridge.GuardAuto
	ld.next(&auto, nil)
	if r := h.ask(ReloadRequest{}); !r.OK {
		t.Errorf("reload with guard auto for \"\" = %+v, want ok", r)
	}
}
