package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/igmpsnoop/igmpsnoop/daemon"
)

// runDaemon runs the daemon on the running kernel until ctx ends; SIGHUP
// reloads the configuration through load (nil: nothing to re-read).
func runDaemon(ctx context.Context, log *zap.Logger, set *daemon.Settings, load func() (*daemon.Settings, error)) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	return daemon.Run(ctx, daemon.Options{Kernel: daemon.LinuxKernel(), Log: log, Settings: set, Load: load, Reload: hup})
}
