package daemon

import (
	"go.uber.org/zap"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// frameSize bounds what a port reader accepts; IGMP frames are far smaller,
// and a larger one is truncated and then refused by the decoder.
const frameSize = 2048

// portReadBuffer is each port socket's receive queue: room for a join
// storm of some 3 500 reports per port while the loop catches up.
const portReadBuffer = 2 << 20

// portIO is what the daemon holds open on one bridge port.
type portIO struct {
	link bridge.Link // as last reported; the loop's
	conn Port
	// peer is what is behind the port (nil: nothing known); the loop's.
	peer *snoop.PeerView
	// relay is the relay the port's guard holds (nil: none), which may
	// lag the bridge's if moving the guard to a new one failed.
	relay bridge.Relay
}

// portSet is the ports the loop snoops on, by ifindex, and their reader.
type portSet struct {
	kernel Kernel
	log    *zap.Logger
	// release undoes, as a port closes, what was set on it in the kernel.
	release func(bridge.Link)
	ports   map[int]*portIO
	// reader reads every port (nil until one opens) into frames, a round
	// at a time; the channel has room for all its rounds.
	reader *portReader
	frames chan *frameRound
}

func newPortSet(k Kernel, log *zap.Logger, release func(bridge.Link)) *portSet {
	return &portSet{kernel: k, log: log, release: release, ports: make(map[int]*portIO), frames: make(chan *frameRound, roundsInFlight)}
}

// open starts snooping on a port: the guard first, so the kernel learns
// nothing from it from now on, then the socket; then prepare (the port's
// kernel settings), and only if that worked the reading.
func (s *portSet) open(l bridge.Link, guard bridge.GuardOptions, prepare func(bridge.Link) error) error {
	if s.reader == nil {
		r, err := startPortReader(s.kernel, s.log, s.frames)
		if err != nil {
			return err
		}
		s.reader = r
	}
	conn, err := s.kernel.OpenPort(l.Index, guard)
	if err != nil && guard.Relay != nil {
		// E.g. a verifier refusing the relay's part of the program: the
		// port is guarded without it, and the daemon relays its reports.
		s.log.Warn("guard relay refused on the port: the daemon relays its reports", zap.String("port", l.Name), zap.Error(err))
		guard.Relay = nil
		conn, err = s.kernel.OpenPort(l.Index, guard)
	}
	if err != nil {
		return err
	}
	if err := prepare(l); err != nil {
		s.closeConn(l, conn)
		return err
	}
	if err := conn.SetReadBuffer(portReadBuffer); err != nil {
		s.log.Warn("join storms on this port may lose reports", zap.String("port", l.Name), zap.Error(err))
	}
	if err := s.reader.add(l.Index, l.Name, conn); err != nil {
		s.release(l)
		s.closeConn(l, conn)
		return err
	}
	s.ports[l.Index] = &portIO{link: l, conn: conn, relay: guard.Relay}
	return nil
}

// updateGuard moves a port's guard to opts; if the relay's part is what
// fails, to opts without it (the daemon relays the port's reports). On
// failure the port keeps its guard, and p.relay says which relay that
// holds.
func (s *portSet) updateGuard(p *portIO, opts bridge.GuardOptions) error {
	err := p.conn.UpdateGuard(opts)
	if err != nil && opts.Relay != nil {
		s.log.Warn("guard relay refused on the port: the daemon relays its reports", zap.String("port", p.link.Name), zap.Error(err))
		opts.Relay = nil
		err = p.conn.UpdateGuard(opts)
	}
	if err != nil {
		return err
	}
	p.relay = opts.Relay
	return nil
}

func (s *portSet) closeConn(l bridge.Link, conn Port) {
	if err := conn.Close(); err != nil {
		s.log.Debug("port close", zap.String("port", l.Name), zap.Error(err))
	}
}

// close stops snooping on a port: its reading, socket and guard, and
// what was set on it in the kernel.
func (s *portSet) close(ifindex int) {
	p := s.ports[ifindex]
	if p == nil {
		return
	}
	delete(s.ports, ifindex)
	s.release(p.link)
	s.reader.remove(ifindex)
	s.closeConn(p.link, p.conn)
}

// closeAll closes every port, and stops the reader.
func (s *portSet) closeAll() {
	for i := range s.ports {
		s.close(i)
	}
	if s.reader != nil {
		s.reader.close()
		s.reader = nil
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
