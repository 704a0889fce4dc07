package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nd_guests comes from the port, then its bridge's port_defaults, then the
// bridge's own nd_guests, then the same under defaults; --nd-guest turns
// it on for a port on every bridge. show config says it.
func TestNDGuestsLayers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	body := `defaults:
  nd_guests: true
  nd_lifetime: 2h
bridges:
  - name: br0
    nd_guests: false
    ports:
      vm1: {nd_guests: true}
      vm2: {}
  - name: br1
    port_defaults: {fast_leave: true}
    ports:
      vm3: {nd_guests: false}
      vm4: {}
  - name: br2
    nd_lifetime: 30m
    port_defaults: {nd_guests: false}
    nd_guests: true
    ports:
      vm5: {}
`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path, Overrides{NDGuests: []string{"vm6"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		bridge int
		port   string
		want   bool
	}{
		{0, "vm1", true}, {0, "vm2", false}, {0, "other", false}, {0, "vm6", true},
		{1, "vm3", false}, {1, "vm4", true}, {1, "other", true},
		{2, "vm5", false}, {2, "vm6", true},
	} {
		if got := s.Bridges[c.bridge].Engine.Policy(c.port).NDGuests; got != c.want {
			t.Errorf("%s port %s: nd_guests %t, want %t", s.Bridges[c.bridge].Name, c.port, got, c.want)
		}
	}
	if l0, l2 := s.Bridges[0].Engine.NDLifetime, s.Bridges[2].Engine.NDLifetime; l0 != 2*time.Hour || l2 != 30*time.Minute {
		t.Errorf("nd_lifetime %v, %v; want 2h, 30m", l0, l2)
	}
	for _, want := range []string{"nd_guests: true", "nd_lifetime: 30m0s"} {
		if !strings.Contains(s.Text, want) {
			t.Errorf("show config lacks %q:\n%s", want, s.Text)
		}
	}
	if err := os.WriteFile(path, []byte("bridges:\n  - name: br0\n    nd_lifetime: -1s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, Overrides{}); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("negative nd_lifetime: %v, want refused naming line 3", err)
	}
}
