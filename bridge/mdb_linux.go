package bridge

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// MDB netlink numbers from include/uapi/linux/if_bridge.h (x/sys/unix has
// the message types but none of these). Layouts: research/kernel-mdb.md §1.
const (
	mdbaMDB       = 1 // dump: nest of MDBA_MDB_ENTRY
	mdbaRouter    = 2 // dump: nest of MDBA_ROUTER_PORT
	mdbaSetEntry  = 1 // request: struct br_mdb_entry
	mdbaSetAttrs  = 2 // request: nest (NLA_F_NESTED mandatory) of MDBE_ATTR_*
	mdbaMDBEntry  = 1 // nest of MDBA_MDB_ENTRY_INFO
	mdbaEntryInfo = 1 // struct br_mdb_entry followed by MDBA_MDB_EATTR_*
	mdbaRouterPrt = 1 // u32 ifindex followed by MDBA_ROUTER_PATTR_*

	mdbeAttrSource    = 1
	mdbeAttrSrcList   = 2 // nest (NLA_F_NESTED) of MDBE_SRC_LIST_ENTRY
	mdbeAttrGroupMode = 3 // u8 MCAST_EXCLUDE 0 / MCAST_INCLUDE 1
	mdbeAttrRTProt    = 4

	mdbeSrcListEntry   = 1 // nest (NLA_F_NESTED) of MDBE_SRCATTR_*
	mdbeSrcAttrAddress = 1

	mdbaEattrTimer     = 1
	mdbaEattrSrcList   = 2 // nest of MDBA_MDB_SRCLIST_ENTRY
	mdbaEattrGroupMode = 3
	mdbaEattrSource    = 4
	mdbaEattrRTProt    = 5

	mdbaSrcListEntry   = 1 // nest of MDBA_MDB_SRCATTR_*
	mdbaSrcAttrAddress = 1

	mdbaRouterPattrTimer      = 1
	mdbaRouterPattrType       = 2
	mdbaRouterPattrInetTimer  = 3
	mdbaRouterPattrInet6Timer = 4
	mdbaRouterPattrVID        = 5

	mdbTemporary = 0
	mdbPermanent = 1

	brPortMsgLen = 8  // struct br_port_msg
	mdbEntryLen  = 28 // struct br_mdb_entry; the kernel wants exactly this
	maxVID       = 4094
)

// brPortMsg is struct br_port_msg: the family byte must be AF_BRIDGE or the
// kernel finds no MDB handler (EOPNOTSUPP).
type brPortMsg struct {
	ifindex uint32
}

func (m *brPortMsg) Len() int { return brPortMsgLen }

func (m *brPortMsg) Serialize() []byte {
	b := make([]byte, brPortMsgLen)
	b[0] = unix.AF_BRIDGE
	nl.NativeEndian().PutUint32(b[4:], m.ifindex)
	return b
}

// MDB is a client for the kernel bridge's multicast database over one
// rtnetlink socket, in the network namespace OpenMDB was called in. It is
// safe for concurrent use: requests are serialised on the socket.
type MDB struct {
	r *rtnl
}

// OpenMDB opens an MDB client in the calling thread's network namespace.
func OpenMDB() (*MDB, error) {
	r, err := openRTNL()
	if err != nil {
		return nil, fmt.Errorf("open mdb: %w", err)
	}
	return &MDB{r: r}, nil
}

// Close closes the socket.
func (m *MDB) Close() error {
	m.r.close()
	return nil
}

// replaceParts encodes what a replace of e sends: the entry, its source
// list and whether to send the filter mode, and the protocol to mark it with.
func (e Entry) replaceParts() (entry []byte, sources []netip.Addr, filter bool, proto uint8, err error) {
	if entry, err = e.marshal(); err != nil {
		return nil, nil, false, 0, fmt.Errorf("mdb replace %s: %w", e, err)
	}
	if sources, err = e.sourceList(); err != nil {
		return nil, nil, false, 0, fmt.Errorf("mdb replace %s: %w", e, err)
	}
	proto = e.Proto
	if proto == 0 {
		proto = DefaultProto
	}
	return entry, sources, len(sources) > 0 || e.Mode == ModeInclude, proto, nil
}

