package bridge

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/igmpsnoop/igmpsnoop/wire"
)

// PortConn is an AF_PACKET socket on one bridge port that reads the
// multicast control frames (IGMP, MLD, MRD, PIM; see portFilter) arriving on
// the port and writes frames straight out of it,
// bypassing the bridge. ReadFrame, WriteFrame and Stats may be called from
// different goroutines.
//
// The socket sees every incoming frame whatever the port's STP state
// (Link.State), and WriteFrame sends whatever the state: the caller must not
// learn from frames read on a port that is not Learning, nor write to one
// that is not Forwarding.
type PortConn struct {
	ifindex int
	conn    *packet.Conn
	raw     syscall.RawConn // conn's descriptor, for recvmsg with PACKET_AUXDATA
	closed  atomic.Bool

	mu                sync.Mutex
	received, dropped uint64 // running totals: PACKET_STATISTICS resets on read
}

const (
	// vlanTagLen is the length of an 802.1Q tag: TPID and TCI.
	vlanTagLen = 4
	// tpacketAuxdataLen is sizeof(struct tpacket_auxdata).
	tpacketAuxdataLen = 20
)

// portFilter accepts the frames that arrive on the port (any packet type but
// PACKET_OUTGOING, so not the bridge's floods out of the port nor our own
// writes) and carry a multicast control protocol, untagged or behind one
// 802.1Q tag:
//   - IPv4 protocol 2 (IGMP), or 103 (PIM) to 224.0.0.13;
//   - IPv6 next header 0 (Hop-by-Hop options: MLD and MRD live behind it),
//     or 103 (PIM) to ff02::d;
//   - IPv6 next header 58 (ICMPv6, no extension header) with an MLD or MRD
//     type. A valid MLD message always
//     has a Hop-by-Hop header; these are read so the daemon can count and
//     name the refusal.
//
// PIM is read only when sent to all PIM routers (hellos, joins and prunes,
// which tell where routers are); unicast PIM such as Register messages,
// which carry whole multicast data packets, is not.
//
// VLAN tags: the kernel moves the outer VLAN tag of every received frame
// into skb metadata (skb_vlan_untag) before packet taps run, so the filter
// sees a single-tagged frame untagged, at the offsets of an untagged one,
// and its untagged rules decide (ReadFrame puts the tag back from
// PACKET_AUXDATA). The filter's tagged branch therefore only ever sees the
// inner tag of a double-tagged frame (802.1ad or 802.1Q outer tag in
// metadata, 802.1Q inner tag in the data); such frames are accepted and
// read with both tags, for the decoder to refuse and count. The branch is
// kept for that, and so that the filter means the same on frames whose tag
// is in-band (as x/net/bpf's VM and TestPortFilter run it).
func portFilter() ([]bpf.RawInstruction, error) { return portFilterND(false) }

