package bridge

import (
	"errors"
	"fmt"
	"time"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// ReadOptions reads the multicast options of the bridge with ifindex
// bridgeIndex.
func ReadOptions(bridgeIndex int) (Options, error) {
	r, err := openRTNL()
	if err != nil {
		return Options{}, fmt.Errorf("read options of bridge %d: %w", bridgeIndex, err)
	}
	defer r.close()
	m, err := r.getLink(bridgeIndex)
	if err != nil {
		return Options{}, fmt.Errorf("read options of bridge %d: %w", bridgeIndex, err)
	}
	if m.kind != "bridge" {
		return Options{}, fmt.Errorf("read options of link %d (%s): %w", bridgeIndex, m.link.Name, ErrNotBridge)
	}
	if m.opts == nil {
		return Options{}, fmt.Errorf("read options of bridge %d: kernel sent no IFLA_INFO_DATA", bridgeIndex)
	}
	return *m.opts, nil
}

// SetMembershipInterval sets the bridge's mcast_membership_interval, the
// lifetime the kernel gives TEMPORARY MDB entries when they are added or
// replaced. The kernel keeps it in centiseconds; d is rounded to that.
func SetMembershipInterval(bridgeIndex int, d time.Duration) error {
	return setBridgeInterval(bridgeIndex, "membership interval", unix.IFLA_BR_MCAST_MEMBERSHIP_INTVL, d)
}

// SetQuerierInterval sets the bridge's mcast_querier_interval: how long
// the kernel believes in a querier it heard (and so prunes by the MDB
// rather than flooding) after its last query.
func SetQuerierInterval(bridgeIndex int, d time.Duration) error {
	return setBridgeInterval(bridgeIndex, "querier interval", unix.IFLA_BR_MCAST_QUERIER_INTVL, d)
}

// setBridgeInterval sets a bridge option the kernel keeps in
// centiseconds, d rounded to that.
func setBridgeInterval(bridgeIndex int, what string, attr int, d time.Duration) error {
	cs := (d + 5*time.Millisecond) / (10 * time.Millisecond)
	if cs < 1 {
		return fmt.Errorf("set %s of bridge %d: %v is below the kernel's 10ms resolution", what, bridgeIndex, d)
	}
	return setBridgeOption(bridgeIndex, what, attr, nl.Uint64Attr(uint64(cs)))
}

// SetIGMPVersion sets the bridge's mcast_igmp_version, 2 or 3. With 3 the
// kernel forwards IPv4 multicast by (S,G) entries first and honours the
// filter mode and source lists of (*,G) entries; its own queries become
// IGMPv3.
func SetIGMPVersion(bridgeIndex int, v uint8) error {
	if v != 2 && v != 3 {
		return fmt.Errorf("set IGMP version of bridge %d: version %d is not 2 or 3", bridgeIndex, v)
	}
	return setBridgeOption(bridgeIndex, "IGMP version", unix.IFLA_BR_MCAST_IGMP_VERSION, []byte{v})
}

// SetMLDVersion sets the bridge's mcast_mld_version, 1 or 2: for IPv6 what
// SetIGMPVersion's 2 and 3 are for IPv4.
func SetMLDVersion(bridgeIndex int, v uint8) error {
	if v != 1 && v != 2 {
		return fmt.Errorf("set MLD version of bridge %d: version %d is not 1 or 2", bridgeIndex, v)
	}
	return setBridgeOption(bridgeIndex, "MLD version", unix.IFLA_BR_MCAST_MLD_VERSION, []byte{v})
}

// setBridgeOption changes one IFLA_BR_* attribute with RTM_NEWLINK;
// vishvananda/netlink only exposes mcast_snooping.
func setBridgeOption(bridgeIndex int, what string, attr int, value []byte) error {
	r, err := openRTNL()
	if err != nil {
		return fmt.Errorf("set %s of bridge %d: %w", what, bridgeIndex, err)
	}
	defer r.close()
	err = r.execute(func() *nl.NetlinkRequest {
		req := r.request(unix.RTM_NEWLINK, unix.NLM_F_ACK)
		msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
		msg.Index = int32(bridgeIndex)
		req.AddData(msg)
		// The kind must be given and match, or the kernel refuses the
		// IFLA_INFO_DATA (and would not know how to parse it).
		info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
		info.AddRtAttr(unix.IFLA_INFO_KIND, nl.NonZeroTerminated("bridge"))
		data := info.AddRtAttr(unix.IFLA_INFO_DATA, nil)
		data.AddRtAttr(attr, value)
		req.AddData(info)
		return req
	}, 0, func([]byte) {})
	if errors.Is(err, unix.EOPNOTSUPP) {
		// The kernel's answer when the link's kind is not "bridge".
		return fmt.Errorf("set %s of link %d: %w (%w)", what, bridgeIndex, ErrNotBridge, err)
	}
	if errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("set %s of link %d: %w (%w)", what, bridgeIndex, ErrNoLink, err)
	}
	if err != nil {
		return fmt.Errorf("set %s of bridge %d: %w", what, bridgeIndex, err)
	}
	return nil
}
