package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/bridge"
)

// fakeKernel is an in-memory Kernel: one bridge, its ports, its MDB and
// options. Tests feed frames into ports and link events into the
// watcher, and read what the daemon wrote. Every method is safe for
// concurrent use.
type fakeKernel struct {
	fakePollers // OpenPoller
	mu          sync.Mutex
	br          bridge.Bridge
	gone        bool // Lookup fails: the bridge was deleted
	opts        bridge.Options
	sourceLists bool
	links       []bridge.Link
	events      chan bridge.LinkEvent
	watchErr    chan error // Run returns what arrives here
	ports       map[int]*fakePort
	mdb         []bridge.Entry
	routerMode  map[int]uint8
	setOpts     []Option
	sent        [][]byte // through the bridge (queries)
	// refuse, if set, refuses MDB writes it returns an error for.
	refuse func(MDBOp) error
	// openErr, if set, fails OpenPort for a port.
	openErr func(ifindex int) error
	// routerErr, if set, fails SetPortRouter for a port.
	routerErr func(ifindex int, mode uint8) error
	// dumpErr, if set, fails MDB dumps.
	dumpErr error
	// peers are what is behind ports, by ifindex; peerErr fails the
	// look-ups; peerAsked counts them.
	peers     map[int]bridge.Peer
	peerErr   error
	peerAsked map[int]int

	// noReplace makes it a kernel before 6.2: no NLM_F_REPLACE, no proto.
	noReplace bool
	// writes logs each MDB Write's ops, when not nil.
	writes [][]MDBOp

	// guardAsked is the mode UseGuard was given; guardErr fails it.
	guardAsked bridge.GuardMode
	guardErr   error

	// relays are the relays OpenRelay made, the last one current;
	// relayErr fails it.
	relays   []*fakeRelay
	relayErr error
	// relayRefused, by ifindex, fails a guard with a relay on the port, as
	// a verifier refusing the relay's part of the program would.
	relayRefused map[int]bool
}

// fakeRelay records what the daemon sets in a guard relay.
type fakeRelay struct {
	k       *fakeKernel
	ssm     []netip.Prefix
	targets [2][]int        // IGMP, MLD
	from    map[int][2]bool // IGMP, MLD
	closed  bool
	// portErr fails SetPort; portCalls counts the calls.
	portErr   error
	portCalls int
}

func (r *fakeRelay) SetTargets(mld bool, ports []int) error {
	r.k.mu.Lock()
	defer r.k.mu.Unlock()
	r.targets[b2i(mld)] = slices.Clone(ports)
	return nil
}

func (r *fakeRelay) SetPort(ifindex int, igmp, mld bool) error {
	r.k.mu.Lock()
	defer r.k.mu.Unlock()
	r.portCalls++
	if r.portErr != nil {
		return r.portErr
	}
	if !igmp && !mld {
		delete(r.from, ifindex)
	} else {
		r.from[ifindex] = [2]bool{igmp, mld}
	}
	return nil
}

func (r *fakeRelay) Close() error {
	r.k.mu.Lock()
	defer r.k.mu.Unlock()
	r.closed = true
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (k *fakeKernel) OpenRelay(ssm []netip.Prefix) (bridge.Relay, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.relayErr != nil {
		return nil, k.relayErr
	}
	r := &fakeRelay{k: k, ssm: ssm, from: make(map[int][2]bool)}
	k.relays = append(k.relays, r)
	return r, nil
}

func newFakeKernel(ports ...string) *fakeKernel {
	k := &fakeKernel{
		br: bridge.Bridge{
			Link: bridge.Link{Index: 1, Name: "br0", Up: true, MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, State: bridge.StateForwarding},
			IPv4: netip.MustParseAddr("10.77.0.1"), IPv6: netip.MustParseAddr("fe80::1"),
		},
		opts: bridge.Options{Snooping: true, MembershipInterval: 260 * time.Second, QuerierInterval: 255 * time.Second,
			HashMax: 4096, IGMPVersion: 2, MLDVersion: 1},
		sourceLists: true,
		events:      make(chan bridge.LinkEvent, 64),
		watchErr:    make(chan error, 1),
		ports:       map[int]*fakePort{},
		routerMode:  map[int]uint8{},
	}
	for i, name := range ports {
		k.links = append(k.links, fakeLink(10+i, name))
	}
	return k
}

// fakeLink is an up, forwarding port.
func fakeLink(index int, name string) bridge.Link {
	return bridge.Link{Index: index, Name: name, MasterIndex: 1, Up: true, State: bridge.StateForwarding,
		MAC: net.HardwareAddr{2, 0, 0, 0, 1, byte(index)}}
}

func (k *fakeKernel) Lookup(name string) (bridge.Bridge, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.gone || name != k.br.Name {
		return bridge.Bridge{}, fmt.Errorf("lookup %s: %w", name, bridge.ErrNoLink)
	}
	return k.br, nil
}

func (k *fakeKernel) Addresses(int) (netip.Addr, netip.Addr, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.br.IPv4, k.br.IPv6, nil
}

func (k *fakeKernel) WatchLinks(int) (LinkWatcher, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return &fakeWatcher{k: k, ports: slices.Clone(k.links)}, nil
}

func (k *fakeKernel) Peer(port bridge.Link) (bridge.Peer, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.peerAsked == nil {
		k.peerAsked = map[int]int{}
	}
	k.peerAsked[port.Index]++
	if k.peerErr != nil {
		return bridge.Peer{}, k.peerErr
	}
	return k.peers[port.Index], nil
}

// setPeer puts p behind port ifindex (the zero Peer: nothing).
func (k *fakeKernel) setPeer(ifindex int, p bridge.Peer) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.peers == nil {
		k.peers = map[int]bridge.Peer{}
	}
	k.peers[ifindex] = p
}

