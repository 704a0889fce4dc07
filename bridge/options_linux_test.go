package bridge

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestOptions(t *testing.T) {
	l := newLab(t, 1)
	l.br.Do(func() {
		o, err := ReadOptions(l.brIdx)
		if err != nil {
			t.Fatalf("ReadOptions: %v", err)
		}
		// Kernel defaults (see "Kernel facts" in doc.go).
		want := Options{
			Snooping:              true,
			MembershipInterval:    260 * time.Second,
			QuerierInterval:       255 * time.Second,
			QueryInterval:         125 * time.Second,
			QueryResponseInterval: 10 * time.Second,
			HashMax:               4096,
			IGMPVersion:           2,
			MLDVersion:            1,
		}
		if o != want {
			t.Errorf("defaults = %+v, want %+v", o, want)
		}

		if err := SetMembershipInterval(l.brIdx, 42500*time.Millisecond); err != nil {
			t.Fatalf("SetMembershipInterval: %v", err)
		}
		if err := SetQuerierInterval(l.brIdx, 4500*time.Millisecond); err != nil {
			t.Fatalf("SetQuerierInterval: %v", err)
		}
		if o, err := ReadOptions(l.brIdx); err != nil || o.QuerierInterval != 4500*time.Millisecond {
			t.Fatalf("querier interval read back %v (%v), want 4.5s", o.QuerierInterval, err)
		}
		o, err = ReadOptions(l.brIdx)
		if err != nil {
			t.Fatalf("ReadOptions: %v", err)
		}
		if o.MembershipInterval != 42500*time.Millisecond {
			t.Errorf("membership interval = %v, want 42.5s", o.MembershipInterval)
		}
		if !o.Snooping || o.QueryInterval != want.QueryInterval {
			t.Errorf("other options changed: %+v", o)
		}
		if err := SetMembershipInterval(l.brIdx, time.Millisecond); err == nil {
			t.Error("SetMembershipInterval(1ms) succeeded, want an error")
		}

		if err := SetIGMPVersion(l.brIdx, 3); err != nil {
			t.Fatalf("SetIGMPVersion: %v", err)
		}
		if err := SetMLDVersion(l.brIdx, 2); err != nil {
			t.Fatalf("SetMLDVersion: %v", err)
		}
		o, err = ReadOptions(l.brIdx)
		if err != nil {
			t.Fatalf("ReadOptions: %v", err)
		}
		if o.IGMPVersion != 3 || o.MLDVersion != 2 {
			t.Errorf("versions = IGMP %d MLD %d, want 3 and 2", o.IGMPVersion, o.MLDVersion)
		}
		for _, bad := range []error{SetIGMPVersion(l.brIdx, 1), SetIGMPVersion(l.brIdx, 4), SetMLDVersion(l.brIdx, 0), SetMLDVersion(l.brIdx, 3)} {
			if bad == nil {
				t.Error("an invalid protocol version was accepted")
			}
		}
		if err := SetIGMPVersion(l.ports[0], 3); !errors.Is(err, ErrNotBridge) {
			t.Errorf("SetIGMPVersion(port) = %v, want ErrNotBridge", err)
		}

		if _, err := ReadOptions(l.ports[0]); !errors.Is(err, ErrNotBridge) {
			t.Errorf("ReadOptions(port) = %v, want ErrNotBridge", err)
		}
		if _, err := ReadOptions(9999); !errors.Is(err, ErrNoLink) {
			t.Errorf("ReadOptions(9999) = %v, want ErrNoLink", err)
		}
		err = SetMembershipInterval(l.ports[0], time.Minute)
		if !errors.Is(err, ErrNotBridge) {
			t.Errorf("SetMembershipInterval(port) = %v, want ErrNotBridge", err)
		}
		if err := SetMembershipInterval(9999, time.Minute); !errors.Is(err, ErrNoLink) {
			t.Errorf("SetMembershipInterval(9999) = %v, want ErrNoLink", err)
		}
		t.Logf("set on a veth: %v", err)
	})
	// The change is what ip(8) sees too.
	out := l.br.IP("-d", "link", "show", "br0")
	for _, want := range []string{"mcast_membership_interval 4250", "mcast_igmp_version 3", "mcast_mld_version 2"} {
		if !strings.Contains(out, want) {
			t.Errorf("ip -d link show br0 does not show %q:\n%s", want, out)
		}
	}
}
