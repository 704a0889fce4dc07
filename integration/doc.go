// Package integration builds namespaced labs — a snooping bridge, a
// querier, hosts and a sender, all real kernel network stacks joined by
// veth pairs — and proves igmpsnoop's behaviour in them with real traffic.
//
// The tests need root and skip without it. The lab builder is ordinary
// code so the `lab` demo can reuse it.
package integration
