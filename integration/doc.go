// Package integration proves igmpsnoop's behaviour in namespaced labs
// (package lab) — a snooping bridge, a querier, hosts and a sender, all
// real kernel network stacks — with real traffic. It holds only tests;
// they need root and skip without it.
package integration
