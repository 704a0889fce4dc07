package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/igmpsnoop/igmpsnoop/daemon"
)

// mdb_replace: auto by default, the file's value, the flag's over it,
// shown by show config; anything else refused with the key and flag.
func TestMDBReplace(t *testing.T) {
	write := func(body string) string {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(body+"bridges:\n  - name: br0\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	off, on := "off", "on"
	tests := []struct {
		name, file string
		flag       *string
		want       daemon.MDBReplace
		err        string
	}{
		{name: "default", want: daemon.MDBReplaceAuto},
		{name: "file", file: "mdb_replace: off\n", want: daemon.MDBReplaceOff},
		{name: "flag over file", file: "mdb_replace: off\n", flag: &on, want: daemon.MDBReplaceOn},
		{name: "flag", flag: &off, want: daemon.MDBReplaceOff},
		{name: "bad", file: "mdb_replace: sometimes\n", err: `mdb_replace "sometimes" (--mdb-replace): must be auto, on or off`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Load(write(tt.file), Overrides{MDBReplace: tt.flag})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Load = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// YAML quotes on and off, which YAML 1.1 read as booleans.
			shown := regexp.MustCompile(`mdb_replace: "?` + tt.want.String() + `"?\n`)
			if s.MDBReplace != tt.want || !shown.MatchString(s.Text) {
				t.Errorf("MDBReplace = %v, show config:\n%s", s.MDBReplace, s.Text)
			}
		})
	}
}
