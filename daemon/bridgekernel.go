package daemon

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// bridgeKernel keeps the kernel's settings of one bridge and its ports in
// line with the configuration and the engine: the options the daemon
// depends on, and the ports' multicast router modes. It also holds what
// the kernel could do, found at start.
type bridgeKernel struct {
	k        Kernel
	log      *zap.Logger
	br       *bridge.Bridge  // the loop's
	settings *BridgeSettings // the loop's, as reconfigured

	sourceLists bool // the kernel holds source lists, and they are wanted
	hashMax     uint32
	snooping    bool // the bridge's mcast_snooping, as last seen
	// vlans is set when the bridge filters VLANs: only then are MDB
	// entries per VLAN, so only then are memberships kept per VLAN.
	vlans bool

	// mdbReplace is the setting; replace what prepare found: MDB writes
	// use NLM_F_REPLACE and our proto (see mdbreplace.go).
	mdbReplace MDBReplace
	replace    bool
}

// prepare checks the bridge and sets what the daemon depends on: IGMPv3
// and MLDv2 processing where the kernel can hold source lists, and the
// bridge's membership interval.
func (b *bridgeKernel) prepare(opts bridge.Options) error {
	b.snooping, b.vlans, b.hashMax = opts.Snooping, opts.VLANFiltering, opts.HashMax
	if !opts.Snooping {
		return snoopingOff(b.br.Name)
	}
	if err := b.probeReplace(); err != nil {
		return err
	}
	if !b.settings.AnySource {
		ok, err := b.k.ProbeSourceLists(b.br.Index)
		if err != nil {
			return err
		}
		if !ok {
			b.log.Warn("this kernel cannot hold source lists in MDB entries (needs Linux 6.2): installing any-source entries, a superset")
		}
		b.sourceLists = ok
	}
	if b.sourceLists {
		// The bridge looks up (S,G) entries, which source lists create,
		// only when it runs IGMPv3 and MLDv2 itself.
		if opts.IGMPVersion != 3 {
			if err := b.k.SetOption(b.br.Index, Option{IGMPVersion: 3}); err != nil {
				return err
			}
			b.log.Info("set bridge mcast_igmp_version 3 for source-specific forwarding", zap.Uint8("was", opts.IGMPVersion))
		}
		if opts.MLDVersion != 2 {
			if err := b.k.SetOption(b.br.Index, Option{MLDVersion: 2}); err != nil {
				return err
			}
			b.log.Info("set bridge mcast_mld_version 2 for source-specific forwarding", zap.Uint8("was", opts.MLDVersion))
		}
	}
	if !b.br.IPv6.IsLinkLocalUnicast() {
		b.log.Warn("the bridge has no IPv6 link-local address yet: no MLD queries can be sent (hosts ignore others) until it has one")
	}
	cfg, err := b.engineConfig(*b.settings)
	if err != nil {
		return err
	}
	// The kernel ages our temporary entries by this; it must outlast our
	// refresh cadence, and no more, so entries die soon after we do.
	if err := b.setInterval(opts.MembershipInterval, Option{MembershipInterval: cfg.BridgeMembershipInterval()}); err != nil {
		return fmt.Errorf("set mcast_membership_interval on %s: %w", b.br.Name, err)
	}
	return nil
}

// engineConfig completes a bridge's configured engine settings with what
// the bridge itself says: its addresses, what the kernel can hold, and a
// group limit safely under mcast_hash_max.
func (b *bridgeKernel) engineConfig(bs BridgeSettings) (snoop.Config, error) {
	c := bs.Engine
	c.QuerySourceMAC = b.br.MAC
	if !c.QuerierAddr4.IsValid() && b.br.IPv4.IsValid() {
		c.QuerierAddr4 = b.br.IPv4
	}
	if b.br.IPv6.IsLinkLocalUnicast() {
		c.QuerierAddr6 = b.br.IPv6
	}
	c.SourceLists = b.sourceLists && !bs.AnySource
	c.VLANFiltering = b.vlans
	if hm := int(b.hashMax); hm > 0 {
		if !bs.MaxGroupsSet {
			// Going over mcast_hash_max turns snooping off for the whole
			// bridge; keep room for entries the kernel adds (host joins).
			c.Limits.MaxKeys = hm * 3 / 4
			if c.Limits.MaxKeys < 1 { // the engine would take 0 for no limit
				return c, fmt.Errorf("max_groups (--max-groups), not set, is 3/4 of the bridge's mcast_hash_max %d, which leaves no room for a group: raise it (ip link set %s type bridge mcast_hash_max 4096)", hm, bs.Name)
			}
		} else if c.Limits.MaxKeys >= hm {
			return c, fmt.Errorf("max_groups %d (--max-groups) must be below the bridge's mcast_hash_max %d: over it the kernel turns snooping off", c.Limits.MaxKeys, hm)
		}
	}
	return c, c.Validate()
}

