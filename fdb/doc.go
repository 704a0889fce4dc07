// Package fdb is the membership table of one bridge: which ports have
// members of which (VLAN, group, source), since when and until when, and
// which ports lead to multicast routers.
//
// It is a pure, bounded data structure (Open vSwitch's single-table model):
// no goroutines, no I/O, no clock. The caller passes time in and decides
// what an expiry means; limits are enforced here so no caller can forget
// them. Even the origin that the table's compact Times count from is the
// caller's, given to New: the package holds no state of its own.
package fdb
