package lab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/igmpsnoop/igmpsnoop/wire"
)

// Config shapes a lab. Zero values take the defaults noted.
type Config struct {
	// Prefix starts every namespace name; it must be unique among labs
	// running at once and at most 8 characters.
	Prefix string
	// Hosts is the number of receiving hosts (default 3).
	Hosts int
	// QueryInterval and QueryResponseInterval drive the router's querier
	// (defaults 2 s and 1 s: short, so tests are fast).
	QueryInterval         time.Duration
	QueryResponseInterval time.Duration
	// RouterIGMPVersion is the querier's IGMP version, 2 or 3 (default 3).
	RouterIGMPVersion int
	// NoQuerier leaves the router silent: a LAN without a querier (see
	// SetRouterQuerier).
	NoQuerier bool
	// IPv6 enables IPv6 everywhere (addresses in fd77::/64), so hosts speak
	// MLD; otherwise IPv6 is off and only IGMP is in play.
	IPv6 bool
}

// Host is a receiving host: a namespace whose eth0 is plugged into Port of
// the snooping bridge.
type Host struct {
	Name  string // namespace
	Port  string // its port on the snooping bridge
	Addr  netip.Addr
	Addr6 netip.Addr // invalid unless the lab has IPv6
}

// Lab is a snooping bridge (Bridge in namespace Switch) with a querier on
// port RouterPort, a multicast sender on port SenderPort, and hosts.
type Lab struct {
	Switch, Router, Sender string // namespaces
	Bridge                 string
	RouterPort, SenderPort string
	RouterAddr             netip.Addr // the router's querier
	BridgeAddr             netip.Addr // the snooping bridge's own address
	Hosts                  []Host
	ipv6                   bool
	namespaces             []string
}

// Lab addresses all lie in 10.77.0.0/24 and fd77::/64, inside the lab's
// namespaces. The sender has two addresses of each family, so tests can
// tell sources apart.
const (
	routerAddr   = "10.77.0.1"
	bridgeAddr   = "10.77.0.2"
	senderAddr   = "10.77.0.100"
	sender2Addr  = "10.77.0.101"
	senderAddr6  = "fd77::100"
	sender2Addr6 = "fd77::101"
)

// Sender addresses, for source-specific tests.
var (
	Sender1  = netip.MustParseAddr(senderAddr)
	Sender2  = netip.MustParseAddr(sender2Addr)
	Sender16 = netip.MustParseAddr(senderAddr6)
	Sender26 = netip.MustParseAddr(sender2Addr6)
)

