package snoop

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

var (
	guest6   = netip.MustParseAddr("fd77::a")
	guestLL  = netip.MustParseAddr("fe80::a:1")
	guestKey = fdb.Key{Group: wire.SolicitedNode(guest6)} // ff02::1:ff00:a
	llKey    = fdb.Key{Group: wire.SolicitedNode(guestLL)}
)

// ndGuests makes port "a" (hostA) an nd_guests port, with the given ND
// lifetime (0: the default).
func ndGuests(lifetime time.Duration) func(*Config) {
	return func(c *Config) {
		withPort("a", PortPolicy{NDGuests: true})(c)
		c.NDLifetime = lifetime
	}
}

// nd is an ND message of type typ from src to dst with target.
func nd(typ uint8, src, dst, target netip.Addr) *wire.Message {
	return &wire.Message{Kind: wire.KindND, Proto: wire.MLD, IGMPType: typ, Src: src, Dst: dst, Target: target, TTL: 255}
}

// dad is the duplicate address detection solicitation for a.
func dad(a netip.Addr) *wire.Message {
	return nd(wire.TypeNeighborSolicit, netip.IPv6Unspecified(), wire.SolicitedNode(a), a)
}

func checkInvariants(t *testing.T, e *Engine) {
	t.Helper()
	if err := e.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

func TestNDGuestLearnsSolicitedNodeGroups(t *testing.T) {
	other := netip.MustParseAddr("fd77::99")
	for _, c := range []struct {
		name string
		msg  *wire.Message
		want []fdb.Key // solicited-node groups held on the port
	}{
		{"DAD from :: holds the tentative address's group", dad(guest6), []fdb.Key{guestKey}},
		{"a solicitation holds its source's group, not its target's",
			nd(wire.TypeNeighborSolicit, guestLL, wire.SolicitedNode(other), other), []fdb.Key{llKey}},
		{"an advertisement holds its source's and its target's",
			nd(wire.TypeNeighborAdvert, guestLL, wire.AllNodes, guest6), []fdb.Key{llKey, guestKey}},
		{"a router solicitation holds its source's", nd(wire.TypeRouterSolicit, guestLL, wire.AllRouters6, netip.Addr{}), []fdb.Key{llKey}},
		{"a router solicitation from :: holds nothing", nd(wire.TypeRouterSolicit, netip.IPv6Unspecified(), wire.AllRouters6, netip.Addr{}), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEngine(t, ndGuests(0))
			acts := e.HandleMessage(t0, hostA, c.msg, rawFrame)
			var got []fdb.Key
			for _, a := range kinds(acts, ActInstall) {
				if a.Port != hostA || a.Mode != fdb.Exclude || len(a.Sources) != 0 || a.Static {
					t.Errorf("install %+v: want an any-source temporary entry on port a", a)
				}
				got = append(got, a.Key)
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("installed %v, want %v", got, c.want)
			}
			if len(kinds(acts, ActTransmit)) != 0 {
				t.Errorf("ND relayed: %+v", kinds(acts, ActTransmit))
			}
			if len(c.want) == 0 && e.Stats().Ports["a"].Ignored["nd_no_address"] != 1 {
				t.Errorf("nothing learned and not counted: %v", e.Stats().Ports["a"].Ignored)
			}
			checkInvariants(t, e)
		})
	}
}

func TestNDIgnoredWithoutThePolicy(t *testing.T) {
	e := newEngine(t, ndGuests(0))
	acts := e.HandleMessage(t0, hostB, dad(guest6), rawFrame)
	if len(kinds(acts, ActInstall)) != 0 || isMember(e, hostB, guestKey.Group) {
		t.Fatalf("port b learned from ND without nd_guests: %+v", acts)
	}
	if n := e.Stats().Ports["b"].Ignored["nd_not_enabled"]; n != 1 {
		t.Errorf("nd_not_enabled = %d, want 1", n)
	}
	if e.NDGuests(hostB) || !e.NDGuests(hostA) || e.NDGuests(77) {
		t.Errorf("NDGuests: a %v, b %v, unknown %v", e.NDGuests(hostA), e.NDGuests(hostB), e.NDGuests(77))
	}
	if s := e.Stats(); s.Received["nd"] != 1 {
		t.Errorf("received %v, want nd counted", s.Received)
	}
}

func TestNDGroupShownWithItsGuest(t *testing.T) {
	e := newEngine(t, ndGuests(0))
	e.HandleMessage(t0, hostA, nd(wire.TypeNeighborAdvert, guestLL, wire.AllNodes, guest6), rawFrame)
	var rows []GroupView
	for _, g := range e.Groups(t0) {
		if g.Group == guestKey.Group.String() {
			rows = append(rows, g)
		}
	}
	if len(rows) != 1 || rows[0].Via != "nd" || rows[0].Port != "a" || !slices.Equal(rows[0].Reporters, []string{guest6.String()}) ||
		rows[0].ExpiresMs != DefaultNDLifetime.Milliseconds() {
		t.Fatalf("rows %+v: want one via nd, reported by %v, expiring in the ND lifetime", rows, guest6)
	}
	for _, p := range e.Ports() {
		if p.NDGuests != (p.Port == "a") {
			t.Errorf("port %s: nd_guests %v", p.Port, p.NDGuests)
		}
	}
}

