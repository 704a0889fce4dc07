//go:build !linux

package main

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/igmpsnoop/igmpsnoop/daemon"
)

// run drives Linux bridges (netlink, AF_PACKET, tc): elsewhere it only
// says so.

func runDaemon(context.Context, *zap.Logger, *daemon.Settings, func() (*daemon.Settings, error)) error {
	return errors.New("run needs Linux: it drives Linux bridges")
}