// portFilterND is portFilter, and with nd also neighbour discovery
// (ICMPv6 133-136 with no extension header; behind one, portFilter takes
// it already), for ports whose guests are learned from it (SetND).
func portFilterND(nd bool) ([]bpf.RawInstruction, error) {
	const (
		accept = 1 << 18 // snap length: whole frames
		reject = 0
	)
	var p cbpf
	p.add(bpf.LoadExtension{Num: bpf.ExtType})
	p.jumpIf(bpf.JumpEqual, unix.PACKET_OUTGOING, "reject", "")
	// X is the VLAN tag length: all later loads are relative to it.
	p.add(bpf.LoadConstant{Dst: bpf.RegX, Val: 0})
	p.add(bpf.LoadAbsolute{Off: 12, Size: 2})
	p.jumpIf(bpf.JumpEqual, unix.ETH_P_8021Q, "", "ethertype")
	p.add(bpf.LoadConstant{Dst: bpf.RegX, Val: 4})
	p.add(bpf.LoadAbsolute{Off: 16, Size: 2})
	p.label("ethertype")
	p.jumpIf(bpf.JumpEqual, unix.ETH_P_IP, "ipv4", "")
	p.jumpIf(bpf.JumpEqual, unix.ETH_P_IPV6, "ipv6", "reject")

	p.label("ipv4")
	p.add(bpf.LoadIndirect{Off: 14 + 9, Size: 1}) // protocol
	p.jumpIf(bpf.JumpEqual, unix.IPPROTO_IGMP, "accept", "")
	p.jumpIf(bpf.JumpEqual, unix.IPPROTO_PIM, "", "reject")
	p.add(bpf.LoadIndirect{Off: 14 + 16, Size: 4}) // destination
	p.jumpIf(bpf.JumpEqual, 0xe000000d, "accept", "reject")

	p.label("ipv6")
	p.add(bpf.LoadIndirect{Off: 14 + 6, Size: 1}) // next header
	p.jumpIf(bpf.JumpEqual, unix.IPPROTO_HOPOPTS, "accept", "")
	p.jumpIf(bpf.JumpEqual, unix.IPPROTO_PIM, "pim6", "")
	p.jumpIf(bpf.JumpEqual, unix.IPPROTO_ICMPV6, "", "reject")
	p.add(bpf.LoadIndirect{Off: 14 + 40, Size: 1}) // ICMPv6 type
	types := []uint8{
		wire.TypeMLDQuery, wire.TypeMLDReportV1, wire.TypeMLDDone, wire.TypeMLDReportV2,
		wire.TypeMRDAdvert6, wire.TypeMRDSolicit6, wire.TypeMRDTermination6,
	}
	if nd {
		types = append(types, wire.TypeRouterSolicit, wire.TypeRouterAdvert, wire.TypeNeighborSolicit, wire.TypeNeighborAdvert)
	}
	for _, t := range types {
		p.jumpIf(bpf.JumpEqual, uint32(t), "accept", "")
	}
	p.jumpTo("reject")

	p.label("pim6") // destination ff02::d, a word at a time
	for i, w := range []uint32{0xff020000, 0, 0, 0x0000000d} {
		p.add(bpf.LoadIndirect{Off: 14 + 24 + uint32(4*i), Size: 4})
		p.jumpIf(bpf.JumpEqual, w, "", "reject")
	}
	p.jumpTo("accept")

	p.label("accept")
	p.add(bpf.RetConstant{Val: accept})
	p.label("reject")
	p.add(bpf.RetConstant{Val: reject})
	return p.assemble()
}

// cbpf builds a classic BPF program with named jump targets, so that no
// skip count is computed by hand.
type cbpf struct {
	insns  []bpf.Instruction
	labels map[string]int    // label -> instruction index
	jumps  map[int][2]string // conditional jump index -> true, false labels ("" falls through)
	gotos  map[int]string    // unconditional jump index -> label
}

func (p *cbpf) add(i bpf.Instruction) { p.insns = append(p.insns, i) }

func (p *cbpf) label(name string) {
	if p.labels == nil {
		p.labels = make(map[string]int)
	}
	p.labels[name] = len(p.insns)
}

// jumpIf adds a conditional jump on A to labels onTrue and onFalse; an
// empty label continues with the next instruction.
func (p *cbpf) jumpIf(cond bpf.JumpTest, val uint32, onTrue, onFalse string) {
	if p.jumps == nil {
		p.jumps = make(map[int][2]string)
	}
	p.jumps[len(p.insns)] = [2]string{onTrue, onFalse}
	p.add(bpf.JumpIf{Cond: cond, Val: val})
}

func (p *cbpf) jumpTo(label string) {
	if p.gotos == nil {
		p.gotos = make(map[int]string)
	}
	p.gotos[len(p.insns)] = label
	p.add(bpf.Jump{})
}

// assemble resolves the labels (jumps go forward only) and assembles.
func (p *cbpf) assemble() ([]bpf.RawInstruction, error) {
	skip := func(from int, label string) (int, error) {
		if label == "" {
			return 0, nil
		}
		to, ok := p.labels[label]
		if !ok || to <= from {
			return 0, fmt.Errorf("bpf: jump from %d to unknown or earlier label %q", from, label)
		}
		return to - from - 1, nil
	}
	for i, ls := range p.jumps {
		t, err := skip(i, ls[0])
		if err != nil {
			return nil, err
		}
		f, err := skip(i, ls[1])
		if err != nil {
			return nil, err
		}
		if t > 255 || f > 255 {
			return nil, fmt.Errorf("bpf: conditional jump at %d too long", i)
		}
		j := p.insns[i].(bpf.JumpIf)
		j.SkipTrue, j.SkipFalse = uint8(t), uint8(f)
		p.insns[i] = j
	}
	for i, l := range p.gotos {
		n, err := skip(i, l)
		if err != nil {
			return nil, err
		}
		p.insns[i] = bpf.Jump{Skip: uint32(n)}
	}
	return bpf.Assemble(p.insns)
}