// The entry outlives the kernel's timer: the engine rewrites it every
// group membership interval until the ND lifetime runs out, and the
// guest's ND renews the lifetime.
func TestNDGroupAgesAndIsRefreshed(t *testing.T) {
	const lifetime = 20 * time.Minute
	e := newEngine(t, ndGuests(lifetime))
	gmi := e.Config().GroupMembershipInterval()
	e.HandleMessage(t0, hostA, dad(guest6), rawFrame)

	acts := run(e, t0.Add(lifetime-time.Second))
	installs := kinds(acts, ActInstall)
	if want := int((lifetime - time.Second) / gmi); len(installs) != want {
		t.Errorf("%d rewrites within the lifetime, want %d (one per %v)", len(installs), want, gmi)
	}
	if !isMember(e, hostA, guestKey.Group) || len(kinds(acts, ActRemove)) != 0 {
		t.Fatal("expired before its lifetime")
	}
	// The guest speaks again: another lifetime from now.
	renew := t0.Add(lifetime - time.Second)
	e.HandleMessage(renew, hostA, nd(wire.TypeNeighborSolicit, guest6, wire.SolicitedNode(guestLL), guestLL), rawFrame)
	run(e, renew.Add(lifetime-time.Second))
	if !isMember(e, hostA, guestKey.Group) {
		t.Fatal("ND did not renew the group")
	}
	acts = run(e, renew.Add(lifetime+time.Second))
	if rm := kinds(acts, ActRemove); len(rm) != 1 || rm[0].Key != guestKey || !slices.Contains(events(acts), EventExpire) {
		t.Fatalf("after the lifetime: %+v, want the group removed, expired", acts)
	}
	checkInvariants(t, e)
}

// ND renews the kernel's entry no more often than a report would.
func TestNDRewritesRateLimited(t *testing.T) {
	e := newEngine(t, ndGuests(0))
	n := 0
	for i := range 20 {
		n += len(kinds(e.HandleMessage(t0.Add(time.Duration(i)*time.Second), hostA, dad(guest6), rawFrame), ActInstall))
	}
	if n != 2 { // at 0 s and at the MDB refresh interval (10 s)
		t.Fatalf("%d writes for 20 solicitations a second apart, want 2", n)
	}
}

func TestNDGroupsBoundedPerPort(t *testing.T) {
	e := newEngine(t, ndGuests(0), func(c *Config) { c.NDMaxGroups = 3 })
	var keys []fdb.Key
	for i := range 50 {
		a := netip.AddrFrom16([16]byte{0: 0xfd, 1: 0x77, 13: 1, 14: byte(i >> 8), 15: byte(i)})
		keys = append(keys, fdb.Key{Group: wire.SolicitedNode(a)})
		e.HandleMessage(t0.Add(time.Duration(i)*time.Second), hostA, dad(a), rawFrame)
	}
	if n := e.table.PortLen(hostA); n != 3 {
		t.Fatalf("%d groups on the port, want the bound, 3", n)
	}
	for _, k := range keys[47:] {
		if e.table.Get(k, hostA) == nil {
			t.Errorf("latest address's group %v not held", k.Group)
		}
	}
	if n := e.Stats().Ports["a"].Ignored["nd_limit"]; n != 47 {
		t.Errorf("nd_limit = %d, want 47", n)
	}
	checkInvariants(t, e)
}

// ND never takes a group past the port's or the bridge's limits, and
// never replaces a group a host reported.
func TestNDRespectsGroupLimits(t *testing.T) {
	t.Run("bridge", func(t *testing.T) {
		e := newEngine(t, ndGuests(0), func(c *Config) { c.Limits.MaxKeys = 2 })
		e.HandleMessage(t0, hostB, mldMsg(wire.KindReport, 1, host6, grp6), rawFrame)
		e.HandleMessage(t0, hostA, dad(guest6), rawFrame)
		acts := e.HandleMessage(t0, hostA, dad(guestLL), rawFrame)
		if e.table.Keys() != 2 || isMember(e, hostA, llKey.Group) || !slices.Contains(events(acts), EventLimit) {
			t.Fatalf("%d groups, ll held %v: want the limit of 2 kept", e.table.Keys(), isMember(e, hostA, llKey.Group))
		}
	})
	t.Run("port", func(t *testing.T) {
		e := newEngine(t, withPort("a", PortPolicy{NDGuests: true, MaxGroups: 1, ReplaceOldest: true}))
		e.HandleMessage(t0, hostA, mldMsg(wire.KindReport, 1, host6, grp6), rawFrame)
		e.HandleMessage(t0, hostA, dad(guest6), rawFrame)
		if !isMember(e, hostA, grp6) || isMember(e, hostA, guestKey.Group) {
			t.Fatal("ND replaced a reported group past the port's limit")
		}
		if n := e.Stats().Ports["a"].Ignored["port_limit"]; n != 1 {
			t.Errorf("port_limit = %d, want 1", n)
		}
	})
	t.Run("profile", func(t *testing.T) {
		deny := &Profile{Name: "no-sn", Rules: []Rule{{First: netip.MustParseAddr("ff02::1:ff00:0"), Last: netip.MustParseAddr("ff02::1:ffff:ffff")}}, DefaultPermit: true}
		e := newEngine(t, withPort("a", PortPolicy{NDGuests: true, Profile: deny}))
		e.HandleMessage(t0, hostA, dad(guest6), rawFrame)
		if isMember(e, hostA, guestKey.Group) {
			t.Fatal("ND learned a group the port's profile denies")
		}
	})
}

