package bridge

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Numbers golang.org/x/sys/unix lacks (it has the IFLA_*, RTM_* and
// NLM_F_* ones).
const (
	ifOperUp = 6 // IF_OPER_UP, RFC 2863 operational status

	nlaTypeMask = 0x3fff // NLA_TYPE_MASK: strips NLA_F_NESTED and NLA_F_NET_BYTEORDER

	// requestTimeout bounds one netlink request/response exchange, so a
	// lost reply cannot hang the daemon (the kernel answers in microseconds).
	requestTimeout = 10 * time.Second
)

// rtnl is one NETLINK_ROUTE socket. nl.NetlinkRequest serialises requests
// on it with the socket's mutex and matches replies by sequence number, so
// it is safe for concurrent use.
type rtnl struct {
	sh *nl.SocketHandle
}

// openRTNL opens a NETLINK_ROUTE socket in the calling thread's network
// namespace, with extended acks on so kernel error strings come back.
// (Setting it per socket avoids nl.EnableErrorMessageReporting, which is a
// package-level variable.)
func openRTNL() (*rtnl, error) {
	s, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open rtnetlink socket: %w", err)
	}
	tv := unix.NsecToTimeval(requestTimeout.Nanoseconds())
	if err := s.SetExtAck(true); err != nil {
		s.Close()
		return nil, fmt.Errorf("rtnetlink: enable extended acks: %w", err)
	}
	_ = s.SetSendTimeout(&tv)    // cannot fail: stores a value
	_ = s.SetReceiveTimeout(&tv) // cannot fail: stores a value
	return &rtnl{sh: &nl.SocketHandle{Socket: s}}, nil
}

func (r *rtnl) close() { r.sh.Close() }

// request builds a request bound to this socket.
func (r *rtnl) request(typ, flags int) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(typ, flags)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: r.sh}
	return req
}

// execute runs req and calls f with the payload of every reply of type
// resType (0: all). Dumps interrupted by concurrent changes are retried, so
// f may see the same data again: it must restart its accumulation when
// called with a nil message (sent before each retry).
func (r *rtnl) execute(newReq func() *nl.NetlinkRequest, resType uint16, f func(msg []byte)) error {
	const attempts = 5
	var err error
	for range attempts {
		f(nil)
		err = newReq().ExecuteIter(unix.NETLINK_ROUTE, resType, func(msg []byte) bool {
			f(msg)
			return true
		})
		if !errors.Is(err, nl.ErrDumpInterrupted) {
			return err
		}
	}
	return fmt.Errorf("dump interrupted %d times by concurrent changes: %w", attempts, err)
}

// attrs parses netlink attributes, tolerating none.
func attrs(b []byte) ([]syscall.NetlinkRouteAttr, error) {
	if len(b) == 0 {
		return nil, nil
	}
	return nl.ParseRouteAttr(b)
}

func u8(b []byte) (uint8, bool) {
	if len(b) < 1 {
		return 0, false
	}
	return b[0], true
}

func u32(b []byte) (uint32, bool) {
	if len(b) < 4 {
		return 0, false
	}
	return nl.NativeEndian().Uint32(b), true
}

func u64(b []byte) (uint64, bool) {
	if len(b) < 8 {
		return 0, false
	}
	return nl.NativeEndian().Uint64(b), true
}

// Bridge intervals are clock_t in USER_HZ (100) units: centiseconds.
func centis(cs uint64) time.Duration { return time.Duration(cs) * 10 * time.Millisecond }

// linkMsg is a parsed RTM_NEWLINK/RTM_DELLINK message.
type linkMsg struct {
	family uint8
	link   Link
	kind   string // IFLA_INFO_KIND, e.g. "bridge", "veth"
	// opts holds the bridge options when kind is "bridge" and the message
	// carried IFLA_INFO_DATA.
	opts *Options
	// hasState says link.State was in the message: IFLA_BRPORT_STATE in
	// IFLA_INFO_SLAVE_DATA of a bridge port (generic messages) or in
	// IFLA_PROTINFO (the bridge's own AF_BRIDGE messages about its ports).
	hasState bool
	// peerIndex is IFLA_LINK: a veth's peer's ifindex, in the namespace
	// netnsID names (IFLA_LINK_NETNSID) when hasNetnsID, else in this one.
	peerIndex  int
	netnsID    int
	hasNetnsID bool
	// hasToUcast says link.MulticastToUnicast was in the message
	// (IFLA_BRPORT_MCAST_TO_UCAST, beside the STP state).
	hasToUcast bool
}