// ListenPort opens a packet socket on the port with ifindex (in the calling
// thread's network namespace). It binds to all protocols: a socket bound to
// ETH_P_IP sees nothing on a bridge port, because the bridge consumes frames
// before protocol-specific taps. The filter is installed before the bind, so
// no unfiltered frame is ever queued.
func ListenPort(ifindex int) (*PortConn, error) {
	ifi, err := net.InterfaceByIndex(ifindex)
	if err != nil {
		return nil, fmt.Errorf("listen on port %d: %w", ifindex, err)
	}
	filter, err := portFilter()
	if err != nil {
		return nil, fmt.Errorf("listen on port %s: assemble filter: %w", ifi.Name, err)
	}
	conn, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, &packet.Config{Filter: filter})
	if err != nil {
		return nil, fmt.Errorf("listen on port %s: %w", ifi.Name, err)
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("listen on port %s: %w", ifi.Name, err)
	}
	// The kernel builds the auxiliary data at recvmsg time from the frame's
	// metadata, so frames queued before this call get it too.
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_AUXDATA, 1)
	}); err != nil {
		serr = err
	}
	if serr != nil {
		conn.Close()
		return nil, fmt.Errorf("listen on port %s: enable PACKET_AUXDATA: %w", ifi.Name, serr)
	}
	return &PortConn{ifindex: ifindex, conn: conn, raw: raw}, nil
}

// ReadFrame blocks until an incoming control frame arrives and copies it
// into buf as it was on the wire, starting with its Ethernet header. The
// kernel takes a frame's VLAN tag out of the frame before packet sockets
// see it; ReadFrame puts it back after the MAC addresses, with the TCI
// (priority, DEI, VLAN id; a priority tag has VLAN id 0) and TPID the kernel
// reports (0x8100 if it reports none). A frame longer than buf, tag
// included, is truncated to len(buf): a tagged frame needs 4 bytes more
// than its untagged size, so 1522 bytes hold any standard tagged frame.
// After Close it returns an error wrapping net.ErrClosed at once.
func (c *PortConn) ReadFrame(buf []byte) (int, error) {
	b := newFrameBatch([][]byte{buf})
	if err := c.ReadBatch(b); err != nil {
		return 0, err
	}
	return b.lens[0], nil
}

// auxSpace is the control-message room per frame: one tpacket_auxdata
// control message takes 16 bytes of header and 20 of data.
const auxSpace = 64

// FrameBatch holds the buffers PortConn.ReadBatch fills in one system call
// (recvmmsg): under a join storm a reader takes what is queued at once
// rather than a frame per call. Make one with NewFrameBatch. It is not
// safe for concurrent use.
type FrameBatch struct {
	bufs [][]byte
	lens []int
	n    int
	hdrs []unix.Mmsghdr
	iovs []unix.Iovec
	oob  []byte
}

// NewFrameBatch returns a batch of frames buffers (at least one) of size
// bytes each.
func NewFrameBatch(frames, size int) *FrameBatch {
	frames = max(frames, 1)
	mem := make([]byte, frames*size)
	bufs := make([][]byte, frames)
	for i := range bufs {
		bufs[i] = mem[i*size : (i+1)*size : (i+1)*size]
	}
	return newFrameBatch(bufs)
}

func newFrameBatch(bufs [][]byte) *FrameBatch {
	b := &FrameBatch{
		bufs: bufs,
		lens: make([]int, len(bufs)),
		hdrs: make([]unix.Mmsghdr, len(bufs)),
		iovs: make([]unix.Iovec, len(bufs)),
		oob:  make([]byte, len(bufs)*auxSpace),
	}
	for i, buf := range bufs {
		if len(buf) > 0 {
			b.iovs[i].Base = &buf[0]
		}
		b.iovs[i].SetLen(len(buf))
		b.hdrs[i].Hdr.Iov = &b.iovs[i]
		b.hdrs[i].Hdr.SetIovlen(1)
	}
	return b
}

