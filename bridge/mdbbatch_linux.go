package bridge

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// MDBBatch queues MDB writes and sends them to the kernel together: many
// RTM_NEWMDB and RTM_DELMDB messages in one sendmsg, and their answers read
// back in a few recvmsg calls, over a socket of its own. A join storm
// then costs the daemon two system calls per batch instead of two per
// entry, and no allocation per entry beyond its encoding.
//
// Each queued write means exactly what MDB.Replace or MDB.Delete with the
// same Entry means; the kernel applies them in queue order. It is not safe
// for concurrent use.
type MDBBatch struct {
	fd   int
	pid  uint32 // our netlink port id
	seq  uint32
	buf  []byte    // queued messages
	ops  []batchOp // one per queued message
	errs []error   // Flush's results, reused
	rbuf []byte
}

type batchOp struct {
	entry  Entry
	delete bool
	seq    uint32
	off    int // start of its message in buf
}

// mdbBatchChunk bounds the messages in one sendmsg: their acks must fit
// the socket's receive buffer (an ack that does not is lost), and one
// system call should not hold the RTNL lock for long.
const mdbBatchChunk = 256

// OpenMDBBatch opens a batched MDB writer in the calling thread's network
// namespace.
func OpenMDBBatch() (*MDBBatch, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open mdb batch: %w", err)
	}
	b := &MDBBatch{fd: fd, rbuf: make([]byte, 64<<10)}
	fail := func(what string, err error) (*MDBBatch, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("open mdb batch: %s: %w", what, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fail("bind", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	b.pid = sa.(*unix.SockaddrNetlink).Pid
	// Error strings from the kernel, and acks that do not echo the request.
	if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1); err != nil {
		return fail("extended acks", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	// Room for a chunk's acks, error acks with their text included.
	const rcvbuf = 4 << 20
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
	}
	tv := unix.NsecToTimeval(requestTimeout.Nanoseconds())
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	return b, nil
}

// Close closes the socket; queued writes are dropped.
func (b *MDBBatch) Close() error { return unix.Close(b.fd) }

// Len returns the number of queued writes.
func (b *MDBBatch) Len() int { return len(b.ops) }

// Replace queues what MDB.Replace(e) does. An entry that cannot be
// encoded is refused at once, with the error MDB.Replace would give, and
// nothing is queued.
func (b *MDBBatch) Replace(e Entry) error {
	entry, sources, filter, proto, err := e.replaceParts()
	if err != nil {
		return err
	}
	off := b.begin(unix.RTM_NEWMDB, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, e, entry)
	// The same attributes as MDB.Replace, in the same order; the kernel
	// wants NLA_F_NESTED on every nest.
	if e.Source.IsValid() || filter || e.Port != e.Bridge {
		as := b.nest(mdbaSetAttrs)
		if e.Source.IsValid() {
			b.attr(mdbeAttrSource, e.Source.Unmap().AsSlice())
		}
		if filter {
			b.attr(mdbeAttrGroupMode, []byte{uint8(e.Mode)})
			list := b.nest(mdbeAttrSrcList)
			for _, src := range sources {
				se := b.nest(mdbeSrcListEntry)
				b.attr(mdbeSrcAttrAddress, src.AsSlice())
				b.end(se)
			}
			b.end(list)
		}
		if e.Port != e.Bridge {
			b.attr(mdbeAttrRTProt, []byte{proto})
		}
		b.end(as)
	}
	b.finish(off)
	return nil
}

// Delete queues what MDB.Delete(e) does; its result in Flush wraps
// ErrNotFound if the entry was not there.
func (b *MDBBatch) Delete(e Entry) error {
	entry, err := e.marshal()
	if err != nil {
		return fmt.Errorf("mdb delete %s: %w", e, err)
	}
	off := b.begin(unix.RTM_DELMDB, 0, e, entry)
	if e.Source.IsValid() {
		as := b.nest(mdbaSetAttrs)
		b.attr(mdbeAttrSource, e.Source.Unmap().AsSlice())
		b.end(as)
	}
	b.ops[len(b.ops)-1].delete = true
	b.finish(off)
	return nil
}

// begin starts a message: header, struct br_port_msg and MDBA_SET_ENTRY.
// exchange sets NLM_F_ACK where it wants an answer.
func (b *MDBBatch) begin(typ, flags uint16, e Entry, entry []byte) int {
	b.seq++
	off := len(b.buf)
	ne := binary.NativeEndian
	b.buf = ne.AppendUint32(b.buf, 0) // length, set by finish
	b.buf = ne.AppendUint16(b.buf, typ)
	b.buf = ne.AppendUint16(b.buf, unix.NLM_F_REQUEST|flags)
	b.buf = ne.AppendUint32(b.buf, b.seq)
	b.buf = ne.AppendUint32(b.buf, 0) // to the kernel
	b.buf = append(b.buf, unix.AF_BRIDGE, 0, 0, 0)
	b.buf = ne.AppendUint32(b.buf, uint32(e.Bridge))
	b.attr(mdbaSetEntry, entry)
	b.ops = append(b.ops, batchOp{entry: e, seq: b.seq, off: off})
	return off
}

func (b *MDBBatch) finish(off int) {
	binary.NativeEndian.PutUint32(b.buf[off:], uint32(len(b.buf)-off))
}

// attr appends one attribute, padded to 4 bytes.
func (b *MDBBatch) attr(typ uint16, v []byte) {
	ne := binary.NativeEndian
	b.buf = ne.AppendUint16(b.buf, uint16(unix.SizeofRtAttr+len(v)))
	b.buf = ne.AppendUint16(b.buf, typ)
	b.buf = append(b.buf, v...)
	for len(b.buf)%4 != 0 {
		b.buf = append(b.buf, 0)
	}
}

// nest opens a nested attribute (NLA_F_NESTED); end closes it.
func (b *MDBBatch) nest(typ uint16) int {
	off := len(b.buf)
	ne := binary.NativeEndian
	b.buf = ne.AppendUint16(b.buf, 0)
	b.buf = ne.AppendUint16(b.buf, typ|unix.NLA_F_NESTED)
	return off
}

func (b *MDBBatch) end(off int) {
	binary.NativeEndian.PutUint16(b.buf[off:], uint16(len(b.buf)-off))
}

// Flush sends every queued write and waits for the kernel's answers. It
// returns one error per write, in queue order (nil for success), as
// MDB.Replace or MDB.Delete would have returned it; the slice is reused by
// the next Flush. The queue is empty afterwards.
func (b *MDBBatch) Flush() []error {
	b.errs = b.errs[:0]
	for range b.ops {
		b.errs = append(b.errs, nil)
	}
	for start := 0; start < len(b.ops); start += mdbBatchChunk {
		end := min(start+mdbBatchChunk, len(b.ops))
		b.exchange(start, end)
	}
	b.buf, b.ops = b.buf[:0], b.ops[:0]
	return b.errs
}

// exchange sends ops[start:end] in one sendmsg and reads their answers.
// Only the last message asks for an ack: the kernel answers the others
// only if they fail, and handles the messages of one sendmsg in order, so
// once the last one is answered every failure before it has been too.
// That spares the kernel an answer per entry, and us reading it.
func (b *MDBBatch) exchange(start, end int) {
	hi := len(b.buf)
	if end < len(b.ops) {
		hi = b.ops[end].off
	}
	for i := start; i < end; i++ {
		flags := b.buf[b.ops[i].off+6:]
		f := binary.NativeEndian.Uint16(flags)
		if i == end-1 {
			f |= unix.NLM_F_ACK
		} else {
			f &^= unix.NLM_F_ACK
		}
		binary.NativeEndian.PutUint16(flags, f)
	}
	fail := func(err error) {
		for i := start; i < end; i++ {
			if b.errs[i] == nil {
				b.errs[i] = b.opError(i, err)
			}
		}
	}
	if err := b.send(b.buf[b.ops[start].off:hi]); err != nil {
		fail(err)
		return
	}
	first, last := b.ops[start].seq, b.ops[end-1].seq
	for done := false; !done; {
		n, _, err := unix.Recvfrom(b.fd, b.rbuf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			// A lost answer (ENOBUFS) or a timeout: those not yet answered
			// may or may not have been applied.
			fail(err)
			return
		}
		msgs, err := syscall.ParseNetlinkMessage(b.rbuf[:n])
		if err != nil {
			fail(err)
			return
		}
		for _, m := range msgs {
			if m.Header.Type != unix.NLMSG_ERROR || m.Header.Pid != b.pid {
				continue
			}
			i := start + int(m.Header.Seq-first)
			if m.Header.Seq < first || i >= end {
				continue // a late answer to an earlier batch
			}
			if err := ackError(m); err != nil {
				b.errs[i] = b.opError(i, err)
			}
			if m.Header.Seq == last {
				done = true
			}
		}
	}
}

func (b *MDBBatch) send(p []byte) error {
	sa := &unix.SockaddrNetlink{Family: unix.AF_NETLINK}
	for {
		err := unix.Sendto(b.fd, p, 0, sa)
		if err != unix.EINTR {
			return err
		}
	}
}

// opError wraps a kernel error as MDB.Replace or MDB.Delete would.
func (b *MDBBatch) opError(i int, err error) error {
	op := b.ops[i]
	if op.delete {
		if errors.Is(err, unix.EINVAL) && !hasExtack(err) {
			return fmt.Errorf("mdb delete %s: %w (%w)", op.entry, ErrNotFound, err)
		}
		return mdbError("delete", op.entry, err)
	}
	return mdbError("replace", op.entry, err)
}

// ackError decodes an NLMSG_ERROR answer: nil for an ack, else the errno,
// with the kernel's extended-ack text if it sent one (as nl does: "%w:
// text").
func ackError(m syscall.NetlinkMessage) error {
	if len(m.Data) < 4 {
		return fmt.Errorf("short netlink ack: %d bytes", len(m.Data))
	}
	errno := int32(binary.NativeEndian.Uint32(m.Data[0:4]))
	if errno == 0 {
		return nil
	}
	var err error = syscall.Errno(-errno)
	rest := m.Data[4:]
	if m.Header.Flags&unix.NLM_F_ACK_TLVS == 0 || len(rest) < unix.SizeofNlMsghdr {
		return err
	}
	// The echoed request: its header only if capped, else all of it.
	skip := unix.SizeofNlMsghdr
	if m.Header.Flags&unix.NLM_F_CAPPED == 0 {
		skip = int(binary.NativeEndian.Uint32(rest[0:4]))
	}
	if skip = (skip + 3) &^ 3; skip > len(rest) {
		return err
	}
	rest = rest[skip:]
	for len(rest) >= unix.SizeofRtAttr {
		l := int(binary.NativeEndian.Uint16(rest[0:2]))
		typ := binary.NativeEndian.Uint16(rest[2:4])
		if l < unix.SizeofRtAttr || l > len(rest) {
			break
		}
		if typ == unix.NLMSGERR_ATTR_MSG {
			err = fmt.Errorf("%w: %s", err, unix.ByteSliceToString(rest[unix.SizeofRtAttr:l]))
		}
		rest = rest[min((l+3)&^3, len(rest)):]
	}
	return err
}
