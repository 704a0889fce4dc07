package bridge

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// MDB reads the kernel bridge's multicast database over one rtnetlink
// socket, in the network namespace OpenMDB was called in. It is safe for
// concurrent use: requests are serialised on the socket.
type MDB struct {
	mu sync.Mutex // one request and its answers at a time
	c  *netlink.Conn
	w  *MDBBatch // on c: the writes tests make one at a time
}

// OpenMDB opens an MDB client in the calling thread's network namespace.
func OpenMDB() (*MDB, error) {
	c, err := dialMDB(0)
	if err != nil {
		return nil, fmt.Errorf("open mdb: %w", err)
	}
	return &MDB{c: c, w: newMDBBatch(c)}, nil
}

// Close closes the socket.
func (m *MDB) Close() error { return m.c.Close() }

// replace writes e as MDBBatch.Replace does, and waits for the answer.
func (m *MDB) replace(e Entry) error {
	return m.write(m.w.Replace, e)
}

// delete removes e as MDBBatch.Delete does, and waits for the answer.
func (m *MDB) delete(e Entry) error {
	return m.write(m.w.Delete, e)
}

func (m *MDB) write(queue func(Entry) error, e Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := queue(e); err != nil {
		return err
	}
	return m.w.Flush()[0]
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

// Dump returns the port entries of the bridge's MDB. Host joins (the bridge
// itself as member, e.g. its all-snoopers groups) and L2 (MAC) entries are
// left out. The (S,G) entries the kernel derives from (*,G) entries with
// source lists or in EXCLUDE mode are included, marked Child where they can
// be recognised (see Entry.Child); the sources of an entry are sorted.
func (m *MDB) Dump(bridgeIndex int) ([]Entry, error) {
	es, _, err := m.dump(bridgeIndex)
	return es, err
}

// routerPorts returns the bridge's multicast router ports.
func (m *MDB) routerPorts(bridgeIndex int) ([]RouterPort, error) {
	_, rs, err := m.dump(bridgeIndex)
	return rs, err
}

type mdbKey struct {
	port          int
	group, source netip.Addr
	vid           uint16
}

// dump reads the whole MDB, again if a concurrent change of the
// namespace's links interrupted it (NLM_F_DUMP_INTR).
func (m *MDB) dump(bridgeIndex int) ([]Entry, []RouterPort, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Strict checking is off on this socket, so the ifindex is ignored and
	// every bridge in the namespace is dumped (with strict checking the
	// kernel refuses an ifindex in an MDB dump): filter below.
	req := netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETMDB, Flags: netlink.Request | netlink.Dump},
		Data:   []byte{unix.AF_BRIDGE, 0, 0, 0, 0, 0, 0, 0},
	}
	const attempts = 5
	for range attempts {
		if err := m.c.SetDeadline(requestDeadline()); err != nil {
			return nil, nil, fmt.Errorf("mdb dump: %w", err)
		}
		msgs, err := m.c.Execute(req)
		if err != nil {
			return nil, nil, fmt.Errorf("mdb dump: %w", kernelErr(err))
		}
		es, rs, interrupted, err := parseDump(msgs, bridgeIndex)
		if err != nil {
			return nil, nil, fmt.Errorf("mdb dump: %w", err)
		}
		if !interrupted {
			return es, rs, nil
		}
	}
	return nil, nil, fmt.Errorf("mdb dump: interrupted %d times by concurrent changes", attempts)
}

// parseDump gathers the entries and router ports of bridgeIndex from a
// dump's messages (type RTM_GETMDB, not RTM_NEWMDB).
func parseDump(msgs []netlink.Message, bridgeIndex int) (entries []Entry, routers []RouterPort, interrupted bool, err error) {
	seen := make(map[mdbKey]int)
	for _, msg := range msgs {
		if msg.Header.Flags&netlink.DumpInterrupted != 0 {
			interrupted = true
		}
		if msg.Header.Type != unix.RTM_GETMDB {
			continue
		}
		es, rs, err := parseMDBMessage(msg.Data, bridgeIndex)
		if err != nil {
			return nil, nil, false, err
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
	}
	markChildren(entries)
	return entries, routers, interrupted, nil
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
	ne := binary.NativeEndian
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
	probe := Entry{Bridge: bridgeIndex, Port: bridgeIndex, Group: netip.AddrFrom4([4]byte{239, 255, 77, 77}), Permanent: true, Mode: ModeInclude}
	return probeHostJoin("source lists", mdbReq{typ: unix.RTM_NEWMDB, e: probe, mode: true}, func(ke *kernelError) bool {
		return strings.Contains(ke.text, "Filter mode cannot be set for host groups")
	})
}
