package integration

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
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
	// NoQuerier leaves the router silent: a LAN without a querier.
	NoQuerier bool
}

// Host is a receiving host: a namespace whose eth0 is plugged into Port of
// the snooping bridge.
type Host struct {
	Name string // namespace
	Port string // its port on the snooping bridge
	Addr netip.Addr
}

// Lab is a snooping bridge (Bridge in namespace Switch) with a querier on
// port RouterPort, a multicast sender on port SenderPort, and hosts.
type Lab struct {
	Switch, Router, Sender string // namespaces
	Bridge                 string
	RouterPort, SenderPort string
	RouterAddr             netip.Addr
	Hosts                  []Host
	namespaces             []string
}

// Lab addresses all lie in 10.77.0.0/24, inside the lab's namespaces.
const (
	routerAddr = "10.77.0.1"
	senderAddr = "10.77.0.100"
)

// NewLab builds a lab; on error it removes what it built.
func NewLab(c Config) (l *Lab, err error) {
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
	l = &Lab{
		Switch: c.Prefix + "-sw", Router: c.Prefix + "-rt", Sender: c.Prefix + "-tx",
		Bridge: "br0", RouterPort: "rt0", SenderPort: "tx0",
		RouterAddr: netip.MustParseAddr(routerAddr),
	}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	for _, ns := range []string{l.Switch, l.Router, l.Sender} {
		if err := l.addNetns(ns); err != nil {
			return nil, err
		}
	}
	// The switch: a bridge that snoops. No querier of its own: the router
	// is the querier, as on most real LANs.
	if err := l.exec(l.Switch, "ip", "link", "add", l.Bridge, "type", "bridge", "mcast_snooping", "1"); err != nil {
		return nil, err
	}
	if err := l.plug(l.RouterPort, l.Router); err != nil {
		return nil, err
	}
	if err := l.plug(l.SenderPort, l.Sender); err != nil {
		return nil, err
	}
	for i := 1; i <= c.Hosts; i++ {
		h := Host{Name: c.Prefix + "-h" + strconv.Itoa(i), Port: "h" + strconv.Itoa(i), Addr: netip.AddrFrom4([4]byte{10, 77, 0, byte(10 + i)})}
		if err := l.addNetns(h.Name); err != nil {
			return nil, err
		}
		if err := l.plug(h.Port, h.Name); err != nil {
			return nil, err
		}
		if err := l.exec(h.Name, "ip", "addr", "add", h.Addr.String()+"/24", "dev", "eth0"); err != nil {
			return nil, err
		}
		l.Hosts = append(l.Hosts, h)
	}
	if err := l.exec(l.Switch, "ip", "link", "set", l.Bridge, "up"); err != nil {
		return nil, err
	}
	if err := l.exec(l.Sender, "ip", "addr", "add", senderAddr+"/24", "dev", "eth0"); err != nil {
		return nil, err
	}
	if err := l.exec(l.Sender, "ip", "route", "add", "224.0.0.0/4", "dev", "eth0"); err != nil {
		return nil, err
	}
	if err := l.setupRouter(c); err != nil {
		return nil, err
	}
	return l, nil
}

// setupRouter makes the router namespace a querier: a one-port bridge
// querying from its own address (a query from 0.0.0.0 makes no router port,
// RFC 4541 C2). The querier is switched on after creation: given to
// `ip link add`, this kernel starts queries but not snooping (DESIGN.md, 7).
func (l *Lab) setupRouter(c Config) error {
	cs := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds()/10, 10) }
	steps := [][]string{
		{"ip", "link", "add", "rbr", "type", "bridge", "mcast_snooping", "1", "mcast_query_use_ifaddr", "1",
			"mcast_igmp_version", strconv.Itoa(c.RouterIGMPVersion),
			"mcast_query_interval", cs(c.QueryInterval), "mcast_query_response_interval", cs(c.QueryResponseInterval),
			"mcast_startup_query_interval", cs(c.QueryInterval / 4)},
		{"ip", "link", "set", "eth0", "master", "rbr"},
		{"ip", "addr", "add", routerAddr + "/24", "dev", "rbr"},
		{"ip", "link", "set", "rbr", "up"},
	}
	if !c.NoQuerier {
		steps = append(steps, []string{"ip", "link", "set", "rbr", "type", "bridge", "mcast_querier", "1"})
	}
	for _, s := range steps {
		if err := l.exec(l.Router, s[0], s[1:]...); err != nil {
			return err
		}
	}
	return nil
}

func (l *Lab) addNetns(name string) error {
	if err := ip("netns", "add", name); err != nil {
		return err
	}
	l.namespaces = append(l.namespaces, name)
	// IPv6 off: MLD snooping is not this lab's subject, and hosts' MLD
	// reports would otherwise be learned by the kernel bridge.
	for _, s := range []string{"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"} {
		if err := l.exec(name, "sysctl", "-qw", s); err != nil {
			return err
		}
	}
	return l.exec(name, "ip", "link", "set", "lo", "up")
}

