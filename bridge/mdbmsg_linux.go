package bridge

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The MDB path's netlink messages, in one place for Dump, MDBBatch,
// ProbeSourceLists and MDBWatcher: dialMDB opens their socket, mdbReq.encode
// is the one encoder of an entry message, ackError the one reader of the
// kernel's refusals, parseMDBMessage the one parser of dumped or announced
// entries.

// MDB netlink numbers from include/uapi/linux/if_bridge.h, which
// golang.org/x/sys/unix lacks (it has the RTM_* message types).
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
	mdbeAttrGroupMode = 3 // u8 MCAST_EXCLUDE / MCAST_INCLUDE
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

// dialMDB opens an rtnetlink socket in the calling thread's network
// namespace, joined to groups (a bitmask, 0 for none). Extended acks are on
// so that refusals carry the kernel's text; NETLINK_CAP_ACK stays off, as
// the library reads no text after a capped echo of the request.
func dialMDB(groups uint32) (*netlink.Conn, error) {
	// A buffer of our own for each datagram spares the library a peek
	// (a system call) to size one. No MDB datagram is near 64 KiB: the
	// kernel fills dump datagrams to 32 KiB at most, an ack echoes one
	// request, a notification carries one entry.
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{Groups: groups, MessageBufferSize: 64 << 10})
	if err != nil {
		return nil, fmt.Errorf("open rtnetlink socket: %w", err)
	}
	if err := c.SetOption(netlink.ExtendedAcknowledge, true); err != nil {
		c.Close()
		return nil, fmt.Errorf("rtnetlink: enable extended acks: %w", err)
	}
	return c, nil
}

// setReadBuffer sizes c's receive queue, past net.core.rmem_max when the
// process may (SO_RCVBUFFORCE): a join storm's answers and notifications
// must fit, or they are lost.
func setReadBuffer(c *netlink.Conn, bytes int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, bytes)
	}); err != nil {
		return err
	}
	if serr != nil {
		return c.SetReadBuffer(bytes)
	}
	return nil
}

// mdbReq is one RTM_NEWMDB or RTM_DELMDB request.
type mdbReq struct {
	op      string // "replace", "add" or "delete" for error messages; "" leaves errors bare
	typ     netlink.HeaderType
	flags   netlink.HeaderFlags
	e       Entry        // the bridge, struct br_mdb_entry and MDBE_ATTR_SOURCE
	mode    bool         // send e.Mode as MDBE_ATTR_GROUP_MODE
	sources []netip.Addr // MDBE_ATTR_SRC_LIST, if any
	proto   uint8        // MDBE_ATTR_RTPROT; 0: none
}

// replaceReq is what MDBBatch.Replace sends: NLM_F_REPLACE, the filter
// mode and source list when the entry has them, and the protocol unless it
// is a host join (the kernel refuses a protocol on those).
func replaceReq(e Entry) (mdbReq, error) {
	sources, err := e.sourceList()
	if err != nil {
		return mdbReq{}, fmt.Errorf("mdb replace %s: %w", e, err)
	}
	r := mdbReq{op: "replace", typ: unix.RTM_NEWMDB, flags: netlink.Create | netlink.Replace, e: e,
		mode: len(sources) > 0 || e.Mode == ModeInclude, sources: sources}
	if e.Port != e.Bridge {
		r.proto = e.Proto
		if r.proto == 0 {
			r.proto = DefaultProto
		}
	}
	return r, nil
}

// deleteReq is what MDBBatch.Delete sends: the entry, and its source.
func deleteReq(e Entry) mdbReq {
	return mdbReq{op: "delete", typ: unix.RTM_DELMDB, e: e}
}

// encode appends r's message to buf and returns it, its Data a slice of
// buf: struct br_port_msg (family AF_BRIDGE, or the kernel finds no MDB
// handler: EOPNOTSUPP), MDBA_SET_ENTRY, and the MDBA_SET_ENTRY_ATTRS nest
// when there is something to put in it. The kernel parses that nest
// strictly: every nest needs NLA_F_NESTED (EINVAL "NLA_F_NESTED is
// missing"). The attributes are appended here rather than with the
// library's AttributeEncoder, which allocates per attribute: a join storm
// encodes thousands of entries, and the batch writer reuses buf.
func (r mdbReq) encode(buf []byte) (netlink.Message, []byte, error) {
	entry, err := r.e.marshal()
	if err != nil {
		return netlink.Message{}, buf, r.wrap(err)
	}
	off := len(buf)
	a := attrAppender{b: buf}
	a.b = append(a.b, unix.AF_BRIDGE, 0, 0, 0)
	a.b = binary.NativeEndian.AppendUint32(a.b, uint32(r.e.Bridge))
	a.attr(mdbaSetEntry, entry)
	src := r.e.Source.Unmap()
	if src.IsValid() || r.mode || r.proto != 0 {
		attrs := a.nest(mdbaSetAttrs)
		if src.IsValid() {
			a.attr(mdbeAttrSource, src.AsSlice())
		}
		if r.mode {
			a.attr(mdbeAttrGroupMode, []byte{uint8(r.e.Mode)})
		}
		if len(r.sources) > 0 {
			list := a.nest(mdbeAttrSrcList)
			for _, s := range r.sources {
				se := a.nest(mdbeSrcListEntry)
				a.attr(mdbeSrcAttrAddress, s.AsSlice())
				a.end(se)
			}
			a.end(list)
		}
		if r.proto != 0 {
			a.attr(mdbeAttrRTProt, []byte{r.proto})
		}
		a.end(attrs)
	}
	return netlink.Message{
		Header: netlink.Header{Type: r.typ, Flags: netlink.Request | r.flags},
		Data:   a.b[off:len(a.b):len(a.b)],
	}, a.b, nil
}

