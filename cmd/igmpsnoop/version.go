package main

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// versionString is what `igmpsnoop version` prints:
//
//	igmpsnoop <version> (commit <rev>[, modified], <go version>)
//
// It reads the build information the Go toolchain embeds, so `go install
// module@v1.2.3` reports v1.2.3 and a build in a git checkout reports its
// revision, without any -ldflags; -X main.version=... and -X
// main.commit=... still win, for release builds that set them.
func versionString() string {
	info, _ := debug.ReadBuildInfo() // nil in a binary built without module support
	return formatVersion(version, commit, info)
}

// formatVersion builds the version line from the -ldflags values (their
// defaults "dev" and "unknown" mean unset) and the build information,
// which may be nil.
func formatVersion(ldVersion, ldCommit string, info *debug.BuildInfo) string {
	v, rev, modified, goVersion := ldVersion, ldCommit, false, runtime.Version()
	if info != nil {
		if info.GoVersion != "" {
			goVersion = info.GoVersion
		}
		// "(devel)" is what a build of a local checkout without VCS
		// stamping reports: no better than our "dev".
		if v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if rev == "unknown" {
					rev = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	// Twelve hex digits name a commit unambiguously in practice, as git's
	// and Go's pseudo-versions do.
	if len(rev) > 12 && isHex(rev) {
		rev = rev[:12]
	}
	var b strings.Builder
	b.WriteString("igmpsnoop " + v + " (commit " + rev)
	if modified {
		b.WriteString(", modified")
	}
	b.WriteString(", " + goVersion + ")")
	return b.String()
}

func isHex(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}