// Replace creates e, or refreshes it if the port already has it
// (NLM_F_REPLACE, kernel 6.2+): a temporary entry's timer restarts at the
// bridge's membership interval, and its state and proto are overwritten
// (taking over an entry the kernel learned). A host join (Port == Bridge)
// is sent without proto, which the kernel refuses for host joins.
//
// A (*,G) entry with Sources, or in ModeInclude, is sent with its filter
// mode and source list (kernel 6.2+, see ProbeSourceLists); a replace then
// swaps the whole list, restarting the timers of the sources it keeps. A
// temporary INCLUDE entry has no timer of its own: each source lives for
// the membership interval, and the entry goes with its last source. More
// than MaxSources sources give an error wrapping ErrTooManySources.
func (m *MDB) Replace(e Entry) error {
	entry, sources, filter, proto, err := e.replaceParts()
	if err != nil {
		return err
	}
	err = m.r.execute(func() *nl.NetlinkRequest {
		req := m.r.request(unix.RTM_NEWMDB, unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_REPLACE)
		req.AddData(&brPortMsg{ifindex: uint32(e.Bridge)})
		req.AddData(nl.NewRtAttr(mdbaSetEntry, entry))
		// The kernel parses this nest strictly: without NLA_F_NESTED it is
		// EINVAL "NLA_F_NESTED is missing" (also on the source list nests).
		as := nl.NewRtAttr(mdbaSetAttrs|unix.NLA_F_NESTED, nil)
		nested := false
		if e.Source.IsValid() {
			as.AddRtAttr(mdbeAttrSource, e.Source.Unmap().AsSlice())
			nested = true
		}
		if filter {
			as.AddRtAttr(mdbeAttrGroupMode, []byte{uint8(e.Mode)})
			list := as.AddRtAttr(mdbeAttrSrcList|unix.NLA_F_NESTED, nil)
			for _, src := range sources {
				se := list.AddRtAttr(mdbeSrcListEntry|unix.NLA_F_NESTED, nil)
				se.AddRtAttr(mdbeSrcAttrAddress, src.AsSlice())
			}
			nested = true
		}
		if e.Port != e.Bridge {
			as.AddRtAttr(mdbeAttrRTProt, []byte{proto})
			nested = true
		}
		if nested {
			req.AddData(as)
		}
		return req
	}, 0, func([]byte) {})
	if err != nil {
		return mdbError("replace", e, err)
	}
	return nil
}

