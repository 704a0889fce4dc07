//go:build !linux

package main

import (
	"errors"

	"github.com/igmpsnoop/igmpsnoop/bridge"
)

// doctor probes Linux bridges' kernel features: elsewhere it only says so.

func probeKernel(string) (bridge.Features, error) {
	return bridge.Features{}, errors.New("doctor needs Linux: it probes the Linux kernel the daemon would run on")
}