// attrAppender appends netlink attributes to b, each padded to 4 bytes.
type attrAppender struct{ b []byte }

func (a *attrAppender) attr(typ uint16, v []byte) {
	a.b = binary.NativeEndian.AppendUint16(a.b, uint16(unix.SizeofRtAttr+len(v)))
	a.b = binary.NativeEndian.AppendUint16(a.b, typ)
	a.b = append(a.b, v...)
	for len(a.b)%4 != 0 {
		a.b = append(a.b, 0)
	}
}

// nest opens a nested attribute (NLA_F_NESTED); end closes it.
func (a *attrAppender) nest(typ uint16) int {
	off := len(a.b)
	a.b = binary.NativeEndian.AppendUint16(a.b, 0)
	a.b = binary.NativeEndian.AppendUint16(a.b, typ|unix.NLA_F_NESTED)
	return off
}

func (a *attrAppender) end(off int) {
	binary.NativeEndian.PutUint16(a.b[off:], uint16(len(a.b)-off))
}

// wrap puts a kernel error for r in the terms of its operation: E2BIG is
// ErrHashMax, and a bare EINVAL to a delete is ErrNotFound (every other
// EINVAL on that path carries an extack text; a missing entry, or a wrong
// port, does not).
func (r mdbReq) wrap(err error) error {
	switch {
	case r.op == "":
		return err
	case r.op == "delete" && errors.Is(err, unix.EINVAL) && !hasExtack(err):
		return fmt.Errorf("mdb delete %s: %w (%w)", r.e, ErrNotFound, err)
	case r.typ == unix.RTM_NEWMDB && errors.Is(err, unix.EEXIST):
		return fmt.Errorf("mdb %s %s: %w (%w)", r.op, r.e, ErrExists, err)
	case errors.Is(err, unix.E2BIG):
		return fmt.Errorf("mdb %s %s: %w (%w)", r.op, r.e, ErrHashMax, err)
	}
	return fmt.Errorf("mdb %s %s: %w", r.op, r.e, err)
}

// kernelError is the kernel's refusal of a request: the errno, for
// errors.Is, and the extended-ack text, if it sent one.
type kernelError struct {
	errno syscall.Errno
	text  string
}

func (e *kernelError) Error() string {
	if e.text == "" {
		return e.errno.Error()
	}
	return e.errno.Error() + ": " + e.text
}

func (e *kernelError) Unwrap() error { return e.errno }

// hasExtack reports whether err is a refusal that came with the kernel's
// text.
func hasExtack(err error) bool {
	var ke *kernelError
	return errors.As(err, &ke) && ke.text != ""
}

// ackError reads an error from Conn.Receive or Conn.Execute. The library
// parses each NLMSG_ERROR answer (errno, and the NLMSGERR_ATTR_MSG text
// after the echoed request) into a *netlink.OpError whose Err is the bare
// errno; ackError turns that into a *kernelError with the sequence number
// of the request it answers. Any other error (the socket's, a deadline, a
// malformed answer) gives ok false.
func ackError(err error) (ke *kernelError, seq uint32, ok bool) {
	var oe *netlink.OpError
	if !errors.As(err, &oe) {
		return nil, 0, false
	}
	errno, isAck := oe.Err.(syscall.Errno)
	if !isAck {
		return nil, 0, false
	}
	return &kernelError{errno: errno, text: oe.Message}, oe.Sequence, true
}

// kernelErr is err as ackError reads it: a refusal as a *kernelError,
// anything else unchanged.
func kernelErr(err error) error {
	if ke, _, ok := ackError(err); ok {
		return ke
	}
	return err
}

