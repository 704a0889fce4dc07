// Command igmpsnoop is an IGMP snooping switch for Linux bridges: `run`
// learns memberships from the bridge's ports and programs the bridge's
// multicast database; `show` asks a running daemon what it learned.
//
// This package only wires things together: flags, logging, the control
// socket and the loop that feeds the snoop engine from the bridge package.
package main
