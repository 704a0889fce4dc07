package main

import (
	"net/netip"
	"testing"
)

func TestGroupNumbers(t *testing.T) {
	for _, c := range []struct {
		i    int
		addr string
	}{
		{0, "239.1.0.0"},
		{1, "239.1.0.1"},
		{256, "239.1.1.0"},
		{1 << 16, "239.2.0.0"},
		{maxGroups - 1, "239.255.255.255"},
	} {
		a := groupAddr(c.i)
		if a.String() != c.addr {
			t.Errorf("groupAddr(%d) = %v, want %s", c.i, a, c.addr)
		}
		if i, ok := groupNumber(a); !ok || i != c.i {
			t.Errorf("groupNumber(%v) = %d, %v; want %d", a, i, ok, c.i)
		}
	}
	for _, s := range []string{"239.0.255.255", "240.0.0.0", "224.0.0.1", "ff02::1"} {
		if i, ok := groupNumber(netip.MustParseAddr(s)); ok {
			t.Errorf("groupNumber(%s) = %d, want none", s, i)
		}
	}
}

func TestRoundGroups(t *testing.T) {
	const hosts, per, rounds = 3, 4, 5
	seen := map[netip.Addr]bool{}
	for r := range rounds {
		g := roundGroups(r, hosts, per)
		for h := range hosts {
			for j := range per {
				a := g.group(h, j)
				if seen[a] {
					t.Fatalf("round %d, host %d, join %d: %v joined before", r, h, j, a)
				}
				seen[a] = true
				if gh, gj, ok := g.join(a, hosts); !ok || gh != h || gj != j {
					t.Fatalf("round %d: join(%v) = %d, %d, %v; want %d, %d", r, a, gh, gj, ok, h, j)
				}
				// Another round's range does not claim it.
				for _, o := range []int{r - 1, r + 1} {
					if o < 0 {
						continue
					}
					if _, _, ok := roundGroups(o, hosts, per).join(a, hosts); ok {
						t.Fatalf("round %d's %v claimed by round %d", r, a, o)
					}
				}
			}
		}
	}
	if _, _, ok := roundGroups(0, hosts, per).join(netip.MustParseAddr("10.77.0.1"), hosts); ok {
		t.Fatal("a unicast address mapped to a join")
	}
}
