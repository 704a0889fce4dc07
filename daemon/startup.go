package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"go.uber.org/zap"
)

// socketInUse refuses a socket another daemon answers on. It creates
// nothing, so a second daemon stops before touching the filesystem or a
// bridge; a stale socket (nobody answers) is left for listenControl to
// replace.
func socketInUse(path string) error {
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return nil
	}
	c.Close()
	return fmt.Errorf("control socket %s: another daemon is listening there", path)
}

// validateBridges checks every configured bridge as a start would, but
// without changing anything: it exists, snoops, and takes its settings
// (the group limit against its mcast_hash_max, the timers). Run calls it
// before it creates its socket's directory, so a bad configuration or a
// missing bridge leaves nothing behind. Every bridge's error is returned.
func validateBridges(k Kernel, log *zap.Logger, bridges []BridgeSettings) error {
	var errs []error
	for _, bs := range bridges {
		if err := validateBridge(k, log, bs); err != nil {
			errs = append(errs, fmt.Errorf("bridge %s: %w", bs.Name, err))
		}
	}
	return errors.Join(errs...)
}

// validateBridge checks one bridge; see validateBridges.
func validateBridge(k Kernel, log *zap.Logger, bs BridgeSettings) error {
	br, err := k.Lookup(bs.Name)
	if err != nil {
		return err
	}
	opts, err := k.Options(br.Index)
	if err != nil {
		return err
	}
	if !opts.Snooping {
		return snoopingOff(bs.Name)
	}
	b := &bridgeKernel{k: k, log: log, br: &br, settings: &bs, hashMax: opts.HashMax, snooping: opts.Snooping, vlans: opts.VLANFiltering}
	_, err = b.engineConfig(bs)
	return err
}

// snoopingOff is the refusal of a bridge whose multicast snooping is off.
func snoopingOff(name string) error {
	return fmt.Errorf("multicast snooping is off on %s, so it cannot hold MDB entries; turn it on: ip link set %s type bridge mcast_snooping 1", name, name)
}
