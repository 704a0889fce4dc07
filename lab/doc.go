// Package lab builds namespaced labs — a snooping bridge, a querier, hosts
// and a sender, each a real kernel network stack in its own network
// namespace, joined by veth pairs — and runs the igmpsnoop daemon in them.
// The integration tests prove the daemon's behaviour in such labs; Demo is
// the `igmpsnoop lab` command, which shows pruning to a person.
//
// Everything here needs Linux and root: it creates network namespaces.
package lab