// peerLookups is how many times the daemon asked for port ifindex's peer.
func (k *fakeKernel) peerLookups(ifindex int) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.peerAsked[ifindex]
}

func (k *fakeKernel) Options(int) (bridge.Options, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.opts, nil
}

func (k *fakeKernel) SetOption(_ int, o Option) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.setOpts = append(k.setOpts, o)
	switch {
	case o.IGMPVersion != 0:
		k.opts.IGMPVersion = o.IGMPVersion
	case o.MLDVersion != 0:
		k.opts.MLDVersion = o.MLDVersion
	case o.MembershipInterval != 0:
		k.opts.MembershipInterval = o.MembershipInterval
	case o.QuerierInterval != 0:
		k.opts.QuerierInterval = o.QuerierInterval
	default:
		return errors.New("no option")
	}
	return nil
}

func (k *fakeKernel) ProbeSourceLists(int) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.sourceLists, nil
}

func (k *fakeKernel) SetPortRouter(ifindex int, mode uint8) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.routerErr != nil {
		if err := k.routerErr(ifindex, mode); err != nil {
			return err
		}
	}
	k.routerMode[ifindex] = mode
	return nil
}

func (k *fakeKernel) OpenPort(ifindex int, g bridge.GuardOptions) (Port, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.openErr != nil {
		if err := k.openErr(ifindex); err != nil {
			return nil, err
		}
	}
	if g.Relay != nil && k.relayRefused[ifindex] {
		return nil, errors.New("guard: relay refused")
	}
	p := &fakePort{k: k, ifindex: ifindex, in: make(chan []byte, 256), closed: make(chan struct{}), guard: g}
	k.ports[ifindex] = p
	return p, nil
}

func (k *fakeKernel) OpenSender(int) (FrameWriter, error) { return fakeSender{k}, nil }

func (k *fakeKernel) OpenMDB(replace bool) (MDB, error) { return fakeMDB{k, replace}, nil }

func (k *fakeKernel) ProbeReplace(int) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return !k.noReplace, nil
}

// port returns the port the daemon opened on ifindex, or nil.
func (k *fakeKernel) port(ifindex int) *fakePort {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ports[ifindex]
}

// entries returns a copy of the MDB.
func (k *fakeKernel) entries() []bridge.Entry {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.mdb)
}

// locked runs f with the kernel locked: tests change its state with it,
// behind the daemon's back.
func (k *fakeKernel) locked(f func()) {
	k.mu.Lock()
	defer k.mu.Unlock()
	f()
}

// routerModeOf is the router mode the daemon set on a port, if any.
func routerModeOf(k *fakeKernel, ifindex int) (uint8, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	m, ok := k.routerMode[ifindex]
	return m, ok
}

func (k *fakeKernel) sentFrames() [][]byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.sent)
}

func sameEntry(a, b bridge.Entry) bool {
	return a.Bridge == b.Bridge && a.Port == b.Port && a.Group == b.Group && a.Source == b.Source && a.VID == b.VID
}

// fakeMDB writes as bridge.MDBBatch does: with replace, NLM_F_REPLACE
// and the entry's proto; without, neither. Like the kernel, it refuses a
// proto before 6.2 (noReplace), and an add of an entry the port has
// without NLM_F_REPLACE (EEXIST), leaving that entry as it was; an entry
// written without proto says bridge.ProtoStatic.
type fakeMDB struct {
	k       *fakeKernel
	replace bool
}

func (m fakeMDB) Dump(int) ([]bridge.Entry, error) {
	m.k.mu.Lock()
	err := m.k.dumpErr
	m.k.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return m.k.entries(), nil
}
func (m fakeMDB) Close() error { return nil }

