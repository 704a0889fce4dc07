//go:build !linux

package main

import (
	"context"
	"errors"
	"io"

	"go.uber.org/zap"

	"github.com/igmpsnoop/igmpsnoop/daemon"
)

// run and lab drive Linux bridges (netlink, AF_PACKET, tc): elsewhere they
// only say so.

func runDaemon(context.Context, *zap.Logger, *daemon.Settings, func() (*daemon.Settings, error)) error {
	return errors.New("run needs Linux: it drives Linux bridges")
}

func cmdLab([]string, io.Writer, io.Writer) error {
	return errors.New("lab needs Linux: it builds network namespaces and bridges")
}
