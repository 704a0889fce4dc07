package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/igmpsnoop/igmpsnoop/bridge"
)

// LinuxKernel returns the Kernel of the running Linux system: package
// bridge's netlink, AF_PACKET and tc code, in the calling thread's
// network namespace.
func LinuxKernel() Kernel { return linuxKernel{peers: bridge.NewPeerFinder(), guards: &linuxGuards{}} }

type linuxKernel struct {
	peers  *bridge.PeerFinder // what it learnt of namespaces, for the next port
	guards *linuxGuards
}

// linuxGuards holds the daemon's guards, which in tc mode share the
// heartbeat (one map, one goroutine refreshing it for every bridge).
type linuxGuards struct {
	mu sync.Mutex
	g  *bridge.Guards
}

func (k linuxKernel) UseGuard(mode bridge.GuardMode) (bridge.GuardMode, error) {
	g, err := bridge.NewGuards(mode)
	if err != nil {
		return "", err
	}
	k.guards.mu.Lock()
	defer k.guards.mu.Unlock()
	k.guards.g = g
	return g.Mode(), nil
}

// get returns the guards, auto's unless UseGuard chose others.
func (lg *linuxGuards) get() (*bridge.Guards, error) {
	lg.mu.Lock()
	defer lg.mu.Unlock()
	if lg.g == nil {
		g, err := bridge.NewGuards(bridge.GuardAuto)
		if err != nil {
			return nil, err
		}
		lg.g = g
	}
	return lg.g, nil
}

func (linuxKernel) Lookup(name string) (bridge.Bridge, error) {
	br, _, err := bridge.Lookup(name)
	return br, err
}

func (linuxKernel) Addresses(bridgeIndex int) (netip.Addr, netip.Addr, error) {
	return bridge.Addresses(bridgeIndex)
}

func (linuxKernel) WatchLinks(bridgeIndex int) (LinkWatcher, error) {
	w, err := bridge.SubscribeLinks(bridgeIndex)
	if err != nil {
		return nil, err
	}
	return w, nil
}

func (k linuxKernel) Peer(port bridge.Link) (bridge.Peer, error) {
	return k.peers.Find(port.Index)
}

func (linuxKernel) Options(bridgeIndex int) (bridge.Options, error) {
	return bridge.ReadOptions(bridgeIndex)
}

func (linuxKernel) SetOption(bridgeIndex int, o Option) error {
	switch {
	case o.IGMPVersion != 0:
		return bridge.SetIGMPVersion(bridgeIndex, o.IGMPVersion)
	case o.MLDVersion != 0:
		return bridge.SetMLDVersion(bridgeIndex, o.MLDVersion)
	case o.MembershipInterval != 0:
		return bridge.SetMembershipInterval(bridgeIndex, o.MembershipInterval)
	case o.QuerierInterval != 0:
		return bridge.SetQuerierInterval(bridgeIndex, o.QuerierInterval)
	}
	return errors.New("set bridge option: none given")
}

func (linuxKernel) ProbeSourceLists(bridgeIndex int) (bool, error) {
	return bridge.ProbeSourceLists(bridgeIndex)
}

func (linuxKernel) ProbeReplace(bridgeIndex int) (bool, error) {
	return bridge.ProbeReplace(bridgeIndex)
}

func (linuxKernel) SetPortRouter(ifindex int, mode uint8) error {
	return bridge.SetPortRouter(ifindex, mode)
}

func (k linuxKernel) OpenPort(ifindex int, opts bridge.GuardOptions) (Port, error) {
	guards, err := k.guards.get()
	if err != nil {
		return nil, err
	}
	guard, err := guards.Attach(ifindex, opts)
	if err != nil {
		return nil, err
	}
	conn, err := bridge.ListenPort(ifindex)
	if err != nil {
		guard.Close()
		return nil, err
	}
	return &linuxPort{conn: conn, guard: guard}, nil
}

func (linuxKernel) OpenRelay(ssm []netip.Prefix) (bridge.Relay, error) { return bridge.NewRelay(ssm) }

func (linuxKernel) OpenPoller() (PortPoller, error) {
	p, err := bridge.NewPortPoller()
	if err != nil {
		return nil, err
	}
	return linuxPoller{p}, nil
}

// linuxPoller is an epoll set over linuxPorts' sockets.
type linuxPoller struct{ *bridge.PortPoller }

func (linuxPoller) NewBatch(frames, size int) FrameBatch { return bridge.NewFrameBatch(frames, size) }

func (p linuxPoller) Add(id int, port Port) error {
	lp, ok := port.(*linuxPort)
	if !ok {
		return fmt.Errorf("poll: a %T is not a port of this kernel's", port)
	}
	return p.PortPoller.Add(id, lp.conn)
}

func (linuxKernel) OpenSender(bridgeIndex int) (FrameWriter, error) {
	s, err := bridge.OpenBridgeSender(bridgeIndex)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (linuxKernel) OpenMDB(replace bool) (MDB, error) {
	m, err := bridge.OpenMDB()
	if err != nil {
		return nil, err
	}
	b, err := bridge.OpenMDBBatch()
	if err != nil {
		m.Close()
		return nil, err
	}
	b.SetReplace(replace)
	return &linuxMDB{dump: m, batch: b}, nil
}

// linuxPort is a port's packet socket and guard.
type linuxPort struct {
	conn  *bridge.PortConn
	guard *bridge.Guard
}

func (p *linuxPort) ReadQueued(b FrameBatch) error {
	fb, ok := b.(*bridge.FrameBatch)
	if !ok {
		return fmt.Errorf("read: a %T is not a batch of this port's (use PortPoller.NewBatch)", b)
	}
	return p.conn.ReadQueued(fb)
}

func (p *linuxPort) WriteFrames(frames [][]byte) (int, error) { return p.conn.WriteFrames(frames) }
func (p *linuxPort) SetReadBuffer(bytes int) error            { return p.conn.SetReadBuffer(bytes) }
func (p *linuxPort) GuardDropped() (uint64, error)            { return p.guard.Dropped() }
func (p *linuxPort) GuardRelayed() (uint64, error)            { return p.guard.Relayed() }
func (p *linuxPort) UpdateGuard(o bridge.GuardOptions) error  { return p.guard.Update(o) }
func (p *linuxPort) SetND(on bool) error                      { return p.conn.SetND(on) }

func (p *linuxPort) SocketDropped() (uint64, error) {
	_, n, err := p.conn.Stats()
	return n, err
}

func (p *linuxPort) Close() error {
	return errors.Join(p.conn.Close(), p.guard.Close())
}

// linuxMDB reads with one netlink socket and writes with another, in
// batches: the loop dumps while the writer goroutine writes.
type linuxMDB struct {
	dump  *bridge.MDB
	batch *bridge.MDBBatch
}

func (m *linuxMDB) Dump(bridgeIndex int) ([]bridge.Entry, error) { return m.dump.Dump(bridgeIndex) }

func (m *linuxMDB) Write(ops []MDBOp) []error {
	errs := make([]error, len(ops))
	queued := make([]int, 0, len(ops)) // ops index of each queued write
	for i, op := range ops {
		var err error
		if op.Remove {
			err = m.batch.Delete(op.Entry)
		} else {
			err = m.batch.Replace(op.Entry)
		}
		if err != nil {
			errs[i] = err
			continue
		}
		queued = append(queued, i)
	}
	if m.batch.Len() > 0 {
		for j, err := range m.batch.Flush() {
			errs[queued[j]] = err
		}
	}
	return errs
}

func (m *linuxMDB) Close() error { return errors.Join(m.dump.Close(), m.batch.Close()) }
