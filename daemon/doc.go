// Package daemon is igmpsnoop's runtime: it runs snoop's engine on live
// bridges. It owns the supervisor (one loop per bridge, reload, the
// control socket and metrics), each bridge's loop (one goroutine owning
// the engine), port I/O, the transmitter, the MDB writer and the
// reconciliation of the kernel's MDB with the engine's table (adoption at
// start, the periodic check, handover and shutdown).
//
// The operating system is behind Kernel, which this package defines and
// which holds only what the runtime needs from it; LinuxKernel is the
// implementation over package bridge (netlink, AF_PACKET, tc), and the
// tests drive the whole loop over an in-memory fake, without root.
//
// The control protocol is in protocol.go: one request type per verb, one
// Reply type, one table of verbs. Requests a bridge answers run as
// functions on that bridge's loop goroutine, so nothing but the loop ever
// touches its engine.
//
// docs/architecture.md describes the design and the kernel facts behind it.
package daemon
