package main

import "github.com/igmpsnoop/igmpsnoop/bridge"

// probeKernel is doctor's probe of the running kernel.
func probeKernel(bridgeName string) (bridge.Features, error) { return bridge.ProbeFeatures(bridgeName) }