// followTimers keeps the bridge's membership interval, the life of our
// temporary entries, above the membership interval the querier's timers
// give (else the kernel would drop entries we still hold), and its
// querier interval at ours: the kernel must stop believing in a querier
// when we do, else, once it is gone, it keeps pruning by entries we have
// aged out instead of flooding.
func (b *bridgeKernel) followTimers(e *snoop.Engine) {
	membership, otherQuerier := e.BridgeMembershipInterval(), e.OtherQuerierPresentInterval()
	opts, err := b.k.Options(b.br.Index)
	if err != nil {
		b.log.Error("cannot read the bridge's options", zap.Error(err))
		return
	}
	if err := b.setInterval(opts.MembershipInterval, Option{MembershipInterval: membership}); err != nil {
		b.log.Error("cannot follow the querier's timers", zap.Error(err))
	}
	if err := b.setInterval(opts.QuerierInterval, Option{QuerierInterval: otherQuerier}); err != nil {
		b.log.Error("cannot set the bridge's querier interval", zap.Error(err))
	}
}

// setInterval sets one of the bridge's intervals (o) unless it is already
// what it was.
func (b *bridgeKernel) setInterval(was time.Duration, o Option) error {
	now, name := o.MembershipInterval, "membership"
	if o.QuerierInterval != 0 {
		now, name = o.QuerierInterval, "querier"
	}
	if was == now {
		return nil
	}
	if err := b.k.SetOption(b.br.Index, o); err != nil {
		return err
	}
	b.log.Info("set bridge "+name+" interval", zap.Duration("was", was), zap.Duration("now", now))
	return nil
}

// fixPortRouter sets a new port's router mode where the configuration
// fixes it: permanent, so the kernel forwards every group there, or
// disabled, so it never becomes a router port, whatever a host sends.
func (b *bridgeKernel) fixPortRouter(l bridge.Link) error {
	if mode, fixed := b.settings.KernelRouterMode(l.Name); fixed {
		return b.k.SetPortRouter(l.Index, mode)
	}
	return nil
}

// refixPortRouter brings a port's router mode in line with new settings.
func (b *bridgeKernel) refixPortRouter(old BridgeSettings, l bridge.Link) {
	oldMode, oldFixed := old.KernelRouterMode(l.Name)
	mode, fixed := b.settings.KernelRouterMode(l.Name)
	if fixed && (!oldFixed || mode != oldMode) || !fixed && oldFixed {
		if err := b.k.SetPortRouter(l.Index, mode); err != nil {
			b.log.Warn("cannot set the port's router mode", zap.String("port", l.Name), zap.Uint8("mode", mode), zap.Error(err))
		}
	}
}

// setRouterPort mirrors a dynamic router port into the kernel as a
// temporary one: it lasts the bridge's mcast_querier_interval unless
// renewed, so it lapses on its own if the daemon dies.
func (b *bridgeKernel) setRouterPort(l bridge.Link, on bool) {
	if _, fixed := b.settings.KernelRouterMode(l.Name); fixed {
		return
	}
	mode := bridge.PortRouterLearned
	if on {
		mode = bridge.PortRouterTemporary
	}
	if err := b.k.SetPortRouter(l.Index, mode); err != nil {
		b.log.Warn("cannot set router port", zap.String("port", l.Name), zap.Bool("router", on), zap.Error(err))
	}
}

// releasePort gives a port that configuration fixed back to the
// kernel's default, as the port closes; the port may be gone already.
func (b *bridgeKernel) releasePort(l bridge.Link) {
	if _, fixed := b.settings.KernelRouterMode(l.Name); fixed {
		_ = b.k.SetPortRouter(l.Index, bridge.PortRouterLearned)
	}
}