// plug connects a new port of the switch bridge to eth0 in namespace ns.
func (l *Lab) plug(port, ns string) error {
	if err := ip("link", "add", port, "netns", l.Switch, "type", "veth", "peer", "name", "eth0", "netns", ns); err != nil {
		return err
	}
	for _, s := range [][]string{
		{l.Switch, "ip", "link", "set", port, "master", l.Bridge},
		{l.Switch, "ip", "link", "set", port, "up"},
		{ns, "ip", "link", "set", "eth0", "up"},
	} {
		if err := l.exec(s[0], s[1], s[2:]...); err != nil {
			return err
		}
	}
	return nil
}

// exec runs a command inside namespace ns.
func (l *Lab) exec(ns, name string, args ...string) error {
	_, err := run("ip", append([]string{"netns", "exec", ns, name}, args...)...)
	return err
}

// Exec runs a command inside namespace ns and returns its output.
func (l *Lab) Exec(ns, name string, args ...string) (string, error) {
	return run("ip", append([]string{"netns", "exec", ns, name}, args...)...)
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
	conn *ipv4.PacketConn
}

// Join makes host join group on its eth0 with a UDP socket.
func (l *Lab) Join(h Host, group netip.Addr) (*Membership, error) {
	var m *Membership
	err := InNetns(h.Name, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		c, err := net.ListenPacket("udp4", "0.0.0.0:0")
		if err != nil {
			return err
		}
		pc := ipv4.NewPacketConn(c)
		if err := pc.JoinGroup(ifi, &net.UDPAddr{IP: group.AsSlice()}); err != nil {
			c.Close()
			return fmt.Errorf("join %v: %w", group, err)
		}
		m = &Membership{conn: pc}
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
	return l.exec(h.Name, "sysctl", "-qw", "net.ipv4.conf.eth0.force_igmp_version="+strconv.Itoa(v))
}

// Silence drops every IGMP frame host sends, keeping its memberships: the
// host goes silent, as a crashed or unplugged-upstream host would. Classic
// BPF at tc egress: ethertype IPv4 and IP protocol 2 -> drop (2), else 0.
func (l *Lab) Silence(h Host) error {
	const dropIGMP = "6,40 0 0 12,21 0 3 2048,48 0 0 23,21 0 1 2,6 0 0 2,6 0 0 0"
	if err := l.exec(h.Name, "tc", "qdisc", "add", "dev", "eth0", "clsact"); err != nil {
		return err
	}
	return l.exec(h.Name, "tc", "filter", "add", "dev", "eth0", "egress", "bpf", "da", "bytecode", dropIGMP)
}

// Send sends count UDP datagrams to group:5000 from the sender, gap apart.
func (l *Lab) Send(group netip.Addr, count int, gap time.Duration) error {
	return InNetns(l.Sender, func() error {
		c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: group.AsSlice(), Port: 5000})
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

// Capture counts the multicast UDP frames arriving on eth0 of a namespace,
// by destination group: what the wire delivered, whether or not a socket
// wanted it.
type Capture struct {
	conn *packet.Conn
	mu   sync.Mutex
	n    map[netip.Addr]int
	igmp map[netip.Addr]int // IGMP frames by IP source
	done chan struct{}
}

// Capture starts counting on eth0 of namespace ns.
func (l *Lab) Capture(ns string) (*Capture, error) {
	var c *Capture
	err := InNetns(ns, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		conn, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
		if err != nil {
			return err
		}
		c = &Capture{conn: conn, n: make(map[netip.Addr]int), igmp: make(map[netip.Addr]int), done: make(chan struct{})}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("capture in %s: %w", ns, err)
	}
	go c.read()
	return c, nil
}

func (c *Capture) read() {
	defer close(c.done)
	buf := make([]byte, 2048)
	for {
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		f := buf[:n]
		// Ethernet + IPv4 (0x0800); UDP (17) to a multicast group, or IGMP (2).
		if len(f) < 34 || f[12] != 0x08 || f[13] != 0x00 {
			continue
		}
		c.mu.Lock()
		switch {
		case f[23] == 17 && f[30]&0xf0 == 0xe0:
			c.n[netip.AddrFrom4([4]byte(f[30:34]))]++
		case f[23] == 2:
			c.igmp[netip.AddrFrom4([4]byte(f[26:30]))]++
		}
		c.mu.Unlock()
	}
}

// Count returns how many frames to group arrived so far.
func (c *Capture) Count(group netip.Addr) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[group]
}

// IGMPFrom returns how many IGMP frames from IP source src arrived so far.
func (c *Capture) IGMPFrom(src netip.Addr) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.igmp[src]
}

// Reset forgets the counts.
func (c *Capture) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.n)
	clear(c.igmp)
}

// Close stops counting.
func (c *Capture) Close() error {
	err := c.conn.Close()
	<-c.done
	return err
}
