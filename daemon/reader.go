package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
)

// portQuota is the most frames the reader takes from one port in a round:
// a port flooding gets no more of a round than any other port with
// frames queued, so it delays another port's join by a round at most,
// never starves it.
const portQuota = 16

// roundPorts is the most ports read in a round, so a round holds at most
// maxBurst frames. Ports left over are read first in the next round (the
// poller reports ready ports round-robin).
const roundPorts = maxBurst / portQuota

// roundsInFlight bounds the rounds handed to the loop and not yet given
// back. With all of them out the loop is behind: the reader waits for one
// while frames queue in the ports' sockets (portReadBuffer), and the next
// rounds are full. This bounds the reader's frame buffers at
// roundsInFlight*roundPorts*portQuota*frameSize, 1.5 MiB per bridge,
// whatever the number of ports; a round makes its batches as it first
// needs them, so a quiet bridge holds a batch or two.
const roundsInFlight = 3

// readPause is how long the reader rests after a round in which every
// read failed, so that a port failing at every read (a kernel error
// repeated, not seen) cannot make it spin.
const readPause = 10 * time.Millisecond

// portRead is the frames one read took from one port.
type portRead struct {
	port  int
	batch FrameBatch
}

// frameRound is what the reader hands the loop: one round's reads, in the
// order read. The loop gives it back once handled (giveBack); until then
// the reader does not touch its buffers.
type frameRound struct {
	reads []portRead
	// readAt is when the reads began (the monotonic clock): a read that
	// took fewer than portQuota frames found its port's queue empty
	// after it.
	readAt  time.Time
	batches []FrameBatch // every batch made for this round, reused
	free    chan<- *frameRound
}

func (r *frameRound) giveBack() { r.free <- r }

// batch returns the round's batch i, made if the round never needed it.
func (r *frameRound) batch(i int, p PortPoller) FrameBatch {
	if i == len(r.batches) {
		r.batches = append(r.batches, p.NewBatch(portQuota, frameSize))
	}
	return r.batches[i]
}

// readPort is a port as the reader knows it.
type readPort struct {
	conn Port
	name string
}

// portReader is the one goroutine that reads all of a bridge's ports: it
// waits until any has frames (PortPoller), reads at most portQuota frames
// from each ready port, and hands the loop the round. A burst across
// ports wakes it and the loop once per round, not once per port.
type portReader struct {
	poller PortPoller
	log    *zap.Logger
	out    chan<- *frameRound
	free   chan *frameRound // rounds given back; room for all of them
	made   int              // rounds made
	stop   chan struct{}    // closed to stop run
	done   chan struct{}    // closed when run has returned

	// mu guards ports, and is held over a round's reads: once remove
	// returns, the port is not read any more.
	mu    sync.Mutex
	ports map[int]readPort
}

// startPortReader opens a poller and starts reading, into out, the ports
// added to it.
func startPortReader(k Kernel, log *zap.Logger, out chan<- *frameRound) (*portReader, error) {
	poller, err := k.OpenPoller()
	if err != nil {
		return nil, fmt.Errorf("port reader: %w", err)
	}
	r := newPortReader(poller, log, out)
	go r.run()
	return r, nil
}

// newPortReader returns a reader over poller, to run.
func newPortReader(poller PortPoller, log *zap.Logger, out chan<- *frameRound) *portReader {
	return &portReader{poller: poller, log: log, out: out, free: make(chan *frameRound, roundsInFlight),
		stop: make(chan struct{}), done: make(chan struct{}), ports: make(map[int]readPort)}
}

// add starts reading a port, whose frames come as port id.
func (r *portReader) add(id int, name string, conn Port) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.poller.Add(id, conn); err != nil {
		return err
	}
	r.ports[id] = readPort{conn: conn, name: name}
	return nil
}

// remove stops reading a port, before it closes.
func (r *portReader) remove(id int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.ports[id]
	if !ok {
		return
	}
	delete(r.ports, id)
	if err := r.poller.Remove(id); err != nil {
		r.log.Debug("port poll remove", zap.String("port", p.name), zap.Error(err))
	}
}

// close stops the reader. Rounds still with the loop are given back to
// nobody; they are dropped with the reader.
func (r *portReader) close() {
	close(r.stop)
	if err := r.poller.Close(); err != nil {
		r.log.Debug("port poller close", zap.Error(err))
	}
	<-r.done
}

func (r *portReader) run() {
	defer close(r.done)
	ready := make([]int, roundPorts)
	for {
		n, err := r.poller.Wait(ready)
		if err != nil {
			if isClosed(err) {
				return
			}
			r.log.Warn("port poll failed; retrying", zap.Error(err))
			if !r.rest() {
				return
			}
			continue
		}
		// A round only now: one the loop gave back meanwhile serves, so a
		// quiet bridge keeps reusing one.
		rd, ok := r.next()
		if !ok {
			return
		}
		if failed := r.fill(rd, ready[:n]); len(rd.reads) == 0 {
			r.free <- rd
			if failed && !r.rest() {
				return
			}
			continue
		}
		select {
		case r.out <- rd:
		case <-r.stop:
			return
		}
	}
}

// next returns a round to fill: one given back, a new one, or else the
// next one given back. It returns false if the reader stops first.
func (r *portReader) next() (*frameRound, bool) {
	select {
	case rd := <-r.free:
		return rd, true
	default:
	}
	if r.made < roundsInFlight {
		r.made++
		return &frameRound{free: r.free}, true
	}
	select {
	case rd := <-r.free:
		return rd, true
	case <-r.stop:
		return nil, false
	}
}

// fill reads the ports ready into rd, at most portQuota frames from each.
// It returns whether every read failed. A port going down fails a read
// with ENETDOWN once: that does not end it.
func (r *portReader) fill(rd *frameRound, ready []int) (failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rd.reads, rd.readAt = rd.reads[:0], time.Now()
	var fails int
	for _, id := range ready {
		p, ok := r.ports[id]
		if !ok {
			continue // removed since
		}
		b := rd.batch(len(rd.reads), r.poller)
		if err := p.conn.ReadQueued(b); err != nil {
			fails++
			if !isClosed(err) {
				r.log.Debug("port read failed", zap.String("port", p.name), zap.Error(err))
			}
			continue
		}
		if b.Len() > 0 {
			rd.reads = append(rd.reads, portRead{port: id, batch: b})
		}
	}
	return fails > 0 && len(rd.reads) == 0
}

// rest waits readPause; false if the reader stops first.
func (r *portReader) rest() bool {
	t := time.NewTimer(readPause)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.stop:
		return false
	}
}

// isClosed tells whether err is that of a closed socket or poller.
func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed)
}
