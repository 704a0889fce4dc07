// Command igmpsnoop is an IGMP snooping switch for Linux bridges: `run`
// learns memberships from the bridge's ports and programs the bridge's
// multicast database; `show` asks a running daemon what it learned.
//
// This package is the command line only: flags (cobra and pflag), the
// control client and its tables, `replay`, `lab` and `doctor`. The configuration
// file is package config's, the runtime package daemon's.
package main
