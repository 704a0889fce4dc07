// Package snoop is the IGMP snooping engine: RFC 4541 switch rules on top of
// router-side RFC 2236/3376 membership state.
//
// The Engine is pure: its inputs are a decoded message with its ingress
// port, a port event, or the current time; its output is a list of Actions
// (install or remove an MDB entry, transmit a frame, report an event) for
// the caller to apply. Time is always an argument, never read inside, so
// every timer is tested without sleeping. One goroutine owns an Engine: it
// takes no locks and does no I/O.
package snoop
