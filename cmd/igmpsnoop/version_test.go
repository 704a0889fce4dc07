package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormatVersion(t *testing.T) {
	git := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name                string
		ldVersion, ldCommit string
		info                *debug.BuildInfo
		want                string
	}{
		{"go install module@version", "dev", "unknown",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}},
			"igmpsnoop v1.2.3 (commit unknown, go1.26.8)"},
		{"git checkout, clean", "dev", "unknown",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: git(rev, "false")},
			"igmpsnoop dev (commit 0123456789ab, go1.26.8)"},
		{"git checkout, modified, pseudo-version", "dev", "unknown",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20260101120000-0123456789ab+dirty"}, Settings: git(rev, "true")},
			"igmpsnoop v0.0.0-20260101120000-0123456789ab+dirty (commit 0123456789ab, modified, go1.26.8)"},
		{"ldflags win", "v2.0.0", "deadbeef",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}, Settings: git(rev, "true")},
			"igmpsnoop v2.0.0 (commit deadbeef, modified, go1.26.8)"},
		{"no build info", "dev", "unknown", nil,
			"igmpsnoop dev (commit unknown, " + runtime.Version() + ")"},
	}
	for _, tt := range tests {
		if got := formatVersion(tt.ldVersion, tt.ldCommit, tt.info); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

// TestVersionString checks the real binary's line has the documented shape.
func TestVersionString(t *testing.T) {
	s := versionString()
	if !strings.HasPrefix(s, "igmpsnoop ") || !strings.Contains(s, " (commit ") || !strings.HasSuffix(s, ")") || !strings.Contains(s, "go1.") {
		t.Fatalf("version line %q", s)
	}
}
