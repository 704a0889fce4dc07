package daemon

import (
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"sync"

	"go.uber.org/zap"
)

// txFrame is a frame for the transmitter: buf[:n] out of conn.
type txFrame struct {
	conn Port
	port string
	buf  *[frameSize]byte
	n    int
}

// txJobs bounds the relay jobs queued for the transmitter; with at most
// maxBurst frames per job and router port, it bounds the frames waiting.
const txJobs = 8

// transmitter writes frames out of ports in a goroutine of its own, so
// relaying a join storm to the router ports runs beside the loop rather
// than in it. The loop queues frames (queue) and hands them over as one
// job per burst (flush); they keep their order.
type transmitter struct {
	log   *zap.Logger
	pool  sync.Pool // *[frameSize]byte
	jobs  chan []txFrame
	spare chan []txFrame // the jobs' slices, back for reuse
	queue []txFrame      // loop side: the job being gathered
	done  chan struct{}
}

func newTransmitter(log *zap.Logger) *transmitter {
	t := &transmitter{log: log, jobs: make(chan []txFrame, txJobs), spare: make(chan []txFrame, txJobs), done: make(chan struct{})}
	t.pool.New = func() any { return new([frameSize]byte) }
	go t.run()
	return t
}

// add queues frame to go out of port conn (named port). frame is copied:
// the engine's frames alias the reader's buffer.
func (t *transmitter) add(conn Port, port string, frame []byte) {
	buf := t.pool.Get().(*[frameSize]byte)
	n := copy(buf[:], frame)
	t.queue = append(t.queue, txFrame{conn: conn, port: port, buf: buf, n: n})
}

// flush hands the queued frames to the transmitter. When it is a full
// queue behind, the loop waits for it (it never waits on the loop): the
// frames must not overtake those queued before them, a join its leave.
func (t *transmitter) flush() {
	if len(t.queue) == 0 {
		return
	}
	t.jobs <- t.queue
	select {
	case t.queue = <-t.spare:
	default:
		t.queue = nil
	}
}

// close sends what is queued and stops the transmitter.
func (t *transmitter) close() {
	t.flush()
	close(t.jobs)
	<-t.done
}

// run writes the jobs flush hands it until jobs is closed.
func (t *transmitter) run() {
	defer close(t.done)
	var scratch [][]byte
	for q := range t.jobs {
		scratch = t.write(q, scratch)
		select {
		case t.spare <- q[:0]:
		default:
		}
	}
}

// write sends the frames of q, in order for each port, each port's in one
// WriteFrames (relays to several router ports interleave them); a frame
// the port refuses is logged and skipped. It returns scratch, grown, for
// the next call.
func (t *transmitter) write(q []txFrame, scratch [][]byte) [][]byte {
	slices.SortStableFunc(q, func(a, b txFrame) int { return strings.Compare(a.port, b.port) })
	for len(q) > 0 {
		run := 1
		for run < len(q) && q[run].conn == q[0].conn {
			run++
		}
		scratch = scratch[:0]
		for _, f := range q[:run] {
			scratch = append(scratch, f.buf[:f.n])
		}
		for done := 0; done < run; {
			sent, err := q[0].conn.WriteFrames(scratch[done:])
			done += sent
			if err == nil {
				continue
			}
			if !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrClosed) {
				t.log.Warn("transmit failed", zap.String("port", q[0].port), zap.Error(err))
			}
			done++ // skip the refused frame
		}
		for _, f := range q[:run] {
			t.pool.Put(f.buf)
		}
		q = q[run:]
	}
	return scratch
}
