package bridge

import (
	"fmt"
	"time"

	"github.com/mdlayher/netlink"
)

// MDBBatch queues MDB writes and sends them to the kernel together: many
// RTM_NEWMDB and RTM_DELMDB messages in one sendmsg, and their answers read
// back in a few recvmsg calls, over a socket of its own. A join storm
// then costs the daemon two system calls per batch instead of two per
// entry.
//
// The kernel applies the queued writes in queue order. It is not safe for
// concurrent use.
type MDBBatch struct {
	c *netlink.Conn
	// timeout bounds each exchange, so that a lost answer cannot hang the
	// daemon; 0 for none (the tests' sockets have no deadlines).
	timeout time.Duration
	msgs    []netlink.Message // queued, encoded
	buf     []byte            // their Data, reused
	ops     []mdbReq          // one per queued message
	errs    []error           // Flush's results, reused

	// noReplace writes without NLM_F_REPLACE and proto (SetReplace).
	noReplace bool
}

// mdbBatchChunk bounds the messages in one sendmsg: their acks must fit
// the socket's receive buffer (an ack that does not is lost), and one
// system call should not hold the RTNL lock for long.
const mdbBatchChunk = 256

// OpenMDBBatch opens a batched MDB writer in the calling thread's network
// namespace.
func OpenMDBBatch() (*MDBBatch, error) {
	c, err := dialMDB(0)
	if err != nil {
		return nil, fmt.Errorf("open mdb batch: %w", err)
	}
	// Room for a chunk's error acks, each echoing its request.
	if err := setReadBuffer(c, 4<<20); err != nil {
		c.Close()
		return nil, fmt.Errorf("open mdb batch: receive buffer: %w", err)
	}
	return newMDBBatch(c), nil
}

func newMDBBatch(c *netlink.Conn) *MDBBatch { return &MDBBatch{c: c, timeout: requestTimeout} }

// Close closes the socket; queued writes are dropped.
func (b *MDBBatch) Close() error { return b.c.Close() }

// Len returns the number of queued writes.
func (b *MDBBatch) Len() int { return len(b.ops) }

// Replace queues a write of e that creates it, or refreshes it if the port
// already has it (NLM_F_REPLACE, kernel 6.2+): a temporary entry's timer
// restarts at the bridge's membership interval, and its state and proto
// are overwritten (taking over an entry the kernel learned). A host join
// (Port == Bridge) is sent without proto, which the kernel refuses for
// host joins.
//
// A (*,G) entry with Sources, or in ModeInclude, is sent with its filter
// mode and source list (kernel 6.2+, see ProbeSourceLists); a replace then
// swaps the whole list, restarting the timers of the sources it keeps. A
// temporary INCLUDE entry has no timer of its own: each source lives for
// the membership interval, and the entry goes with its last source.
//
// An entry that cannot be encoded is refused at once and nothing is
// queued; more than MaxSources sources give an error wrapping
// ErrTooManySources. In Flush, going over the bridge's mcast_hash_max
// gives an error wrapping ErrHashMax.
func (b *MDBBatch) Replace(e Entry) error {
	r, err := replaceReq(e)
	if err != nil {
		return err
	}
	if b.noReplace {
		r.op, r.flags, r.proto = "add", netlink.Create, 0
	}
	return b.queue(r)
}

// Delete queues the removal of e (matched by bridge, port, group, source
// and VID; state and proto are ignored). Its result in Flush wraps
// ErrNotFound if the entry was not there.
func (b *MDBBatch) Delete(e Entry) error {
	return b.queue(deleteReq(e))
}

func (b *MDBBatch) queue(r mdbReq) error {
	m, buf, err := r.encode(b.buf)
	if err != nil {
		return err
	}
	b.buf = buf
	b.msgs = append(b.msgs, m)
	b.ops = append(b.ops, r)
	return nil
}

// Flush sends every queued write and waits for the kernel's answers. It
// returns one error per write, in queue order (nil for success); the slice
// is reused by the next Flush. The queue is empty afterwards.
func (b *MDBBatch) Flush() []error {
	b.errs = b.errs[:0]
	for range b.ops {
		b.errs = append(b.errs, nil)
	}
	for start := 0; start < len(b.ops); {
		end := b.chunkEnd(start)
		b.exchange(start, end)
		start = end
	}
	clear(b.msgs)
	clear(b.ops)
	b.msgs, b.ops, b.buf = b.msgs[:0], b.ops[:0], b.buf[:0]
	return b.errs
}

// exchange sends msgs[start:end] in one sendmsg and reads their answers.
// Only the last message asks for an ack: the kernel answers the others
// only if they fail, and handles the messages of one sendmsg in order, so
// once the last one is answered every failure before it has been too.
// That spares the kernel an answer per entry, and us reading it. Each
// answer is a datagram of its own, so the library's Receive, which stops
// at the first refusal in a datagram, loses none.
func (b *MDBBatch) exchange(start, end int) {
	fail := func(err error) {
		for i := start; i < end; i++ {
			if b.errs[i] == nil {
				b.errs[i] = b.ops[i].wrap(err)
			}
		}
	}
	chunk := b.msgs[start:end]
	for i := range chunk {
		chunk[i].Header.Flags &^= netlink.Acknowledge
	}
	chunk[len(chunk)-1].Header.Flags |= netlink.Acknowledge
	if b.timeout > 0 {
		if err := b.c.SetDeadline(time.Now().Add(b.timeout)); err != nil {
			fail(err)
			return
		}
	}
	// SendMessages numbers the messages in order.
	sent, err := b.c.SendMessages(chunk)
	if err != nil {
		fail(err)
		return
	}
	first, n := sent[0].Header.Sequence, uint32(len(sent))
	for {
		msgs, err := b.c.Receive()
		if err != nil {
			ke, seq, ok := ackError(err)
			if !ok {
				// A lost answer (ENOBUFS), a timeout or a malformed answer:
				// those not yet answered may or may not have been applied.
				fail(err)
				return
			}
			if i := seq - first; i < n { // else a late answer to an earlier batch
				b.errs[start+int(i)] = b.ops[start+int(i)].wrap(ke)
				if i == n-1 {
					return
				}
			}
			continue
		}
		for _, m := range msgs {
			if m.Header.Type == netlink.Error && m.Header.Sequence-first == n-1 {
				return
			}
		}
	}
}
