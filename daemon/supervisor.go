package daemon

import (
	"context"
	"errors"
	"os"

	"go.uber.org/zap"
)

// Options are what Run needs.
type Options struct {
	Kernel   Kernel
	Log      *zap.Logger
	Settings *Settings
	// Load reads the configuration again, for a reload; nil refuses
	// reloads (the daemon runs from flags only).
	Load func() (*Settings, error)
	// Reload delivers SIGHUP: each reloads the configuration.
	Reload <-chan os.Signal
}

// Run runs the daemon until ctx ends.
func Run(ctx context.Context, o Options) error {
	return errors.New("not yet")
}
