package daemon

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/igmpsnoop/igmpsnoop/bridge"
)

// chooseGuard tells the kernel how to attach the guards, before any port
// opens, and keeps the mode in force for `show config`.
func (d *daemon) chooseGuard() error {
	want := guardMode(d.settings.Guard)
	mode, err := d.o.Kernel.UseGuard(want)
	if err != nil {
		return fmt.Errorf("guard %s: %w", want, err)
	}
	d.guard = mode
	fields := []zap.Field{zap.String("mode", string(mode)), zap.String("configured", string(want))}
	if mode == bridge.GuardTC {
		fields = append(fields, zap.Duration("heartbeat_timeout", bridge.GuardHeartbeatTimeout))
	}
	d.log.Info("guard", fields...)
	return nil
}

// guardMode is the configured mode, auto if none.
func guardMode(m bridge.GuardMode) bridge.GuardMode {
	if m == "" {
		return bridge.GuardAuto
	}
	return m
}

// sameGuard refuses a reload that changes the guard mode: the ports'
// guards are attached in the old one.
func sameGuard(old, set *Settings) error {
	if guardMode(old.Guard) != guardMode(set.Guard) {
		return fmt.Errorf("guard cannot change on reload (%s to %s): restart the daemon", guardMode(old.Guard), guardMode(set.Guard))
	}
	return nil
}
