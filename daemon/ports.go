package daemon

import (
	"errors"
	"net"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// frameSize bounds what a port reader accepts; IGMP frames are far smaller,
// and a larger one is truncated and then refused by the decoder.
const frameSize = 2048

// readBatch is how many frames a busy port's reader takes from its socket
// in one system call (and hands to the loop in one channel send). A
// reader reads one frame per batch while its port is quiet, so that a
// quiet port holds a few frame buffers at most (a container host may have
// a thousand ports); it moves to readBatch when it has to wait for the
// loop to give a batch back (frames are queueing), and back after
// quietReads reads of at most one frame.
const readBatch = 16

// quietReads is how many reads of one frame or none make a busy port's
// reader go back to one-frame batches.
const quietReads = 64

// batchesPerPort bounds the batches a port reader has in flight. When the
// loop falls behind, the reader waits for one to come back while frames
// queue on its socket, so its next read takes a full batch.
const batchesPerPort = 3

// portReadBuffer is each port socket's receive queue: room for a join
// storm of some 3 500 reports per port while the loop catches up.
const portReadBuffer = 2 << 20

// frameIn is what a port reader hands the loop: the frames of one read,
// and where the batch goes back once handled.
type frameIn struct {
	port  int
	batch FrameBatch
	free  chan<- FrameBatch
}

// portIO is what the daemon holds open on one bridge port.
type portIO struct {
	link bridge.Link // as last reported; the loop's
	conn Port
	done chan struct{} // closed when the reader has stopped
	stop chan struct{} // closed to stop the reader
	// free brings the reader's batches back from the loop; it has room
	// for all of them, so the loop never waits to give one back.
	free chan FrameBatch
	// peer is what is behind the port (nil: nothing known); the loop's.
	peer *snoop.PeerView
}

// portSet is the ports the loop snoops on, by ifindex, and their readers.
type portSet struct {
	kernel Kernel
	log    *zap.Logger
	// release undoes, as a port closes, what was set on it in the kernel.
	release func(bridge.Link)
	ports   map[int]*portIO
	frames  chan frameIn // every reader's frames, to the loop
}

func newPortSet(k Kernel, log *zap.Logger, release func(bridge.Link)) *portSet {
	return &portSet{kernel: k, log: log, release: release, ports: make(map[int]*portIO), frames: make(chan frameIn, 1024)}
}

// open starts snooping on a port: the guard first, so the kernel learns
// nothing from it from now on, then the socket; then prepare (the port's
// kernel settings), and only if that worked the reader.
func (s *portSet) open(l bridge.Link, guard bridge.GuardOptions, prepare func(bridge.Link) error) error {
	conn, err := s.kernel.OpenPort(l.Index, guard)
	if err != nil {
		return err
	}
	if err := prepare(l); err != nil {
		if cerr := conn.Close(); cerr != nil {
			s.log.Debug("port close", zap.String("port", l.Name), zap.Error(cerr))
		}
		return err
	}
	if err := conn.SetReadBuffer(portReadBuffer); err != nil {
		s.log.Warn("join storms on this port may lose reports", zap.String("port", l.Name), zap.Error(err))
	}
	p := &portIO{link: l, conn: conn, done: make(chan struct{}), stop: make(chan struct{}),
		free: make(chan FrameBatch, batchesPerPort)}
	s.ports[l.Index] = p
	go s.read(p, l.Index, l.Name)
	return nil
}

// read copies frames from one port to the loop until the socket closes.
// It keeps its own copy of the port's index and name: the loop updates
// p.link. A port going down makes the socket fail with ENETDOWN once;
// that is not the end of the port, so the reader carries on.
func (s *portSet) read(p *portIO, index int, name string) {
	defer close(p.done)
	src := batchSource{size: 1}
	for {
		b, ok := src.next(p)
		if !ok {
			return
		}
		if err := p.conn.ReadBatch(b); err != nil {
			p.free <- b
			if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return
			}
			s.log.Debug("port read failed; retrying", zap.String("port", name), zap.Error(err))
			select {
			case <-p.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		src.read(b.Len())
		select {
		case s.frames <- frameIn{port: index, batch: b, free: p.free}:
		case <-p.stop:
			return
		}
	}
}

// close stops snooping on a port: its reader, socket and guard, and what
// was set on it in the kernel.
func (s *portSet) close(ifindex int) {
	p := s.ports[ifindex]
	if p == nil {
		return
	}
	delete(s.ports, ifindex)
	s.release(p.link)
	// The stop channel frees a reader blocked on a full frames channel
	// without throwing away other ports' frames.
	close(p.stop)
	if err := p.conn.Close(); err != nil {
		s.log.Debug("port close", zap.String("port", p.link.Name), zap.Error(err))
	}
	<-p.done
}

// closeAll closes every port.
func (s *portSet) closeAll() {
	for i := range s.ports {
		s.close(i)
	}
}

// byName finds a port by its name.
func (s *portSet) byName(name string) *portIO {
	for _, p := range s.ports {
		if p.link.Name == name {
			return p
		}
	}
	return nil
}

// views completes the engine's view of the ports with what only the
// daemon knows: STP state and the kernel's drop counters.
func (s *portSet) views(views []snoop.PortView) []snoop.PortView {
	for i := range views {
		p := s.byName(views[i].Port)
		if p == nil {
			continue
		}
		views[i].STP = p.link.State.String()
		views[i].Peer = p.peer
		if n, err := p.conn.GuardDropped(); err == nil {
			views[i].GuardDropped = n
		}
		if n, err := p.conn.GuardRelayed(); err == nil {
			views[i].GuardRelayed = n
		}
		if n, err := p.conn.SocketDropped(); err == nil {
			views[i].SocketDropped = n
		}
	}
	return views
}

// batchSource hands a port reader the batches to fill: those the loop
// gave back, or new ones while the reader has fewer than batchesPerPort,
// sized for how busy the port is (see readBatch).
type batchSource struct {
	made  int // batches allocated and not dropped
	size  int // frames per batch the reader wants now
	quiet int // reads in a row of at most one frame
}

// next returns a batch of s.size frames: one given back, a new one, or
// else the next one given back; having to wait for that means the loop is
// behind and frames are queueing, so from then on batches are larger.
// Batches of another size are dropped on their way back. It returns false
// if the port stops first.
func (s *batchSource) next(p *portIO) (FrameBatch, bool) {
	for {
		var b FrameBatch
		select {
		case b = <-p.free:
		default:
			if s.made < batchesPerPort {
				s.made++
				return p.conn.NewBatch(s.size, frameSize), true
			}
			s.size, s.quiet = readBatch, 0
			select {
			case b = <-p.free:
			case <-p.stop:
				return nil, false
			}
		}
		if b.Cap() == s.size {
			return b, true
		}
		s.made--
	}
}

// read notes how many frames a read took, and goes back to one-frame
// batches after quietReads reads of at most one.
func (s *batchSource) read(n int) {
	if n > 1 {
		s.quiet = 0
		return
	}
	if s.quiet++; s.quiet >= quietReads {
		s.size, s.quiet = 1, 0
	}
}