// parseLinkMsg decodes an ifinfomsg and the attributes that matter here.
func parseLinkMsg(b []byte) (linkMsg, error) {
	var m linkMsg
	if len(b) < unix.SizeofIfInfomsg {
		return m, fmt.Errorf("link message too short: %d bytes", len(b))
	}
	m.family = b[0]
	m.link.Index = int(int32(nl.NativeEndian().Uint32(b[4:8])))
	flags := nl.NativeEndian().Uint32(b[8:12])
	running := flags&unix.IFF_RUNNING != 0
	as, err := attrs(b[unix.SizeofIfInfomsg:])
	if err != nil {
		return m, fmt.Errorf("link %d: %w", m.link.Index, err)
	}
	operUp := false
	for _, a := range as {
		switch a.Attr.Type & nlaTypeMask {
		case unix.IFLA_IFNAME:
			m.link.Name = unix.ByteSliceToString(a.Value)
		case unix.IFLA_ADDRESS:
			m.link.MAC = net.HardwareAddr(append([]byte(nil), a.Value...))
		case unix.IFLA_MASTER:
			if v, ok := u32(a.Value); ok {
				m.link.MasterIndex = int(v)
			}
		case unix.IFLA_OPERSTATE:
			if v, ok := u8(a.Value); ok {
				operUp = v == ifOperUp
			}
		case unix.IFLA_LINK:
			if v, ok := u32(a.Value); ok {
				m.peerIndex = int(int32(v))
			}
		case unix.IFLA_LINK_NETNSID:
			if v, ok := u32(a.Value); ok {
				m.netnsID, m.hasNetnsID = int(int32(v)), true
			}
		case unix.IFLA_LINKINFO:
			if err := m.parseLinkInfo(a.Value); err != nil {
				return m, fmt.Errorf("link %d: %w", m.link.Index, err)
			}
		case unix.IFLA_PROTINFO:
			// Other families (AF_INET6) put their own attributes here.
			if m.family != unix.AF_BRIDGE {
				continue
			}
			if err := m.parsePortAttrs(a.Value); err != nil {
				return m, fmt.Errorf("link %d: IFLA_PROTINFO: %w", m.link.Index, err)
			}
		}
	}
	m.link.Up = operUp || running
	return m, nil
}

func (m *linkMsg) parseLinkInfo(b []byte) error {
	as, err := attrs(b)
	if err != nil {
		return fmt.Errorf("IFLA_LINKINFO: %w", err)
	}
	var data, slaveData []byte
	slaveKind := ""
	for _, a := range as {
		switch a.Attr.Type & nlaTypeMask {
		case unix.IFLA_INFO_KIND:
			m.kind = unix.ByteSliceToString(a.Value)
		case unix.IFLA_INFO_DATA:
			data = a.Value
		case unix.IFLA_INFO_SLAVE_KIND:
			slaveKind = unix.ByteSliceToString(a.Value)
		case unix.IFLA_INFO_SLAVE_DATA:
			slaveData = a.Value
		}
	}
	// A bridge port: its IFLA_BRPORT_* attributes.
	if slaveKind == "bridge" && slaveData != nil {
		if err := m.parsePortAttrs(slaveData); err != nil {
			return fmt.Errorf("IFLA_INFO_SLAVE_DATA: %w", err)
		}
	}
	if m.kind != "bridge" || data == nil {
		return nil
	}
	o, err := parseBridgeOptions(data)
	if err != nil {
		return err
	}
	m.opts = &o
	return nil
}

// parsePortAttrs decodes the IFLA_BRPORT_* attributes of a bridge port that
// matter here: its STP state and its mcast_to_unicast flag.
func (m *linkMsg) parsePortAttrs(b []byte) error {
	as, err := attrs(b)
	if err != nil {
		return err
	}
	for _, a := range as {
		switch a.Attr.Type & nlaTypeMask {
		case unix.IFLA_BRPORT_STATE:
			if v, ok := u8(a.Value); ok {
				m.link.State, m.hasState = STPState(v), true
			}
		case unix.IFLA_BRPORT_MCAST_TO_UCAST:
			if v, ok := u8(a.Value); ok {
				m.link.MulticastToUnicast, m.hasToUcast = v != 0, true
			}
		}
	}
	return nil
}

// parseBridgeOptions decodes the IFLA_BR_* attributes of IFLA_INFO_DATA.
func parseBridgeOptions(b []byte) (Options, error) {
	var o Options
	as, err := attrs(b)
	if err != nil {
		return o, fmt.Errorf("IFLA_INFO_DATA: %w", err)
	}
	for _, a := range as {
		v := a.Value
		switch a.Attr.Type & nlaTypeMask {
		case unix.IFLA_BR_MCAST_SNOOPING:
			x, _ := u8(v)
			o.Snooping = x != 0
		case unix.IFLA_BR_VLAN_FILTERING:
			x, _ := u8(v)
			o.VLANFiltering = x != 0
		case unix.IFLA_BR_MCAST_QUERIER:
			x, _ := u8(v)
			o.Querier = x != 0
		case unix.IFLA_BR_MCAST_HASH_MAX:
			o.HashMax, _ = u32(v)
		case unix.IFLA_BR_MCAST_MEMBERSHIP_INTVL:
			x, _ := u64(v)
			o.MembershipInterval = centis(x)
		case unix.IFLA_BR_MCAST_QUERIER_INTVL:
			x, _ := u64(v)
			o.QuerierInterval = centis(x)
		case unix.IFLA_BR_MCAST_QUERY_INTVL:
			x, _ := u64(v)
			o.QueryInterval = centis(x)
		case unix.IFLA_BR_MCAST_QUERY_RESPONSE_INTVL:
			x, _ := u64(v)
			o.QueryResponseInterval = centis(x)
		case unix.IFLA_BR_MCAST_IGMP_VERSION:
			o.IGMPVersion, _ = u8(v)
		case unix.IFLA_BR_MCAST_MLD_VERSION:
			o.MLDVersion, _ = u8(v)
		}
	}
	return o, nil
}