// sourceList checks e's filter and returns its sources unmapped, without
// duplicates, in order of first appearance.
func (e Entry) sourceList() ([]netip.Addr, error) {
	if e.Mode != ModeExclude && e.Mode != ModeInclude {
		return nil, fmt.Errorf("unknown filter mode %d", e.Mode)
	}
	if len(e.Sources) == 0 && e.Mode == ModeExclude {
		return nil, nil
	}
	switch {
	case e.Source.IsValid():
		return nil, fmt.Errorf("an (S,G) entry cannot have a filter mode or source list")
	case e.Port == e.Bridge:
		return nil, fmt.Errorf("a host join cannot have a filter mode or source list")
	case len(e.Sources) == 0:
		return nil, fmt.Errorf("INCLUDE mode needs at least one source")
	}
	g := e.Group.Unmap()
	seen := make(map[netip.Addr]bool, len(e.Sources))
	out := make([]netip.Addr, 0, len(e.Sources))
	for _, s := range e.Sources {
		s = s.Unmap()
		switch {
		case !s.IsValid() || s.IsUnspecified():
			return nil, fmt.Errorf("source %v is not an address", s)
		case s.Is4() != g.Is4():
			return nil, fmt.Errorf("source %s and group %s are of different families", s, g)
		case s.IsMulticast():
			return nil, fmt.Errorf("source %s is a multicast address", s)
		case seen[s]:
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	if len(out) > MaxSources {
		return nil, fmt.Errorf("%d sources, the kernel takes at most %d: %w", len(out), MaxSources, ErrTooManySources)
	}
	return out, nil
}

// Delete removes e (matched by bridge, port, group, source and VID; state
// and proto are ignored). A missing entry gives an error wrapping
// ErrNotFound.
func (m *MDB) Delete(e Entry) error {
	entry, err := e.marshal()
	if err != nil {
		return fmt.Errorf("mdb delete %s: %w", e, err)
	}
	err = m.r.execute(func() *nl.NetlinkRequest {
		req := m.r.request(unix.RTM_DELMDB, unix.NLM_F_ACK)
		req.AddData(&brPortMsg{ifindex: uint32(e.Bridge)})
		req.AddData(nl.NewRtAttr(mdbaSetEntry, entry))
		if e.Source.IsValid() {
			as := nl.NewRtAttr(mdbaSetAttrs|unix.NLA_F_NESTED, nil)
			as.AddRtAttr(mdbeAttrSource, e.Source.Unmap().AsSlice())
			req.AddData(as)
		}
		return req
	}, 0, func([]byte) {})
	if err != nil {
		// Every other EINVAL on this path carries an extack message; a
		// missing entry (or wrong port) is a bare EINVAL.
		if errors.Is(err, unix.EINVAL) && !hasExtack(err) {
			return fmt.Errorf("mdb delete %s: %w (%w)", e, ErrNotFound, err)
		}
		return mdbError("delete", e, err)
	}
	return nil
}

// Dump returns the port entries of the bridge's MDB. Host joins (the bridge
// itself as member, e.g. its all-snoopers groups) and L2 (MAC) entries are
// left out. The (S,G) entries the kernel derives from (*,G) entries with
// source lists or in EXCLUDE mode are included, marked Child where they can
// be recognised (see Entry.Child); the sources of an entry are sorted.
func (m *MDB) Dump(bridgeIndex int) ([]Entry, error) {
	es, _, err := m.dump(bridgeIndex)
	return es, err
}

// RouterPorts returns the bridge's multicast router ports.
func (m *MDB) RouterPorts(bridgeIndex int) ([]RouterPort, error) {
	_, rs, err := m.dump(bridgeIndex)
	return rs, err
}

type mdbKey struct {
	port          int
	group, source netip.Addr
	vid           uint16
}

func (m *MDB) dump(bridgeIndex int) ([]Entry, []RouterPort, error) {
	var (
		entries []Entry
		routers []RouterPort
		seen    map[mdbKey]int
		perr    error
	)
	err := m.r.execute(func() *nl.NetlinkRequest {
		// Strict checking is off on this socket, so the ifindex is ignored and
		// every bridge in the namespace is dumped: filter below.
		req := m.r.request(unix.RTM_GETMDB, unix.NLM_F_DUMP)
		req.AddData(&brPortMsg{})
		return req
	}, unix.RTM_GETMDB, func(msg []byte) { // dump replies are type 86, not RTM_NEWMDB
		if msg == nil {
			entries, routers, seen, perr = nil, nil, map[mdbKey]int{}, nil
			return
		}
		es, rs, err := parseMDBMessage(msg, bridgeIndex)
		if err != nil {
			perr = err
			return
		}
		// A paginated dump can split one key's port groups over messages,
		// and in principle repeat one; keep one entry per key.
		for _, e := range es {
			k := mdbKey{e.Port, e.Group, e.Source, e.VID}
			if i, ok := seen[k]; ok {
				entries[i] = e
				continue
			}
			seen[k] = len(entries)
			entries = append(entries, e)
		}
		routers = append(routers, rs...)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("mdb dump: %w", err)
	}
	if perr != nil {
		return nil, nil, fmt.Errorf("mdb dump: %w", perr)
	}
	markChildren(entries)
	return entries, routers, nil
}

// markChildren sets Child on the (S,G) entries the kernel made from (*,G)
// entries: replicas of EXCLUDE ports, and the entries of listed sources.
func markChildren(entries []Entry) {
	type starKey struct {
		port  int
		group netip.Addr
		vid   uint16
	}
	listed := make(map[starKey][]netip.Addr)
	for _, e := range entries {
		if !e.Source.IsValid() && len(e.Sources) > 0 {
			listed[starKey{e.Port, e.Group, e.VID}] = e.Sources
		}
	}
	for i := range entries {
		e := &entries[i]
		if !e.Source.IsValid() {
			continue
		}
		if e.Flags&FlagStarExcl != 0 || slices.Contains(listed[starKey{e.Port, e.Group, e.VID}], e.Source) {
			e.Child = true
		}
	}
}

// parseMDBMessage decodes one RTM_GETMDB dump message (or RTM_NEWMDB /
// RTM_DELMDB notification), keeping only bridgeIndex's port entries.
func parseMDBMessage(msg []byte, bridgeIndex int) ([]Entry, []RouterPort, error) {
	if len(msg) < brPortMsgLen {
		return nil, nil, fmt.Errorf("mdb message too short: %d bytes", len(msg))
	}
	br := int(nl.NativeEndian().Uint32(msg[4:8]))
	if br != bridgeIndex {
		return nil, nil, nil
	}
	top, err := attrs(msg[brPortMsgLen:])
	if err != nil {
		return nil, nil, fmt.Errorf("bridge %d: %w", br, err)
	}
	var entries []Entry
	var routers []RouterPort
	for _, a := range top {
		inner, err := attrs(a.Value)
		if err != nil {
			return nil, nil, fmt.Errorf("bridge %d: %w", br, err)
		}
		switch a.Attr.Type & nlaTypeMask {
		case mdbaMDB:
			for _, me := range inner {
				if me.Attr.Type&nlaTypeMask != mdbaMDBEntry {
					continue
				}
				infos, err := attrs(me.Value)
				if err != nil {
					return nil, nil, fmt.Errorf("bridge %d: MDBA_MDB_ENTRY: %w", br, err)
				}
				for _, info := range infos {
					if info.Attr.Type&nlaTypeMask != mdbaEntryInfo {
						continue
					}
					e, ok, err := parseEntryInfo(info.Value, br)
					if err != nil {
						return nil, nil, fmt.Errorf("bridge %d: %w", br, err)
					}
					if ok {
						entries = append(entries, e)
					}
				}
			}
		case mdbaRouter:
			for _, rp := range inner {
				if rp.Attr.Type&nlaTypeMask != mdbaRouterPrt {
					continue
				}
				r, err := parseRouterPort(rp.Value, br)
				if err != nil {
					return nil, nil, fmt.Errorf("bridge %d: %w", br, err)
				}
				routers = append(routers, r)
			}
		}
	}
	return entries, routers, nil
}

// parseEntryInfo decodes MDBA_MDB_ENTRY_INFO: a raw struct br_mdb_entry
// followed by MDBA_MDB_EATTR_* attributes. ok is false for entries Dump
// leaves out (host joins, L2).
func parseEntryInfo(b []byte, br int) (e Entry, ok bool, err error) {
	if len(b) < mdbEntryLen {
		return e, false, fmt.Errorf("MDBA_MDB_ENTRY_INFO too short: %d bytes", len(b))
	}
	ne := nl.NativeEndian()
	e.Bridge = br
	e.Port = int(ne.Uint32(b[0:4]))
	e.Permanent = b[4] == mdbPermanent
	e.Flags = b[5]
	e.VID = ne.Uint16(b[6:8])
	switch binary.BigEndian.Uint16(b[24:26]) {
	case unix.ETH_P_IP:
		e.Group = netip.AddrFrom4([4]byte(b[8:12]))
	case unix.ETH_P_IPV6:
		e.Group = netip.AddrFrom16([16]byte(b[8:24]))
	default:
		return e, false, nil // L2 entry: not ours
	}
	as, err := attrs(b[mdbEntryLen:])
	if err != nil {
		return e, false, fmt.Errorf("entry %s: %w", e.Group, err)
	}
	for _, a := range as {
		switch a.Attr.Type & nlaTypeMask {
		case mdbaEattrTimer:
			if v, ok := u32(a.Value); ok {
				e.Timer = centis(uint64(v))
			}
		case mdbaEattrSource:
			if ip, ok := netip.AddrFromSlice(a.Value); ok {
				e.Source = ip
			}
		case mdbaEattrRTProt:
			e.Proto, _ = u8(a.Value)
		case mdbaEattrGroupMode:
			if v, ok := u8(a.Value); ok {
				e.Mode = FilterMode(v)
			}
		case mdbaEattrSrcList:
			if e.Sources, err = parseSourceList(a.Value); err != nil {
				return e, false, fmt.Errorf("entry %s: %w", e.Group, err)
			}
		}
	}
	return e, e.Port != br, nil
}

// parseSourceList decodes MDBA_MDB_EATTR_SRC_LIST into sorted addresses.
func parseSourceList(b []byte) ([]netip.Addr, error) {
	list, err := attrs(b)
	if err != nil {
		return nil, fmt.Errorf("MDBA_MDB_EATTR_SRC_LIST: %w", err)
	}
	var out []netip.Addr
	for _, le := range list {
		if le.Attr.Type&nlaTypeMask != mdbaSrcListEntry {
			continue
		}
		sas, err := attrs(le.Value)
		if err != nil {
			return nil, fmt.Errorf("MDBA_MDB_SRCLIST_ENTRY: %w", err)
		}
		for _, sa := range sas {
			if sa.Attr.Type&nlaTypeMask != mdbaSrcAttrAddress {
				continue
			}
			if ip, ok := netip.AddrFromSlice(sa.Value); ok {
				out = append(out, ip)
			}
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out, nil
}

func parseRouterPort(b []byte, br int) (RouterPort, error) {
	r := RouterPort{Bridge: br}
	idx, ok := u32(b)
	if !ok {
		return r, fmt.Errorf("MDBA_ROUTER_PORT too short: %d bytes", len(b))
	}
	r.Port = int(idx)
	as, err := attrs(b[4:])
	if err != nil {
		return r, fmt.Errorf("router port %d: %w", r.Port, err)
	}
	for _, a := range as {
		switch a.Attr.Type & nlaTypeMask {
		case mdbaRouterPattrTimer:
			if v, ok := u32(a.Value); ok {
				r.Timer = centis(uint64(v))
			}
		case mdbaRouterPattrType:
			r.Type, _ = u8(a.Value)
		case mdbaRouterPattrInetTimer:
			r.IPv4 = true
		case mdbaRouterPattrInet6Timer:
			r.IPv6 = true
		case mdbaRouterPattrVID:
			if len(a.Value) >= 2 {
				r.VID = nl.NativeEndian().Uint16(a.Value)
			}
		}
	}
	return r, nil
}

// marshal encodes struct br_mdb_entry: ifindex and vid in host order, the
// address in network order, addr.proto big-endian.
func (e Entry) marshal() ([]byte, error) {
	if e.Bridge <= 0 || e.Port <= 0 {
		return nil, fmt.Errorf("bridge and port ifindex must be set")
	}
	if e.VID > maxVID {
		return nil, fmt.Errorf("vid %d out of range", e.VID)
	}
	g := e.Group.Unmap()
	if !g.IsValid() {
		return nil, fmt.Errorf("no group address")
	}
	if s := e.Source.Unmap(); s.IsValid() && s.Is4() != g.Is4() {
		return nil, fmt.Errorf("source %s and group %s are of different families", s, g)
	}
	b := make([]byte, mdbEntryLen)
	ne := nl.NativeEndian()
	ne.PutUint32(b[0:4], uint32(e.Port))
	if e.Permanent {
		b[4] = mdbPermanent
	} else {
		b[4] = mdbTemporary
	}
	ne.PutUint16(b[6:8], e.VID)
	if g.Is4() {
		a := g.As4()
		copy(b[8:12], a[:])
		binary.BigEndian.PutUint16(b[24:26], unix.ETH_P_IP)
	} else {
		a := g.As16()
		copy(b[8:24], a[:])
		binary.BigEndian.PutUint16(b[24:26], unix.ETH_P_IPV6)
	}
	return b, nil
}

// mdbError wraps a kernel error, keeping the errno for errors.Is and the
// extack text (already in err's message), and explains E2BIG.
func mdbError(op string, e Entry, err error) error {
	if errors.Is(err, unix.E2BIG) {
		return fmt.Errorf("mdb %s %s: %w (%w)", op, e, ErrHashMax, err)
	}
	return fmt.Errorf("mdb %s %s: %w", op, e, err)
}

// ProbeSourceLists reports whether the kernel takes source lists and filter
// modes on MDB entries (MDBE_ATTR_SRC_LIST and MDBE_ATTR_GROUP_MODE, Linux
// 6.2+), without changing anything. It acts in the calling thread's network
// namespace; the bridge must be up with mcast_snooping on, or the kernel
// refuses before the point that tells, and an error is returned.
//
// The probe asks for something every kernel refuses: a PERMANENT host join
// (entry ifindex = the bridge) carrying MDBE_ATTR_GROUP_MODE. The kernels
// refuse it at different points, and the reason tells them apart:
//   - 6.2+ parse the entry attributes first and refuse a filter mode on a
//     host join: EINVAL "Filter mode cannot be set for host groups".
//   - 5.10-6.1 know MDBE_ATTR_SOURCE only and parse the nest strictly:
//     EINVAL for the unknown attribute type.
//   - Older kernels ignore the nest and refuse a host join with flags (or,
//     before host joins, an entry whose ifindex is no port): EINVAL.
//
// Nothing is ever created: each kernel rejects the request before it
// touches the MDB.
func ProbeSourceLists(bridgeIndex int) (bool, error) {
	r, err := openRTNL()
	if err != nil {
		return false, fmt.Errorf("probe mdb source lists on bridge %d: %w", bridgeIndex, err)
	}
	defer r.close()
	probe := Entry{Bridge: bridgeIndex, Port: bridgeIndex, Group: netip.AddrFrom4([4]byte{239, 255, 77, 77}), Permanent: true}
	entry, err := probe.marshal()
	if err != nil {
		return false, fmt.Errorf("probe mdb source lists on bridge %d: %w", bridgeIndex, err)
	}
	newReq := func() *nl.NetlinkRequest {
		req := r.request(unix.RTM_NEWMDB, unix.NLM_F_ACK)
		req.AddData(&brPortMsg{ifindex: uint32(bridgeIndex)})
		req.AddData(nl.NewRtAttr(mdbaSetEntry, entry))
		as := nl.NewRtAttr(mdbaSetAttrs|unix.NLA_F_NESTED, nil)
		as.AddRtAttr(mdbeAttrGroupMode, []byte{uint8(ModeInclude)})
		req.AddData(as)
		return req
	}
	err = r.execute(newReq, 0, func([]byte) {})
	switch {
	case err == nil:
		// No known kernel gets here. Undo the host join it made.
		_ = r.execute(func() *nl.NetlinkRequest {
			req := r.request(unix.RTM_DELMDB, unix.NLM_F_ACK)
			req.AddData(&brPortMsg{ifindex: uint32(bridgeIndex)})
			req.AddData(nl.NewRtAttr(mdbaSetEntry, entry))
			return req
		}, 0, func([]byte) {})
		return false, fmt.Errorf("probe mdb source lists on bridge %d: the kernel accepted a permanent host join with a filter mode", bridgeIndex)
	case errors.Is(err, unix.EINVAL) && strings.Contains(err.Error(), "Filter mode cannot be set for host groups"):
		return true, nil
	case errors.Is(err, unix.EINVAL) && (strings.Contains(err.Error(), "not running") || strings.Contains(err.Error(), "multicast processing is disabled")):
		return false, fmt.Errorf("probe mdb source lists on bridge %d: %w", bridgeIndex, err)
	case errors.Is(err, unix.EINVAL):
		return false, nil
	case errors.Is(err, unix.ENODEV):
		return false, fmt.Errorf("probe mdb source lists on bridge %d: %w (%w)", bridgeIndex, ErrNoLink, err)
	case errors.Is(err, unix.EOPNOTSUPP):
		return false, fmt.Errorf("probe mdb source lists on link %d: %w (%w)", bridgeIndex, ErrNotBridge, err)
	}
	return false, fmt.Errorf("probe mdb source lists on bridge %d: %w", bridgeIndex, err)
}