// Len returns how many frames the last ReadBatch read.
func (b *FrameBatch) Len() int { return b.n }

// Cap returns how many frames the batch can hold.
func (b *FrameBatch) Cap() int { return len(b.bufs) }

// Frame returns frame i of the last ReadBatch, as ReadFrame would have
// returned it. It aliases the batch's buffer: valid until the next
// ReadBatch. A zero-length buffer takes a frame and keeps none of it.
func (b *FrameBatch) Frame(i int) []byte { return b.bufs[i][:b.lens[i]] }

// ReadBatch blocks until an incoming control frame arrives, then reads it
// and those queued behind it, up to the batch's capacity, in one system
// call. Each frame is as ReadFrame returns it (VLAN tag put back, cut to its
// buffer's size). After Close it returns an error wrapping net.ErrClosed at
// once.
func (c *PortConn) ReadBatch(b *FrameBatch) error { return c.readBatch(b, true) }

// ReadQueued reads what is queued on the socket, as ReadBatch does, but
// does not wait: with nothing queued it reads no frame (Len 0) and
// returns nil. A PortPoller tells when there is something to read.
func (c *PortConn) ReadQueued(b *FrameBatch) error { return c.readBatch(b, false) }

func (c *PortConn) readBatch(b *FrameBatch, wait bool) error {
	if len(b.hdrs) == 0 {
		return fmt.Errorf("read on port %d: a batch with no buffers (use NewFrameBatch)", c.ifindex)
	}
	for i := range b.hdrs {
		h := &b.hdrs[i].Hdr
		h.Control = &b.oob[i*auxSpace]
		h.SetControllen(auxSpace)
		h.Flags = 0
		b.hdrs[i].Len = 0
	}
	b.n = 0
	var got int
	var rerr error
	// The descriptor is non-blocking: recvmmsg returns what is queued, or
	// EAGAIN when nothing is.
	recv := func(fd uintptr) {
		for {
			r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(len(b.hdrs)), 0, 0, 0)
			if e == unix.EINTR {
				continue
			}
			got, rerr = int(r), nil
			if e != 0 {
				got, rerr = 0, e
			}
			return
		}
	}
	var err error
	if wait {
		err = c.raw.Read(func(fd uintptr) bool {
			recv(fd)
			// Not ready: let the runtime poller wait (and Close interrupt).
			return rerr != unix.EAGAIN
		})
	} else {
		err = c.raw.Control(recv)
		if rerr == unix.EAGAIN {
			rerr = nil
		}
	}
	if err == nil {
		err = rerr
	}
	if err != nil {
		if c.closed.Load() {
			return fmt.Errorf("read on port %d: %w", c.ifindex, net.ErrClosed)
		}
		return fmt.Errorf("read on port %d: %w", c.ifindex, err)
	}
	for i := range got {
		n := int(b.hdrs[i].Len)
		oob := b.oob[i*auxSpace : i*auxSpace+min(int(b.hdrs[i].Hdr.Controllen), auxSpace)]
		if tpid, tci, ok := auxVLAN(oob); ok {
			n = insertTag(b.bufs[i], n, tpid, tci)
		}
		b.lens[i] = n
	}
	b.n = got
	return nil
}

// auxVLAN returns the VLAN tag the kernel reports in a PACKET_AUXDATA
// control message, if it reports one (TP_STATUS_VLAN_VALID). The TPID
// defaults to 0x8100 when it is not reported (TP_STATUS_VLAN_TPID_VALID).
func auxVLAN(oob []byte) (tpid, tci uint16, ok bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, 0, false
	}
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_PACKET || m.Header.Type != unix.PACKET_AUXDATA ||
			len(m.Data) < tpacketAuxdataLen {
			continue
		}
		// struct tpacket_auxdata: tp_status, tp_len, tp_snaplen (u32),
		// tp_mac, tp_net, tp_vlan_tci, tp_vlan_tpid (u16), host order.
		status := binary.NativeEndian.Uint32(m.Data[0:4])
		if status&unix.TP_STATUS_VLAN_VALID == 0 {
			return 0, 0, false
		}
		tci = binary.NativeEndian.Uint16(m.Data[16:18])
		tpid = unix.ETH_P_8021Q
		if status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
			tpid = binary.NativeEndian.Uint16(m.Data[18:20])
		}
		return tpid, tci, true
	}
	return 0, 0, false
}