// New builds a lab; on error it removes what it built.
func New(c Config) (l *Lab, err error) {
	if c.Prefix == "" || len(c.Prefix) > 8 {
		return nil, fmt.Errorf("lab prefix %q: must be 1..8 characters", c.Prefix)
	}
	if c.Hosts == 0 {
		c.Hosts = 3
	}
	if c.QueryInterval == 0 {
		c.QueryInterval = 2 * time.Second
	}
	if c.QueryResponseInterval == 0 {
		c.QueryResponseInterval = time.Second
	}
	if c.RouterIGMPVersion == 0 {
		c.RouterIGMPVersion = 3
	}
	lab := &Lab{
		Switch: c.Prefix + "-sw", Router: c.Prefix + "-rt", Sender: c.Prefix + "-tx",
		Bridge: "br0", RouterPort: "rt0", SenderPort: "tx0",
		RouterAddr: netip.MustParseAddr(routerAddr), BridgeAddr: netip.MustParseAddr(bridgeAddr), ipv6: c.IPv6,
	}
	l = lab
	defer func() {
		if err != nil {
			lab.Close() // l is nil by now
		}
	}()
	for _, ns := range []string{l.Switch, l.Router, l.Sender} {
		if err := l.AddNetns(ns); err != nil {
			return nil, err
		}
	}
	// The switch: a bridge that snoops. No querier of its own: the router
	// is the querier, as on most real LANs.
	if err := l.Run(l.Switch, "ip", "link", "add", l.Bridge, "type", "bridge", "mcast_snooping", "1"); err != nil {
		return nil, err
	}
	if err := l.Plug(l.RouterPort, l.Router); err != nil {
		return nil, err
	}
	if err := l.Plug(l.SenderPort, l.Sender); err != nil {
		return nil, err
	}
	for i := 1; i <= c.Hosts; i++ {
		h := Host{Name: c.Prefix + "-h" + strconv.Itoa(i), Port: "h" + strconv.Itoa(i), Addr: netip.AddrFrom4([4]byte{10, 77, 0, byte(10 + i)})}
		if err := l.AddNetns(h.Name); err != nil {
			return nil, err
		}
		if err := l.Plug(h.Port, h.Name); err != nil {
			return nil, err
		}
		if err := l.Run(h.Name, "ip", "addr", "add", h.Addr.String()+"/24", "dev", "eth0"); err != nil {
			return nil, err
		}
		if c.IPv6 {
			h.Addr6 = netip.AddrFrom16([16]byte{0xfd, 0x77, 15: byte(10 + i)})
			if err := l.Run(h.Name, "ip", "addr", "add", h.Addr6.String()+"/64", "dev", "eth0", "nodad"); err != nil {
				return nil, err
			}
		}
		l.Hosts = append(l.Hosts, h)
	}
	steps := [][]string{
		{l.Switch, "ip", "addr", "add", bridgeAddr + "/24", "dev", l.Bridge},
		{l.Switch, "ip", "link", "set", l.Bridge, "up"},
		{l.Sender, "ip", "addr", "add", senderAddr + "/24", "dev", "eth0"},
		{l.Sender, "ip", "addr", "add", sender2Addr + "/24", "dev", "eth0"},
		{l.Sender, "ip", "route", "add", "224.0.0.0/4", "dev", "eth0"},
	}
	if c.IPv6 {
		steps = append(steps,
			[]string{l.Sender, "ip", "addr", "add", senderAddr6 + "/64", "dev", "eth0", "nodad"},
			[]string{l.Sender, "ip", "addr", "add", sender2Addr6 + "/64", "dev", "eth0", "nodad"})
	}
	for _, st := range steps {
		if err := l.Run(st[0], st[1], st[2:]...); err != nil {
			return nil, err
		}
	}
	if err := l.setupRouter(c); err != nil {
		return nil, err
	}
	return l, nil
}

// setupRouter makes the router namespace a querier: a one-port bridge
// querying from its own address (a query from 0.0.0.0 makes no router port,
// RFC 4541 C2). The querier is switched on after creation: given to
// `ip link add`, mcast_querier makes the kernel send queries but leaves the
// new bridge not snooping.
func (l *Lab) setupRouter(c Config) error {
	cs := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds()/10, 10) }
	steps := [][]string{
		{"ip", "link", "add", "rbr", "type", "bridge", "mcast_snooping", "1", "mcast_query_use_ifaddr", "1",
			"mcast_igmp_version", strconv.Itoa(c.RouterIGMPVersion), "mcast_mld_version", "2",
			"mcast_query_interval", cs(c.QueryInterval), "mcast_query_response_interval", cs(c.QueryResponseInterval),
			"mcast_startup_query_interval", cs(c.QueryInterval / 4)},
		{"ip", "link", "set", "eth0", "master", "rbr"},
		{"ip", "addr", "add", routerAddr + "/24", "dev", "rbr"},
		{"ip", "link", "set", "rbr", "up"},
	}
	for _, s := range steps {
		if err := l.Run(l.Router, s[0], s[1:]...); err != nil {
			return err
		}
	}
	if c.NoQuerier {
		return nil
	}
	return l.SetRouterQuerier(true)
}

// SetRouterQuerier switches the router's querier on or off.
func (l *Lab) SetRouterQuerier(on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	return l.Run(l.Router, "ip", "link", "set", "rbr", "type", "bridge", "mcast_querier", v)
}

// AddNetns adds namespace name to the lab, which deletes it on Close,
// with lo up and, unless the lab has IPv6, IPv6 off.
func (l *Lab) AddNetns(name string) error {
	if err := ip("netns", "add", name); err != nil {
		return err
	}
	l.namespaces = append(l.namespaces, name)
	// IPv6 off unless asked for: hosts' MLD traffic (solicited-node groups)
	// would otherwise fill the tables of IGMP-only tests.
	if !l.ipv6 {
		for _, s := range []string{"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"} {
			if err := l.Run(name, "sysctl", "-qw", s); err != nil {
				return err
			}
		}
	}
	return l.Run(name, "ip", "link", "set", "lo", "up")
}

