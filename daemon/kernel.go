package daemon

import (
	"context"
	"net/netip"
	"time"

	"github.com/igmpsnoop/igmpsnoop/bridge"
)

// Kernel is what the runtime needs from the operating system, and no
// more: the bridge and its links, a socket and a guard per port, the MDB,
// the bridge's multicast options and a way to send through the bridge.
// LinuxKernel implements it over package bridge; the tests use a fake.
type Kernel interface {
	// Lookup finds a bridge by name.
	Lookup(name string) (bridge.Bridge, error)
	// Addresses returns a bridge's IPv4 address and IPv6 link-local
	// address (either invalid if it has none).
	Addresses(bridgeIndex int) (v4, v6 netip.Addr, err error)
	// WatchLinks subscribes to a bridge's link events. Subscribe before
	// listing: no port change falls between the list and the events.
	WatchLinks(bridgeIndex int) (LinkWatcher, error)
	// Peer tells what is behind a port: a veth's other end, its
	// namespace, and a process and container there; the zero Peer for a
	// port that is no veth. It may scan /proc: it is asked when a port
	// appears or changes, never per frame.
	Peer(port bridge.Link) (bridge.Peer, error)

	// Options reads the bridge's multicast options.
	Options(bridgeIndex int) (bridge.Options, error)
	// SetOption sets one of them.
	SetOption(bridgeIndex int, o Option) error
	// ProbeSourceLists tells whether the kernel can hold source lists in
	// MDB entries (Linux 6.2 and later).
	ProbeSourceLists(bridgeIndex int) (bool, error)
	// ProbeReplace tells whether the kernel takes NLM_F_REPLACE and MDB
	// proto on MDB writes (Linux 6.2 and later).
	ProbeReplace(bridgeIndex int) (bool, error)
	// SetPortRouter sets a port's multicast router mode
	// (bridge.PortRouterDisabled, Learned, Permanent or Temporary).
	SetPortRouter(ifindex int, mode uint8) error

	// UseGuard sets how guards attach (auto, tcx or tc) before any port
	// opens, and returns the mode in force: tcx or tc.
	UseGuard(mode bridge.GuardMode) (bridge.GuardMode, error)
	// OpenPort opens a port: its guard first (from then on the kernel
	// learns nothing from the port's reports), then its socket.
	OpenPort(ifindex int, guard bridge.GuardOptions) (Port, error)
	// OpenRelay creates a bridge's guard relay (bridge.NewRelay), which
	// never relays a report to a group in ssm.
	OpenRelay(ssm []netip.Prefix) (bridge.Relay, error)
	// OpenPoller opens a PortPoller, for the ports of one bridge.
	OpenPoller() (PortPoller, error)
	// OpenSender opens a socket sending frames through the bridge itself,
	// as the bridge's own (its queries), to every port.
	OpenSender(bridgeIndex int) (FrameWriter, error)
	// OpenMDB opens the MDB for reading and writing. Without replace,
	// writes go without NLM_F_REPLACE and proto, as to a kernel before
	// 6.2: installing an entry the port has fails with an error wrapping
	// bridge.ErrExists.
	OpenMDB(replace bool) (MDB, error)
}

// Option is one bridge multicast option to set.
type Option struct {
	// One of these is set.
	IGMPVersion, MLDVersion uint8
	// MembershipInterval is mcast_membership_interval: how long the
	// kernel keeps a temporary entry nobody refreshes.
	MembershipInterval time.Duration
	// QuerierInterval is mcast_querier_interval: how long the kernel
	// believes in a querier it heard (and keeps a temporary router port).
	QuerierInterval time.Duration
}

// LinkWatcher follows a bridge's links.
type LinkWatcher interface {
	// Ports lists the bridge's ports as of the subscription. Call it
	// before Run, which updates what it reads.
	Ports() []bridge.Link
	// Run sends link events until ctx ends (nil) or the subscription
	// fails.
	Run(ctx context.Context, events chan<- bridge.LinkEvent) error
	Close() error
}

// FrameBatch is a set of frame buffers a port fills in one read.
type FrameBatch interface {
	// Len is how many frames the last read took; Cap how many it can.
	Len() int
	Cap() int
	// Frame returns frame i of the last read, aliasing the batch.
	Frame(i int) []byte
}

// PortPoller waits for frames on any of a bridge's ports, so that one
// reader serves them all (Linux: an epoll set over their sockets).
type PortPoller interface {
	// NewBatch returns a batch of frames buffers of size bytes, for the
	// ReadQueued of any port added.
	NewBatch(frames, size int) FrameBatch
	// Add watches a port; Wait reports it as id.
	Add(id int, p Port) error
	// Remove stops watching the port added as id.
	Remove(id int) error
	// Wait blocks until at least one port has frames queued, or an error
	// to report, and puts the ids of up to len(ready) of them in ready,
	// returning how many. A port still having frames after a read is
	// reported again, behind those that were ready before it
	// (round-robin). One goroutine at a time waits. After Close it
	// returns an error wrapping net.ErrClosed.
	Wait(ready []int) (int, error)
	// Close closes the poller, not the ports; a Wait returns.
	Close() error
}

// FrameWriter sends frames.
type FrameWriter interface {
	WriteFrame(frame []byte) error
	Close() error
}

// Port is one bridge port's socket and guard.
type Port interface {
	// ReadQueued reads what is queued, up to the batch's capacity (a
	// PortPoller's), without waiting: none read is no error. After Close
	// it returns an error wrapping net.ErrClosed.
	ReadQueued(b FrameBatch) error
	// WriteFrames sends frames out of the port, in order; it returns how
	// many were sent before an error.
	WriteFrames(frames [][]byte) (sent int, err error)
	// SetReadBuffer sizes the socket's receive queue.
	SetReadBuffer(bytes int) error
	// SocketDropped counts the frames the socket lost, its queue full.
	SocketDropped() (uint64, error)
	// GuardDropped counts the frames the guard kept from the bridge.
	GuardDropped() (uint64, error)
	// GuardRelayed counts the reports the guard relayed itself.
	GuardRelayed() (uint64, error)
	// UpdateGuard changes what the guard drops.
	UpdateGuard(bridge.GuardOptions) error
	// SetND makes the socket read the port's neighbour discovery too, or
	// stop reading it (nd_guests ports; the guard passes ND either way).
	SetND(on bool) error
	// Close closes the socket and detaches the guard.
	Close() error
}

// MDBOp is one MDB write: the entry to install (replacing any) or remove.
type MDBOp struct {
	Entry  bridge.Entry
	Remove bool
}

// MDB reads and writes bridges' multicast databases. Dump and Write may
// be called from different goroutines.
type MDB interface {
	// Dump lists a bridge's entries.
	Dump(bridgeIndex int) ([]bridge.Entry, error)
	// Write applies ops in order and returns one error per op, nil where
	// the kernel took it. Removing an entry that is not there fails with
	// an error wrapping bridge.ErrNotFound.
	Write(ops []MDBOp) []error
	Close() error
}
