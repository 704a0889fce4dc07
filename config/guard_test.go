package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/igmpsnoop/igmpsnoop/bridge"
)

// The guard mode: auto unless the file or --guard says otherwise (the flag
// wins), shown by show config; anything else is refused.
func TestGuardMode(t *testing.T) {
	tc, tcx := "tc", "tcx"
	for _, tt := range []struct {
		name, yaml string
		flag       *string
		want       bridge.GuardMode
		err        string
	}{
		{"default", "", nil, bridge.GuardAuto, ""},
		{"file", "guard: tc\n", nil, bridge.GuardTC, ""},
		{"flag", "", &tcx, bridge.GuardTCX, ""},
		{"flag over file", "guard: tcx\n", &tc, bridge.GuardTC, ""},
		{"bad", "guard: xdp\n", nil, "", `guard "xdp": must be auto, tcx or tc`},
		{"bad flag", "", &[]string{"TC"}[0], "", `guard "TC": must be auto, tcx or tc`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml+"bridges:\n  - name: br0\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Load(path, Overrides{Guard: tt.flag})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), path) {
					t.Fatalf("error = %v, want %q naming the file", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Guard != tt.want || !strings.Contains(s.Text, "guard: "+string(tt.want)+"\n") {
				t.Errorf("guard %q, show config:\n%s\nwant guard %q", s.Guard, s.Text, tt.want)
			}
		})
	}
}