// Plug connects a new port of the switch bridge to eth0 in namespace ns.
func (l *Lab) Plug(port, ns string) error {
	if err := ip("link", "add", port, "netns", l.Switch, "type", "veth", "peer", "name", "eth0", "netns", ns); err != nil {
		return err
	}
	for _, s := range [][]string{
		{l.Switch, "ip", "link", "set", port, "master", l.Bridge},
		{l.Switch, "ip", "link", "set", port, "up"},
		{ns, "ip", "link", "set", "eth0", "up"},
	} {
		if err := l.Run(s[0], s[1], s[2:]...); err != nil {
			return err
		}
	}
	return nil
}

// Run runs a command inside namespace ns; Exec also returns its output.
func (l *Lab) Run(ns, name string, args ...string) error {
	_, err := l.Exec(ns, name, args...)
	return err
}

// Exec runs a command inside namespace ns and returns its output.
func (l *Lab) Exec(ns, name string, args ...string) (string, error) {
	return Run("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Close deletes the lab's namespaces, and with them every link in them.
func (l *Lab) Close() error {
	var errs []error
	for i := len(l.namespaces) - 1; i >= 0; i-- {
		if err := ip("netns", "del", l.namespaces[i]); err != nil {
			errs = append(errs, err)
		}
	}
	l.namespaces = nil
	return errors.Join(errs...)
}

// Membership is a host's join of a group through an ordinary socket: the
// host's kernel sends the IGMP reports, answers queries and, on Leave,
// sends the leave.
type Membership struct {
	conn net.PacketConn
}

// Join makes host join group (IPv4 or IPv6) on its eth0 with a UDP socket.
func (l *Lab) Join(h Host, group netip.Addr) (*Membership, error) {
	return l.join(h, group, netip.Addr{}, false)
}

// JoinSource makes host join (source, group) only: an SSM receiver
// (IP_ADD_SOURCE_MEMBERSHIP / MCAST_JOIN_SOURCE_GROUP).
func (l *Lab) JoinSource(h Host, group, source netip.Addr) (*Membership, error) {
	return l.join(h, group, source, false)
}

// JoinExcluding makes host join group from every source but source: an
// any-source join, then MCAST_BLOCK_SOURCE, so the host's kernel is in
// EXCLUDE {source} mode.
func (l *Lab) JoinExcluding(h Host, group, source netip.Addr) (*Membership, error) {
	return l.join(h, group, source, true)
}

func (l *Lab) join(h Host, group, source netip.Addr, exclude bool) (*Membership, error) {
	var m *Membership
	err := InNetns(h.Name, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		g := &net.UDPAddr{IP: group.AsSlice()}
		// ipv4.PacketConn and ipv6.PacketConn join alike.
		var c net.PacketConn
		var pc interface {
			JoinGroup(*net.Interface, net.Addr) error
			JoinSourceSpecificGroup(*net.Interface, net.Addr, net.Addr) error
			ExcludeSourceSpecificGroup(*net.Interface, net.Addr, net.Addr) error
		}
		if group.Is6() {
			if c, err = net.ListenPacket("udp6", "[::]:0"); err != nil {
				return err
			}
			pc = ipv6.NewPacketConn(c)
		} else {
			if c, err = net.ListenPacket("udp4", "0.0.0.0:0"); err != nil {
				return err
			}
			pc = ipv4.NewPacketConn(c)
		}
		src := &net.UDPAddr{IP: source.AsSlice()}
		if source.IsValid() && !exclude {
			err = pc.JoinSourceSpecificGroup(ifi, g, src)
		} else {
			err = pc.JoinGroup(ifi, g)
		}
		if err != nil {
			c.Close()
			return fmt.Errorf("join %v: %w", group, err)
		}
		if exclude {
			if err := pc.ExcludeSourceSpecificGroup(ifi, g, src); err != nil {
				c.Close()
				return fmt.Errorf("block %v in %v: %w", source, group, err)
			}
		}
		m = &Membership{conn: c}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", h.Name, err)
	}
	return m, nil
}

// Leave closes the socket; the host's kernel sends a leave if it was the
// last member on the host.
func (m *Membership) Leave() error { return m.conn.Close() }

// ForceIGMPVersion makes host speak only IGMP version v (1, 2 or 3).
func (l *Lab) ForceIGMPVersion(h Host, v int) error {
	return l.Run(h.Name, "sysctl", "-qw", "net.ipv4.conf.eth0.force_igmp_version="+strconv.Itoa(v))
}

// ForceMLDVersion makes host speak only MLD version v (1 or 2).
func (l *Lab) ForceMLDVersion(h Host, v int) error {
	return l.Run(h.Name, "sysctl", "-qw", "net.ipv6.conf.eth0.force_mld_version="+strconv.Itoa(v))
}

// Silence drops every IGMP frame host sends, keeping its memberships: the
// host goes silent, as a crashed or unplugged-upstream host would. Classic
// BPF at tc egress: ethertype IPv4 and IP protocol 2 -> drop (2), else 0.
func (l *Lab) Silence(h Host) error {
	const dropIGMP = "6,40 0 0 12,21 0 3 2048,48 0 0 23,21 0 1 2,6 0 0 2,6 0 0 0"
	if err := l.Run(h.Name, "tc", "qdisc", "add", "dev", "eth0", "clsact"); err != nil {
		return err
	}
	return l.Run(h.Name, "tc", "filter", "add", "dev", "eth0", "egress", "bpf", "da", "bytecode", dropIGMP)
}

// Send sends count UDP datagrams to group:5000 from the sender's first
// address of the group's family, gap apart.
func (l *Lab) Send(group netip.Addr, count int, gap time.Duration) error {
	src := Sender1
	if group.Is6() {
		src = Sender16
	}
	return l.SendFrom(src, group, count, gap)
}

// SendFrom sends count UDP datagrams to group:5000 from the sender's
// address src, gap apart.
func (l *Lab) SendFrom(src, group netip.Addr, count int, gap time.Duration) error {
	return InNetns(l.Sender, func() error {
		network := "udp4"
		if group.Is6() {
			network = "udp6"
		}
		laddr := &net.UDPAddr{IP: src.AsSlice()}
		raddr := &net.UDPAddr{IP: group.AsSlice(), Port: 5000}
		if group.Is6() {
			raddr.Zone = "eth0" // multicast needs an interface
		}
		c, err := net.DialUDP(network, laddr, raddr)
		if err != nil {
			return err
		}
		defer c.Close()
		for i := 0; i < count; i++ {
			if _, err := c.Write([]byte("igmpsnoop lab " + strconv.Itoa(i))); err != nil {
				return fmt.Errorf("send to %v: %w", group, err)
			}
			time.Sleep(gap)
		}
		return nil
	})
}

// Frame is a frame a Sniffer read, with the time it was read.
type Frame struct {
	At   time.Time
	Data []byte // the Ethernet frame, cut to the first 4096 bytes
}

// MaxSniffed bounds the frames a Sniffer keeps: it keeps the first
// MaxSniffed after its start or latest Reset and counts the rest as
// dropped.
const MaxSniffed = 20000

// Sniffer records the frames seen on eth0 of a namespace, in and out, each
// with the time it was read: what the wire carried, whether or not a socket
// wanted it. Its methods may be called while it records.
type Sniffer struct {
	conn    *packet.Conn
	mu      sync.Mutex
	frames  []Frame
	dropped int
	done    chan struct{}
}

// Sniff starts recording on eth0 of namespace ns; Close stops it.
func (l *Lab) Sniff(ns string) (*Sniffer, error) {
	var s *Sniffer
	err := InNetns(ns, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		conn, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
		if err != nil {
			return err
		}
		s = &Sniffer{conn: conn, done: make(chan struct{})}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sniff in %s: %w", ns, err)
	}
	go s.read()
	return s, nil
}

func (s *Sniffer) read() {
	defer close(s.done)
	buf := make([]byte, 4096)
	for {
		n, _, err := s.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		at := time.Now()
		s.mu.Lock()
		if len(s.frames) < MaxSniffed {
			s.frames = append(s.frames, Frame{At: at, Data: slices.Clone(buf[:n])})
		} else {
			s.dropped++
		}
		s.mu.Unlock()
	}
}

// Frames returns the frames recorded so far, oldest first. The slice is
// the caller's to read; the Sniffer goes on recording past its end.
func (s *Sniffer) Frames() []Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.frames[:len(s.frames):len(s.frames)]
}

// First returns the first frame recorded after since that match accepts.
func (s *Sniffer) First(since time.Time, match func([]byte) bool) (Frame, bool) {
	for _, f := range s.Frames() {
		if f.At.After(since) && match(f.Data) {
			return f, true
		}
	}
	return Frame{}, false
}

// Dropped returns how many frames arrived, since the start or the latest
// Reset, after MaxSniffed had been recorded.
func (s *Sniffer) Dropped() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Reset forgets the frames recorded so far; slices Frames returned before
// stay as they were.
func (s *Sniffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames, s.dropped = nil, 0
}

// Close stops recording and returns once the reader has stopped; the
// frames recorded stay readable.
func (s *Sniffer) Close() error {
	err := s.conn.Close()
	<-s.done
	return err
}

// Capture counts, over the frames its Sniffer recorded on eth0 of a
// namespace, the multicast UDP frames by flow and the IGMP frames by
// source. Reset and Close are the Sniffer's.
type Capture struct {
	*Sniffer
}

type flow struct{ src, group netip.Addr }

// Capture starts counting on eth0 of namespace ns.
func (l *Lab) Capture(ns string) (*Capture, error) {
	s, err := l.Sniff(ns)
	if err != nil {
		return nil, err
	}
	return &Capture{s}, nil
}

// udpFlow returns the flow of a multicast UDP frame: IPv4, or IPv6 with
// UDP straight after the header.
func udpFlow(f []byte) (flow, bool) {
	switch {
	case len(f) >= 34 && f[12] == 0x08 && f[13] == 0x00 && f[23] == 17 && f[30]&0xf0 == 0xe0:
		return flow{netip.AddrFrom4([4]byte(f[26:30])), netip.AddrFrom4([4]byte(f[30:34]))}, true
	case len(f) >= 54 && f[12] == 0x86 && f[13] == 0xdd && f[20] == 17 && f[38] == 0xff:
		return flow{netip.AddrFrom16([16]byte(f[22:38])), netip.AddrFrom16([16]byte(f[38:54]))}, true
	}
	return flow{}, false
}

// igmpSource returns the IP source of an IGMP frame.
func igmpSource(f []byte) (netip.Addr, bool) {
	if len(f) >= 34 && f[12] == 0x08 && f[13] == 0x00 && f[23] == 2 {
		return netip.AddrFrom4([4]byte(f[26:30])), true
	}
	return netip.Addr{}, false
}

// Count returns how many frames to group arrived so far, from any source.
func (c *Capture) Count(group netip.Addr) int {
	n := 0
	for _, f := range c.Frames() {
		if fl, ok := udpFlow(f.Data); ok && fl.group == group {
			n++
		}
	}
	return n
}

// CountFrom returns how many frames from src to group arrived so far.
func (c *Capture) CountFrom(src, group netip.Addr) int {
	n := 0
	for _, f := range c.Frames() {
		if fl, ok := udpFlow(f.Data); ok && fl == (flow{src, group}) {
			n++
		}
	}
	return n
}

// IGMPFrom returns how many IGMP frames from IP source src arrived so far.
func (c *Capture) IGMPFrom(src netip.Addr) int {
	n := 0
	for _, f := range c.Frames() {
		if a, ok := igmpSource(f.Data); ok && a == src {
			n++
		}
	}
	return n
}

// Unicast6 sends one UDP datagram over IPv6 from one host to another's
// fd77:: address and reports whether it arrived: it needs neighbour
// discovery, whose solicitations go to a snooped multicast group.
func (l *Lab) Unicast6(from, to Host, timeout time.Duration) error {
	var ln *net.UDPConn
	err := InNetns(to.Name, func() error {
		var err error
		ln, err = net.ListenUDP("udp6", &net.UDPAddr{IP: to.Addr6.AsSlice(), Port: 6000})
		return err
	})
	if err != nil {
		return fmt.Errorf("listen on %s: %w", to.Name, err)
	}
	defer ln.Close()
	err = InNetns(from.Name, func() error {
		c, err := net.DialUDP("udp6", nil, &net.UDPAddr{IP: to.Addr6.AsSlice(), Port: 6000})
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("hello over ND"))
		return err
	})
	if err != nil {
		return fmt.Errorf("send from %s: %w", from.Name, err)
	}
	_ = ln.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 64)
	if _, _, err := ln.ReadFromUDP(buf); err != nil {
		return fmt.Errorf("%s did not receive from %s: %w", to.Name, from.Name, err)
	}
	return nil
}

