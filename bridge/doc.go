// Package bridge is igmpsnoop's Linux layer: everything that talks to the
// kernel about one Linux bridge and its ports.
//
//   - Links: Lookup finds a bridge and its ports; SubscribeLinks reports ports joining, leaving, going up or down, changing STP state
//     (PortState, from the bridge's AF_BRIDGE notifications), and the bridge
//     changing or disappearing (rtnetlink RTNLGRP_LINK). Packet sockets see
//     and send frames whatever a port's STP state: the daemon learns only
//     from ports that are Link.Learning and sends only out of ports that are
//     Link.Forwarding.
//   - Addresses: Lookup and Addresses give the bridge's IPv4 address and
//     IPv6 link-local address, the sources of its queries.
//   - Options: ReadOptions, SetMembershipInterval, SetIGMPVersion and
//     SetMLDVersion read and set the bridge's multicast options (IFLA_BR_*
//     inside IFLA_INFO_DATA); SetPortRouter sets a port's mcast_router
//     (IFLA_BRPORT_MULTICAST_ROUTER).
//   - MDB: the bridge's multicast database. OpenMDB dumps it (RTM_GETMDB);
//     OpenMDBBatch writes entries, many per system call (RTM_NEWMDB with
//     NLM_F_REPLACE, RTM_DELMDB), including (*,G) filter modes and source
//     lists (ProbeSourceLists tells whether the kernel takes them);
//     SubscribeMDB reads the kernel's RTNLGRP_MDB notifications of new
//     entries.
//   - Guard: AttachGuard puts a small eBPF program on a port's TCX ingress
//     hook that drops IGMP and MLD reports and leaves, and queries from the
//     unspecified address, before the bridge can learn from them, so that
//     the daemon's MDB entries are the only ones. The program is held by a
//     BPF link owned by this process: if the process dies, the kernel
//     detaches it and the bridge's own snooping resumes. Without TCX
//     (before Linux 6.6) Guards in tc mode put the same program in a
//     cls_bpf direct-action filter under the port's clsact qdisc (through
//     vishvananda/netlink's tc API; cilium/ebpf attaches no cls_bpf). A
//     filter outlives the process, so the program first reads a heartbeat
//     map that a goroutine of the Guards refreshes every second and passes
//     every frame once it is GuardHeartbeatTimeout (3 s) old. The filter
//     sits at priority 1, handle 0x1905, named igmpsnoop_guard; a start
//     replaces one of ours left there and refuses anyone else's.
//   - PortConn: ListenPort opens one AF_PACKET socket per port that reads
//     incoming IGMP, MLD, MRD and PIM frames (packet taps run before TCX, so
//     it still sees what the Guard drops), with their VLAN tag restored from
//     PACKET_AUXDATA, and writes frames straight out of the port.
//   - Sender: OpenBridgeSender opens a write-only packet socket on the
//     bridge device, through which the daemon's own queries enter the
//     bridge as if the host had sent them: flooded to every port, and
//     counted by the kernel as a querier, so that it forwards by the MDB.
//   - Peers: PeerFinder.Find tells what is behind a veth port (its other
//     end's name, namespace, a process there and its container), from
//     IFLA_LINK, IFLA_LINK_NETNSID, RTM_GETNSID, /run/netns and /proc.
//   - Features: ProbeFeatures finds which kernel features the daemon uses
//     this kernel has (TCX, clsact/cls_bpf, BPF maps, MDB replace, proto
//     and source lists, mcast_max_groups, vlan_filtering,
//     mcast_to_unicast), on a bridge and veth pair of its own in a network
//     namespace of its own; Features.Report gives the mode of each and
//     whether the daemon can run (igmpsnoop doctor). The probes make their
//     links, qdisc and filter with vishvananda/netlink's Handle: nothing
//     else here creates any.
//
// # Netlink libraries
//
// The MDB path (Dump, MDBBatch, ProbeSourceLists, MDBWatcher) uses
// github.com/mdlayher/netlink; links, addresses and bridge and port options
// use vishvananda/netlink's nl package, as before. The nl package builds one
// request at a time as a tree of RtAttr, runs it with ExecuteIter, and
// keeps its reading of extended acks to itself; the batch writer needed its
// own socket, encoder and ack parser beside it. mdlayher/netlink sends many
// messages in one sendmsg (Conn.SendMessages), reads each refusal into an
// OpError with its errno, extack text and sequence number (so a batch
// knows which write failed), joins multicast groups, gathers multi-part
// dumps, decodes nested attributes (AttributeDecoder) and puts its socket on
// the runtime's poller, so deadlines bound a request and Close ends a
// waiting Read. So it carries all of the MDB path: one encoder
// (mdbReq.encode, which appends attributes itself, as AttributeEncoder
// allocates per attribute and a join storm encodes thousands of entries),
// one reader of refusals (ackError) and one parser of entries
// (parseMDBMessage). NETLINK_CAP_ACK stays off: the library finds no
// extack text after a capped echo of the request.
//
// # Kernel facts
//
// Verified on Linux 6.18 unless noted; the code depends on them.
//
//   - MDB messages carry struct br_port_msg with family AF_BRIDGE (else
//     EOPNOTSUPP), then MDBA_SET_ENTRY, a 28-byte struct br_mdb_entry
//     (ifindex and vid in host order, the group in network order, the
//     ethertype big-endian), then the MDBA_SET_ENTRY_ATTRS nest, parsed
//     strictly: every nest needs NLA_F_NESTED.
//   - NLM_F_REPLACE (6.2+) refreshes an existing entry in place: a
//     TEMPORARY entry's timer restarts at mcast_membership_interval, and
//     its proto (4-255, ours DefaultProto) replaces the kernel's. Filter
//     modes and source lists (MDBE_ATTR_GROUP_MODE, MDBE_ATTR_SRC_LIST)
//     are 6.2+ too; a host join takes neither, nor a proto.
//   - Refusals are EINVAL with an extack text (a group in 224.0.0.0/24,
//     ff02::1, a unicast group, a port that is no bridge port, snooping
//     off, bridge down), except: deleting a missing entry is a bare
//     EINVAL (hence ErrNotFound), a proto below 4 is ERANGE, and going over
//     mcast_hash_max is E2BIG, after which the kernel silently switches
//     mcast_snooping off for the whole bridge (hence ErrHashMax).
//     mcast_hash_max counts MDB keys (group, source, vid), not port groups.
//   - A dump (RTM_GETMDB, NLM_F_DUMP) answers with messages of type
//     RTM_GETMDB listing every bridge of the namespace (the ifindex is
//     ignored without strict checking, and refused with it), an entry's
//     port groups possibly split over messages. It includes the (S,G)
//     entries the kernel derives from (*,G) entries with source lists or
//     in EXCLUDE mode.
//   - RTNLGRP_MDB (26) announces each change as RTM_NEWMDB or RTM_DELMDB
//     with one entry, in the dump's format; a full receive queue loses
//     them (ENOBUFS).
//   - Bridge intervals are clock_t in centiseconds. Defaults: membership
//     interval 260 s, querier interval 255 s, query interval 125 s, query
//     response interval 10 s, hash_max 4096, IGMPv2, MLDv1.
//   - Packet taps see a frame before tc ingress (TCX) and before the
//     bridge, so the Guard can drop reports the daemon still reads. The
//     bridge forwards by the MDB only while it believes in a querier: the
//     Guard must let queries through.
//
// Network namespaces: every netlink, packet and BPF-link operation acts in
// the network namespace of the calling OS thread at the time the socket or
// link is created. Callers that work in another namespace must lock their
// goroutine to a thread that is in it while calling Lookup, Addresses,
// ReadOptions, the Set* functions, ProbeSourceLists, SubscribeLinks,
// OpenMDB, OpenMDBBatch, SubscribeMDB, AttachGuard, Guards.Attach (the
// first of a Guards in tc mode: its netlink socket serves the rest), ListenPort,
// OpenBridgeSender and PeerFinder.Find; the objects returned keep working
// from any goroutine.
package bridge
