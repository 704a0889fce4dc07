// Package bridge is igmpsnoop's Linux layer: everything that talks to the
// kernel about one Linux bridge and its ports.
//
//   - Links: Lookup finds a bridge and its ports; SubscribeLinks/WatchLinks
//     report ports joining, leaving, going up or down, changing STP state
//     (PortState, from the bridge's AF_BRIDGE notifications), and the bridge
//     changing or disappearing (rtnetlink RTNLGRP_LINK). Packet sockets see
//     and send frames whatever a port's STP state: the daemon learns only
//     from ports that are Link.Learning and sends only out of ports that are
//     Link.Forwarding.
//   - Addresses: Lookup and Addresses give the bridge's IPv4 address and
//     IPv6 link-local address, the sources of its queries.
//   - Options: ReadOptions, SetMembershipInterval, SetIGMPVersion and
//     SetMLDVersion read and set the bridge's multicast options (IFLA_BR_*
//     inside IFLA_INFO_DATA); SetPortRouter and PortRouter a port's
//     mcast_router (IFLA_BRPORT_MULTICAST_ROUTER).
//   - MDB: OpenMDB gives a raw rtnetlink client for the bridge's multicast
//     database (RTM_NEWMDB with NLM_F_REPLACE, RTM_DELMDB, RTM_GETMDB dumps),
//     including (*,G) filter modes and source lists (ProbeSourceLists tells
//     whether the kernel takes them); MDBBatch writes many entries per
//     system call; SubscribeMDB reads the kernel's RTNLGRP_MDB
//     notifications of new entries.
//   - Guard: AttachGuard puts a small eBPF program on a port's TCX ingress
//     hook that drops IGMP and MLD reports and leaves, and queries from the
//     unspecified address, before the bridge can learn from them, so that
//     the daemon's MDB entries are the only ones. The program is held by a
//     BPF link owned by this process: if the process dies, the kernel
//     detaches it and the bridge's own snooping resumes.
//   - PortConn: ListenPort opens one AF_PACKET socket per port that reads
//     incoming IGMP, MLD, MRD and PIM frames (packet taps run before TCX, so
//     it still sees what the Guard drops), with their VLAN tag restored from
//     PACKET_AUXDATA, and writes frames straight out of the port.
//   - Sender: OpenBridgeSender opens a write-only packet socket on the
//     bridge device, through which the daemon's own queries enter the
//     bridge as if the host had sent them: flooded to every port, and
//     counted by the kernel as a querier, so that it forwards by the MDB.
//
// Facts about the kernel that this package relies on are in
// research/kernel-mdb.md and DESIGN.md ("Being authoritative").
//
// Network namespaces: every netlink, packet and BPF-link operation acts in
// the network namespace of the calling OS thread at the time the socket or
// link is created. Callers that work in another namespace must lock their
// goroutine to a thread that is in it while calling Lookup, Addresses,
// ReadOptions, the Set* functions, PortRouter, ProbeSourceLists,
// SubscribeLinks, OpenMDB, OpenMDBBatch, SubscribeMDB, AttachGuard, ListenPort
// and OpenBridgeSender; the
// objects returned keep working from any goroutine.
package bridge
