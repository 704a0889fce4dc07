package snoop

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/wire"
)

// RFC 4286 §4: a router port learned from an MRD advertisement lasts
// three advertisement intervals. An advertisement that names no interval
// (0) gives no such bound: the port lasts the other querier present
// interval, as one learned from a query does.
func TestMRDAdvertisementLifetime(t *testing.T) {
	oqpi := DefaultConfig().OtherQuerierPresentInterval()
	for _, tc := range []struct {
		name     string
		interval time.Duration
		lives    time.Duration
	}{
		{"20 s interval", 20 * time.Second, 60 * time.Second},
		{"4 s interval", 4 * time.Second, 12 * time.Second},
		{"no interval", 0, oqpi},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			e.HandleMessage(t0, uplink, &wire.Message{Kind: wire.KindMRDAdvert, Proto: wire.IGMP, Src: routeIP, AdvertInterval: tc.interval}, rawFrame)
			run(e, t0.Add(tc.lives-time.Millisecond))
			if r := e.Routers(t0); len(r) != 1 || r[0].Via != "mrd" {
				t.Fatalf("router ports before %v: %+v", tc.lives, r)
			}
			run(e, t0.Add(tc.lives))
			if r := e.Routers(t0); len(r) != 0 {
				t.Fatalf("router ports at %v: %+v, want none", tc.lives, r)
			}
		})
	}
}

// A router port is pushed to the kernel again once a refresh interval has
// passed since the last push (Config.MDBRefreshInterval: the least time
// between two writes), not before.
func TestRouterPortRepushedAfterExactlyOneRefreshInterval(t *testing.T) {
	e := newEngine(t)
	q := query(routeIP, netip.IPv4Unspecified(), 3)
	e.HandleMessage(t0, uplink, q, rawFrame)
	refresh := e.cfg.MDBRefreshInterval
	if ra := kinds(e.HandleMessage(t0.Add(refresh-time.Millisecond), uplink, q, rawFrame), ActRouterPort); len(ra) != 0 {
		t.Fatalf("pushed again within the refresh interval: %+v", ra)
	}
	if ra := kinds(e.HandleMessage(t0.Add(refresh), uplink, q, rawFrame), ActRouterPort); len(ra) != 1 || !ra[0].Router {
		t.Fatalf("after one refresh interval: %+v, want the router port pushed again", ra)
	}
}

// RFC 4286 §5.1: solicitations need a source MAC like every frame we
// send. Without one none goes out, and the failure is an event, for each
// family we would have solicited.
func TestSolicitationWithoutSourceMACIsReported(t *testing.T) {
	e := newEngine(t, func(c *Config) { c.QuerySourceMAC = nil })
	acts := e.PortUp(t0, 5, "new")
	if tx := kinds(acts, ActTransmit); len(tx) != 0 {
		t.Fatalf("sent %+v without a source MAC", tx)
	}
	var failed []string
	for _, a := range acts {
		if a.Kind == ActEvent && a.Event.Kind == EventQueryFailed {
			if !strings.HasPrefix(a.Event.Detail, "MRD solicitation: ") || a.Event.Port != 5 {
				t.Fatalf("event %+v, want an MRD solicitation failure on port 5", a.Event)
			}
			failed = append(failed, a.Event.Addr.String())
		}
	}
	slices.Sort(failed)
	if want := []string{"0.0.0.0", self6.String()}; !slices.Equal(failed, want) {
		t.Fatalf("solicitation failures from %v, want %v", failed, want)
	}
}
