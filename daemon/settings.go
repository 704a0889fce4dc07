package daemon

import (
	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// Settings is the daemon's whole configuration, resolved (defaults
// applied, checked).
type Settings struct {
	Socket         string
	LogLevel       string
	LogFormat      string
	MetricsAddress string
	// Proto is the rt_protocol number marking the daemon's MDB entries.
	Proto   uint8
	Bridges []BridgeSettings
	// MDBReplace says whether MDB entries are refreshed with NLM_F_REPLACE
	// and marked Proto (Linux 6.2+), or deleted and re-added.
	MDBReplace MDBReplace
	// Text is the configuration in force as `show config` prints it,
	// rendered by whoever loaded it (the runtime knows no file format).
	Text string
	// Guard is how the ports' guards attach: auto (also ""), tcx or tc.
	Guard bridge.GuardMode
}

// BridgeSettings is one bridge's resolved configuration.
type BridgeSettings struct {
	Name      string
	AnySource bool
	// Handover leaves our entries to the kernel at exit instead of
	// removing them, so forwarding does not stop.
	Handover bool
	// GuardRelay has the ports' guards relay the reports they can to the
	// router ports themselves, in the kernel (see relay.go).
	GuardRelay bool
	// MaxGroupsSet tells whether the limit was given; if not, the daemon
	// derives it from the bridge's mcast_hash_max.
	MaxGroupsSet bool
	// GroupMetrics exports per-group metrics (member ports and tracked
	// hosts per group): a series per group, so opt-in; the group limit
	// bounds them.
	GroupMetrics bool
	Engine       snoop.Config
}

// policy returns a port's policy by name.
func (b *BridgeSettings) policy(name string) snoop.PortPolicy { return b.Engine.Policy(name) }

// KernelRouterMode is the port's multicast router mode in the kernel, and
// whether configuration fixes it: permanent for router/flood ports,
// disabled for ports that refuse queries, else left to learning.
func (b *BridgeSettings) KernelRouterMode(name string) (uint8, bool) {
	switch p := b.policy(name); {
	case p.Router || p.Flood || p.NoSnooping:
		return bridge.PortRouterPermanent, true
	case p.RefuseQueries:
		return bridge.PortRouterDisabled, true
	}
	return bridge.PortRouterLearned, false
}