func (m fakeMDB) Write(ops []MDBOp) []error {
	k := m.k
	k.mu.Lock()
	defer k.mu.Unlock()
	errs := make([]error, len(ops))
	if k.writes != nil {
		k.writes = append(k.writes, slices.Clone(ops))
	}
	for i, op := range ops {
		if k.refuse != nil {
			if errs[i] = k.refuse(op); errs[i] != nil {
				continue
			}
		}
		at := slices.IndexFunc(k.mdb, func(e bridge.Entry) bool { return sameEntry(e, op.Entry) })
		switch {
		case op.Remove && at < 0:
			errs[i] = fmt.Errorf("delete %v: %w", op.Entry, bridge.ErrNotFound)
		case op.Remove:
			k.mdb = slices.Delete(k.mdb, at, at+1)
		case m.replace && k.noReplace:
			errs[i] = fmt.Errorf("add %v: %w", op.Entry, syscall.EINVAL) // MDBE_ATTR_RTPROT unknown
		case at >= 0 && !m.replace:
			errs[i] = fmt.Errorf("add %v: %w (%w)", op.Entry, bridge.ErrExists, syscall.EEXIST)
		default:
			e := op.Entry
			if !m.replace {
				e.Proto = bridge.ProtoStatic
			}
			if at < 0 {
				k.mdb = append(k.mdb, e)
			} else {
				k.mdb[at] = e
			}
		}
	}
	return errs
}

type fakeSender struct{ k *fakeKernel }

func (s fakeSender) WriteFrame(f []byte) error {
	s.k.mu.Lock()
	defer s.k.mu.Unlock()
	s.k.sent = append(s.k.sent, slices.Clone(f))
	return nil
}

func (s fakeSender) Close() error { return nil }

type fakeWatcher struct {
	k     *fakeKernel
	ports []bridge.Link
}

func (w *fakeWatcher) Ports() []bridge.Link { return w.ports }
func (w *fakeWatcher) Close() error         { return nil }

func (w *fakeWatcher) Run(ctx context.Context, events chan<- bridge.LinkEvent) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-w.k.watchErr:
			return err
		case ev := <-w.k.events:
			select {
			case events <- ev:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// fakePort is a port's socket and guard: frames sent to in are read by
// the daemon, frames it writes are kept in out.
type fakePort struct {
	k       *fakeKernel
	ifindex int
	in      chan []byte
	mu      sync.Mutex
	out     [][]byte
	guard   bridge.GuardOptions
	nd      bool // SetND
	closed  chan struct{}
	once    sync.Once
	// writeErr, if set, refuses the frames it returns an error for.
	writeErr func(frame []byte) error
	// pending are frames the poller took from in to see the port ready.
	pending [][]byte
	// readErr, if set, fails reads when it returns an error.
	readErr func() error
}

// ReadQueued reads what the poller took from in (pending) and what is
// still in it, up to the batch's capacity.
func (p *fakePort) ReadQueued(fb FrameBatch) error {
	b := fb.(*fakeBatch)
	b.n = 0
	if p.isClosed() {
		return fmt.Errorf("read port %d: %w", p.ifindex, net.ErrClosed)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.readErr != nil {
		if err := p.readErr(); err != nil {
			return err
		}
	}
	for b.n < len(b.bufs) && len(p.pending) > 0 {
		b.lens[b.n] = copy(b.bufs[b.n], p.pending[0])
		p.pending = p.pending[1:]
		b.n++
	}
	for b.n < len(b.bufs) {
		select {
		case f := <-p.in:
			b.lens[b.n] = copy(b.bufs[b.n], f)
			b.n++
		default:
			return nil
		}
	}
	return nil
}

func (p *fakePort) WriteFrames(frames [][]byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, f := range frames {
		if p.writeErr != nil {
			if err := p.writeErr(f); err != nil {
				return i, err
			}
		}
		p.out = append(p.out, slices.Clone(f))
	}
	return len(frames), nil
}

func (p *fakePort) written() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.out)
}

func (p *fakePort) SetReadBuffer(int) error        { return nil }
func (p *fakePort) SocketDropped() (uint64, error) { return 3, nil }
func (p *fakePort) GuardDropped() (uint64, error)  { return 5, nil }
func (p *fakePort) GuardRelayed() (uint64, error)  { return 3, nil }

func (p *fakePort) UpdateGuard(g bridge.GuardOptions) error {
	if p.k != nil {
		p.k.mu.Lock()
		refused := g.Relay != nil && p.k.relayRefused[p.ifindex]
		p.k.mu.Unlock()
		if refused {
			return errors.New("guard: relay refused")
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.guard = g
	return nil
}

func (p *fakePort) SetND(on bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nd = on
	return nil
}

func (p *fakePort) readsND() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nd
}

func (p *fakePort) guardOptions() bridge.GuardOptions {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.guard
}

func (p *fakePort) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

func (p *fakePort) isClosed() bool {
	select {
	case <-p.closed:
		return true
	default:
		return false
	}
}

// eventually polls cond every few milliseconds for up to two seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventuallyWithin(t, 2*time.Second, what, cond)
}

// eventuallyWithin polls cond every few milliseconds for up to d.
func eventuallyWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for range int(d / (5 * time.Millisecond)) {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