// StartQuerier sends IGMPv3 general queries from src out of the router's
// eth0 every interval, as a multicast router would, until stop is called.
// Unlike the kernel bridge's querier, which stays silent while it hears any
// other querier, it keeps querying: a querier with a lower address wins
// the election (RFC 3376 §6.6.2).
func (l *Lab) StartQuerier(src netip.Addr, interval, maxResp time.Duration) (stop func(), err error) {
	return l.StartQuerierIn(l.Router, src, interval, maxResp)
}

// RawSocket opens a send-only packet socket on eth0 in namespace ns, to
// inject frames as that host, and returns eth0's MAC address.
func RawSocket(ns string) (*packet.Conn, net.HardwareAddr, error) {
	var conn *packet.Conn
	var mac net.HardwareAddr
	err := InNetns(ns, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		mac = ifi.HardwareAddr
		conn, err = packet.Listen(ifi, packet.Raw, 0, nil)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("packet socket on eth0 in %s: %w", ns, err)
	}
	return conn, mac, nil
}

// StartQuerierIn is StartQuerier from namespace ns's eth0: a host posing
// as a querier.
func (l *Lab) StartQuerierIn(ns string, src netip.Addr, interval, maxResp time.Duration) (stop func(), err error) {
	frame, err := wire.EncodeQuery(wire.Query{
		Version: 3, SrcMAC: net.HardwareAddr{0x02, 0x77, 0, 0, 0, 1}, Src: src,
		MaxResp: maxResp, QRV: 2, QueryInterval: interval,
	})
	if err != nil {
		return nil, err
	}
	conn, _, err := RawSocket(ns)
	if err != nil {
		return nil, fmt.Errorf("querier socket: %w", err)
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			_, _ = conn.WriteTo(frame, &packet.Addr{HardwareAddr: net.HardwareAddr(frame[:6])})
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		conn.Close()
	}, nil
}