// parseMDBMessage decodes one RTM_GETMDB dump message, or RTM_NEWMDB /
// RTM_DELMDB notification, keeping only bridgeIndex's port entries.
func parseMDBMessage(msg []byte, bridgeIndex int) ([]Entry, []RouterPort, error) {
	if len(msg) < brPortMsgLen {
		return nil, nil, fmt.Errorf("mdb message too short: %d bytes", len(msg))
	}
	br := int(binary.NativeEndian.Uint32(msg[4:8]))
	if br != bridgeIndex {
		return nil, nil, nil
	}
	var (
		entries []Entry
		routers []RouterPort
	)
	err := decode(msg[brPortMsgLen:], func(ad *netlink.AttributeDecoder) error {
		switch ad.Type() {
		case mdbaMDB:
			ad.Nested(func(ad *netlink.AttributeDecoder) error {
				for ad.Next() {
					if ad.Type() != mdbaMDBEntry {
						continue
					}
					ad.Nested(func(ad *netlink.AttributeDecoder) error {
						for ad.Next() {
							if ad.Type() != mdbaEntryInfo {
								continue
							}
							ad.Do(func(b []byte) error {
								e, ok, err := parseEntryInfo(b, br)
								if ok {
									entries = append(entries, e)
								}
								return err
							})
						}
						return nil
					})
				}
				return nil
			})
		case mdbaRouter:
			ad.Nested(func(ad *netlink.AttributeDecoder) error {
				for ad.Next() {
					if ad.Type() != mdbaRouterPrt {
						continue
					}
					ad.Do(func(b []byte) error {
						r, err := parseRouterPort(b, br)
						routers = append(routers, r)
						return err
					})
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("bridge %d: %w", br, err)
	}
	return entries, routers, nil
}

// decode calls f for each attribute in b (none is fine) and returns the
// first error, f's or the decoder's.
func decode(b []byte, f func(ad *netlink.AttributeDecoder) error) error {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return err
	}
	for ad.Next() {
		if err := f(ad); err != nil {
			return err
		}
	}
	return ad.Err()
}

// parseEntryInfo decodes MDBA_MDB_ENTRY_INFO: a raw struct br_mdb_entry
// followed by MDBA_MDB_EATTR_* attributes. ok is false for entries Dump
// leaves out (host joins, L2).
func parseEntryInfo(b []byte, br int) (e Entry, ok bool, err error) {
	if len(b) < mdbEntryLen {
		return e, false, fmt.Errorf("MDBA_MDB_ENTRY_INFO too short: %d bytes", len(b))
	}
	ne := binary.NativeEndian
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
	err = decode(b[mdbEntryLen:], func(ad *netlink.AttributeDecoder) error {
		switch ad.Type() {
		case mdbaEattrTimer:
			e.Timer = centis(uint64(ad.Uint32()))
		case mdbaEattrSource:
			ad.Do(func(b []byte) error {
				e.Source, _ = netip.AddrFromSlice(b)
				return nil
			})
		case mdbaEattrRTProt:
			e.Proto = ad.Uint8()
		case mdbaEattrGroupMode:
			e.Mode = FilterMode(ad.Uint8())
		case mdbaEattrSrcList:
			ad.Nested(func(ad *netlink.AttributeDecoder) error {
				e.Sources = parseSourceList(ad)
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return e, false, fmt.Errorf("entry %s: %w", e.Group, err)
	}
	return e, e.Port != br, nil
}

// parseSourceList decodes the MDBA_MDB_SRCLIST_ENTRY nests of
// MDBA_MDB_EATTR_SRC_LIST into sorted addresses.
func parseSourceList(ad *netlink.AttributeDecoder) []netip.Addr {
	var out []netip.Addr
	for ad.Next() {
		if ad.Type() != mdbaSrcListEntry {
			continue
		}
		ad.Nested(func(ad *netlink.AttributeDecoder) error {
			for ad.Next() {
				if ad.Type() != mdbaSrcAttrAddress {
					continue
				}
				ad.Do(func(b []byte) error {
					if ip, ok := netip.AddrFromSlice(b); ok {
						out = append(out, ip)
					}
					return nil
				})
			}
			return nil
		})
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func parseRouterPort(b []byte, br int) (RouterPort, error) {
	r := RouterPort{Bridge: br}
	if len(b) < 4 {
		return r, fmt.Errorf("MDBA_ROUTER_PORT too short: %d bytes", len(b))
	}
	r.Port = int(binary.NativeEndian.Uint32(b))
	err := decode(b[4:], func(ad *netlink.AttributeDecoder) error {
		switch ad.Type() {
		case mdbaRouterPattrTimer:
			r.Timer = centis(uint64(ad.Uint32()))
		case mdbaRouterPattrType:
			r.Type = ad.Uint8()
		case mdbaRouterPattrInetTimer:
			r.IPv4 = true
		case mdbaRouterPattrInet6Timer:
			r.IPv6 = true
		case mdbaRouterPattrVID:
			r.VID = ad.Uint16()
		}
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("router port %d: %w", r.Port, err)
	}
	return r, nil
}

// requestDeadline is when an exchange started now must have its answers.
func requestDeadline() time.Time { return time.Now().Add(requestTimeout) }