// dumpLinks lists every link in the socket's namespace.
func (r *rtnl) dumpLinks() ([]linkMsg, error) {
	var links []linkMsg
	var perr error
	err := r.execute(func() *nl.NetlinkRequest {
		req := r.request(unix.RTM_GETLINK, unix.NLM_F_DUMP)
		req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
		return req
	}, unix.RTM_NEWLINK, func(msg []byte) {
		if msg == nil {
			links, perr = links[:0], nil
			return
		}
		m, err := parseLinkMsg(msg)
		if err != nil {
			perr = err
			return
		}
		links = append(links, m)
	})
	if err != nil {
		return nil, fmt.Errorf("dump links: %w", err)
	}
	if perr != nil {
		return nil, fmt.Errorf("dump links: %w", perr)
	}
	return links, nil
}

// getLink fetches one link by index.
func (r *rtnl) getLink(index int) (linkMsg, error) { return r.getLinkIn(-1, index) }

// getLinkIn fetches one link by index in the namespace whose id (as seen
// from the socket's) is nsid, or in the socket's own when nsid < 0.
func (r *rtnl) getLinkIn(nsid, index int) (linkMsg, error) {
	var m linkMsg
	var perr error
	got := false
	err := r.execute(func() *nl.NetlinkRequest {
		req := r.request(unix.RTM_GETLINK, 0)
		msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
		msg.Index = int32(index)
		req.AddData(msg)
		if nsid >= 0 {
			req.AddData(nl.NewRtAttr(unix.IFLA_TARGET_NETNSID, nl.Uint32Attr(uint32(nsid))))
		}
		return req
	}, unix.RTM_NEWLINK, func(msg []byte) {
		if msg == nil {
			return
		}
		m, perr = parseLinkMsg(msg)
		got = true
	})
	if errors.Is(err, unix.ENODEV) {
		return m, fmt.Errorf("link %d: %w", index, ErrNoLink)
	}
	if err != nil {
		return m, fmt.Errorf("get link %d: %w", index, err)
	}
	if perr != nil {
		return m, fmt.Errorf("get link %d: %w", index, perr)
	}
	if !got {
		return m, fmt.Errorf("get link %d: no reply", index)
	}
	return m, nil
}

// addresses returns the first IPv4 address the kernel lists on a link and
// its first usable IPv6 link-local address (not one whose duplicate address
// detection failed).
func (r *rtnl) addresses(index int) (v4, v6 netip.Addr, err error) {
	err = r.execute(func() *nl.NetlinkRequest {
		req := r.request(unix.RTM_GETADDR, unix.NLM_F_DUMP)
		req.AddData(nl.NewIfAddrmsg(unix.AF_UNSPEC))
		return req
	}, unix.RTM_NEWADDR, func(msg []byte) {
		if msg == nil {
			v4, v6 = netip.Addr{}, netip.Addr{}
			return
		}
		if len(msg) < unix.SizeofIfAddrmsg || int(nl.NativeEndian().Uint32(msg[4:8])) != index {
			return
		}
		family, flags := msg[0], uint32(msg[2])
		as, err := attrs(msg[unix.SizeofIfAddrmsg:])
		if err != nil {
			return
		}
		// IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer
		// on point-to-point links, so prefer LOCAL when both are present.
		var local, addr netip.Addr
		for _, a := range as {
			switch a.Attr.Type & nlaTypeMask {
			case unix.IFA_LOCAL:
				if ip, ok := netip.AddrFromSlice(a.Value); ok {
					local = ip.Unmap()
				}
			case unix.IFA_ADDRESS:
				if ip, ok := netip.AddrFromSlice(a.Value); ok {
					addr = ip.Unmap()
				}
			case unix.IFA_FLAGS: // the full 32 flag bits; ifa_flags holds 8
				if v, ok := u32(a.Value); ok {
					flags = v
				}
			}
		}
		if local.IsValid() {
			addr = local
		}
		switch {
		case family == unix.AF_INET && addr.Is4() && !v4.IsValid():
			v4 = addr
		case family == unix.AF_INET6 && addr.Is6() && addr.IsLinkLocalUnicast() &&
			flags&unix.IFA_F_DADFAILED == 0 && !v6.IsValid():
			v6 = addr
		}
	})
	if err != nil {
		return netip.Addr{}, netip.Addr{}, fmt.Errorf("dump addresses: %w", err)
	}
	return v4, v6, nil
}