// AddBridge adds a second snooping bridge to the switch namespace with
// hosts of its own (namespaces <prefix>-<name>h<i>, ports <name>h<i>),
// addressed in 10.77.1.0/24, for tests of one daemon on several bridges.
func (l *Lab) AddBridge(name string, hosts int) ([]Host, error) {
	if err := l.Run(l.Switch, "ip", "link", "add", name, "type", "bridge", "mcast_snooping", "1"); err != nil {
		return nil, err
	}
	prefix := strings.TrimSuffix(l.Switch, "-sw")
	var out []Host
	for i := 1; i <= hosts; i++ {
		h := Host{Name: fmt.Sprintf("%s-%sh%d", prefix, name, i), Port: fmt.Sprintf("%sh%d", name, i), Addr: netip.AddrFrom4([4]byte{10, 77, 1, byte(10 + i)})}
		if err := l.AddNetns(h.Name); err != nil {
			return nil, err
		}
		if err := ip("link", "add", h.Port, "netns", l.Switch, "type", "veth", "peer", "name", "eth0", "netns", h.Name); err != nil {
			return nil, err
		}
		for _, s := range [][]string{
			{l.Switch, "ip", "link", "set", h.Port, "master", name},
			{l.Switch, "ip", "link", "set", h.Port, "up"},
			{h.Name, "ip", "link", "set", "eth0", "up"},
			{h.Name, "ip", "addr", "add", h.Addr.String() + "/24", "dev", "eth0"},
		} {
			if err := l.Run(s[0], s[1], s[2:]...); err != nil {
				return nil, err
			}
		}
		out = append(out, h)
	}
	return out, l.Run(l.Switch, "ip", "link", "set", name, "up")
}