// A report cuts the group timer to its GMI; the guest's next ND puts the
// lifetime back, and the entry stays ND's.
func TestNDAndReportsShareTheGroup(t *testing.T) {
	e := newEngine(t, ndGuests(0))
	e.HandleMessage(t0, hostA, dad(guest6), rawFrame)
	e.HandleMessage(t0.Add(time.Second), hostA, mldMsg(wire.KindReport, 1, guestLL, guestKey.Group), rawFrame)
	pg := e.table.Get(guestKey, hostA)
	if !pg.ND || e.table.TimeAt(pg.GroupExpires).After(t0.Add(time.Hour)) {
		t.Fatalf("after a report: ND %v, expires %v", pg.ND, e.table.TimeAt(pg.GroupExpires))
	}
	e.HandleMessage(t0.Add(2*time.Second), hostA, dad(guest6), rawFrame)
	if got, want := e.table.TimeAt(pg.GroupExpires), t0.Add(2*time.Second+DefaultNDLifetime); !got.Equal(want) {
		t.Fatalf("after ND: expires %v, want %v", got, want)
	}
	checkInvariants(t, e)
}

func TestNDGroupsGoWithThePortOrThePolicy(t *testing.T) {
	e := newEngine(t, ndGuests(0))
	e.HandleMessage(t0, hostA, dad(guest6), rawFrame)
	acts := e.PortDown(t0.Add(time.Second), hostA)
	if rm := kinds(acts, ActRemove); len(rm) != 1 || rm[0].Key != guestKey {
		t.Fatalf("port down: %+v", acts)
	}
	if len(e.nd) != 0 {
		t.Errorf("ND list kept for a port that went down: %v", e.nd)
	}

	e.PortUp(t0.Add(2*time.Second), hostA, "a")
	e.HandleMessage(t0.Add(2*time.Second), hostA, dad(guest6), rawFrame)
	e.HandleMessage(t0.Add(2*time.Second), hostA, mldMsg(wire.KindReport, 1, host6, grp6), rawFrame)
	acts, err := e.Reconfigure(t0.Add(3*time.Second), testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if rm := kinds(acts, ActRemove); len(rm) != 1 || rm[0].Key != guestKey {
		t.Fatalf("nd_guests switched off: %+v, want only the ND group removed", acts)
	}
	if !isMember(e, hostA, grp6) {
		t.Error("a reported group went with the ND policy")
	}
	checkInvariants(t, e)
}

// ND groups count against the bridge's group limit like reported ones: a
// new group past it is refused (table_limit), while a group the table
// already holds, on another port, costs no key and is taken.
func TestNDGroupsWithinTheBridgeLimit(t *testing.T) {
	e := newEngine(t, ndGuests(0), withPort("b", PortPolicy{NDGuests: true}), func(c *Config) { c.Limits.MaxKeys = 2 })
	addr := func(i byte) netip.Addr { return netip.AddrFrom16([16]byte{0: 0xfd, 1: 0x77, 15: i}) }
	for i := byte(1); i <= 3; i++ {
		e.HandleMessage(t0.Add(time.Duration(i)*time.Second), hostA, dad(addr(i)), rawFrame)
	}
	if n := e.table.Keys(); n != 2 {
		t.Fatalf("%d groups after three guests' addresses with a limit of 2, want 2", n)
	}
	if e.table.Get(fdb.Key{Group: wire.SolicitedNode(addr(3))}, hostA) != nil {
		t.Error("the third address's group was taken past the bridge's limit")
	}
	if n := e.Stats().Ports["a"].Ignored["table_limit"]; n != 1 {
		t.Errorf("table_limit = %d, want 1", n)
	}
	e.HandleMessage(t0.Add(5*time.Second), hostB, dad(addr(1)), rawFrame)
	if e.table.Get(fdb.Key{Group: wire.SolicitedNode(addr(1))}, hostB) == nil {
		t.Error("a held group refused on another port: it costs no key")
	}
	checkInvariants(t, e)
}