// insertTag puts a VLAN tag after the MAC addresses of the n-byte frame at
// the start of buf, moving the rest of the frame 4 bytes on; what no longer
// fits in buf is cut. It returns the new length. A frame of fewer than 12
// bytes (no room for the addresses) is left alone.
func insertTag(buf []byte, n int, tpid, tci uint16) int {
	const at = 12 // after the destination and source addresses
	if n < at {
		return n
	}
	end := min(n+vlanTagLen, len(buf))
	if end > at+vlanTagLen {
		copy(buf[at+vlanTagLen:end], buf[at:n]) // copy handles the overlap
	}
	var tag [vlanTagLen]byte
	binary.BigEndian.PutUint16(tag[0:2], tpid)
	binary.BigEndian.PutUint16(tag[2:4], tci)
	copy(buf[at:end], tag[:])
	return end
}

// WriteFrame sends a complete Ethernet frame out of the port. It does not
// pass through the bridge: no other port sees it, and the bridge does not
// learn from it.
func (c *PortConn) WriteFrame(frame []byte) error {
	_, err := c.WriteFrames([][]byte{frame})
	return err
}

// WriteFrames sends frames out of the port, as WriteFrame does, in order
// and in as few system calls (sendmmsg) as the socket takes them. It
// returns how many were sent: when that is fewer than len(frames), err
// says why frames[sent] was not, and none after it was tried.
func (c *PortConn) WriteFrames(frames [][]byte) (sent int, err error) {
	for i, f := range frames {
		if len(f) < 14 {
			frames = frames[:i] // send those before it, then refuse it
			err = fmt.Errorf("write on port %d: frame of %d bytes has no Ethernet header", c.ifindex, len(f))
			break
		}
	}
	// Two allocations per call, not a buffer kept under a lock held
	// while sending.
	hdrs := make([]unix.Mmsghdr, len(frames))
	iovs := make([]unix.Iovec, len(frames))
	for i, f := range frames {
		// No destination address: the socket is bound to the port, and
		// the kernel takes the protocol from the frame's header.
		iovs[i] = unix.Iovec{Base: &f[0]}
		iovs[i].SetLen(len(f))
		hdrs[i].Hdr.Iov = &iovs[i]
		hdrs[i].Hdr.SetIovlen(1)
	}
	for sent < len(frames) {
		var n int
		var werr error
		rerr := c.raw.Write(func(fd uintptr) bool {
			for {
				r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&hdrs[sent])), uintptr(len(frames)-sent), 0, 0, 0)
				if e == unix.EINTR {
					continue
				}
				n, werr = int(r), nil
				if e != 0 {
					n, werr = 0, e
				}
				return werr != unix.EAGAIN // full: wait until writable
			}
		})
		if rerr == nil {
			rerr = werr
		}
		if rerr != nil {
			if c.closed.Load() {
				rerr = net.ErrClosed
			}
			return sent, fmt.Errorf("write on port %d: %w", c.ifindex, rerr)
		}
		if n == 0 {
			return sent, fmt.Errorf("write on port %d: %w", c.ifindex, io.ErrShortWrite)
		}
		sent += n
	}
	return sent, err
}

// Stats returns, since the socket was opened, the frames that passed the
// filter (received, counting those then dropped) and those dropped because
// the socket's receive queue was full.
func (c *PortConn) Stats() (received, dropped uint64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.conn.Stats()
	if err != nil {
		return c.received, c.dropped, fmt.Errorf("stats of port %d: %w", c.ifindex, err)
	}
	c.received += uint64(s.Packets)
	c.dropped += uint64(s.Drops)
	return c.received, c.dropped, nil
}

// Close closes the socket; a blocked ReadFrame returns.
func (c *PortConn) Close() error {
	c.closed.Store(true)
	if err := c.conn.Close(); err != nil {
		return fmt.Errorf("close port %d: %w", c.ifindex, err)
	}
	return nil
}
