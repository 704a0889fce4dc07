package bridge

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/igmpsnoop/igmpsnoop/wire"
)

// TCX verdicts (include/uapi/linux/bpf.h enum tcx_action_base).
const (
	// tcxNext lets later TCX programs and tc filters see the frame too;
	// TCX_PASS (0) would skip them.
	tcxNext = -1
	tcxDrop = 2
)

// Guard is an ingress filter on one bridge port that drops IGMP reports and
// leaves and MLD reports and dones before the bridge learns from them, and
// queries from the unspecified address (0.0.0.0, ::), which would make the
// kernel take the port for a router port. Packet sockets still see the
// frames (taps run before tc ingress). In TCX mode the program is attached
// through a BPF link that only this process holds: if the process exits or
// dies, the kernel detaches it and the bridge's own snooping takes over
// again. In tc mode (Guards) it sits in a cls_bpf filter and stands down
// by itself once the process stops refreshing its heartbeat.
type Guard struct {
	ifindex int
	opts    GuardOptions
	drops   *ebpf.Map // per-CPU u64 counters: counterDropped, counterRelayed
	prog    *ebpf.Program
	link    link.Link // TCX mode
	// heartbeat is the tc mode's heartbeat map (nil in TCX mode), read by
	// the program; tc is the set whose filter holds the program.
	heartbeat *ebpf.Map
	tc        *Guards
}

// AttachGuard loads the guard program and attaches it at the head of the
// TCX ingress chain of ifindex (in the calling thread's network namespace).
// It attaches even while the port has no carrier.
func AttachGuard(ifindex int, opts GuardOptions) (*Guard, error) {
	g, err := loadGuard(ifindex, opts, nil)
	if err != nil {
		return nil, err
	}
	// Head of the chain, so no earlier program can TCX_PASS a report past us.
	g.link, err = link.AttachTCX(link.TCXOptions{
		Interface: ifindex,
		Program:   g.prog,
		Attach:    ebpf.AttachTCXIngress,
		Anchor:    link.Head(),
	})
	if err != nil {
		g.Close()
		return nil, fmt.Errorf("guard on link %d: attach tcx ingress: %w", ifindex, err)
	}
	return g, nil
}

// loadGuard creates the drop counter and loads the program, unattached;
// with a heartbeat map, the program stands down once it is stale (tc mode).
func loadGuard(ifindex int, opts GuardOptions, heartbeat *ebpf.Map) (*Guard, error) {
	g := &Guard{ifindex: ifindex, opts: opts, heartbeat: heartbeat}
	var err error
	g.drops, err = ebpf.NewMap(&ebpf.MapSpec{
		Name:       "igs_counters",
		Type:       ebpf.PerCPUArray,
		KeySize:    4,
		ValueSize:  8,
		MaxEntries: counters,
	})
	if err != nil {
		return nil, fmt.Errorf("guard on link %d: create drop counter: %w", ifindex, err)
	}
	if g.prog, err = g.program(opts); err != nil {
		g.Close()
		return nil, fmt.Errorf("guard on link %d: load program: %w", ifindex, err)
	}
	return g, nil
}

// guardProgName is the guard program's name, which tells a leftover tc
// filter of ours from others'.
const guardProgName = "igs_guard"

// program loads the guard's program for opts, counting into g.drops.
func (g *Guard) program(opts GuardOptions) (*ebpf.Program, error) {
	relay, err := relayOf(opts)
	if err != nil {
		return nil, err
	}
	insns := guardProgram(g.drops.FD(), opts, relay)
	if g.heartbeat != nil {
		insns = append(heartbeatCheck(g.heartbeat.FD()), insns...)
	}
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         guardProgName,
		Type:         ebpf.SchedCLS,
		Instructions: insns,
		License:      "Dual MIT/GPL",
	})
}

// Update switches the guard to new options in place: the new program
// replaces the old in the same link or filter, so no frame passes
// unguarded.
func (g *Guard) Update(opts GuardOptions) error {
	if opts == g.opts {
		return nil
	}
	prog, err := g.program(opts)
	if err != nil {
		return fmt.Errorf("guard on link %d: load program: %w", g.ifindex, err)
	}
	if g.tc != nil {
		err = g.tc.replace(g.ifindex, prog)
	} else {
		err = g.link.Update(prog)
	}
	if err != nil {
		prog.Close()
		return fmt.Errorf("guard on link %d: replace program: %w", g.ifindex, err)
	}
	g.prog.Close()
	g.prog, g.opts = prog, opts
	return nil
}

// Dropped returns how many frames the guard has dropped since it was
// attached. The drops are invisible in interface counters.
func (g *Guard) Dropped() (uint64, error) { return g.counter(counterDropped, "drop") }

// Relayed returns how many reports the guard has relayed itself (see
// GuardOptions.Relay) since it was attached. They are among the dropped.
func (g *Guard) Relayed() (uint64, error) { return g.counter(counterRelayed, "relay") }

func (g *Guard) counter(key uint32, name string) (uint64, error) {
	var perCPU []uint64
	if err := g.drops.Lookup(key, &perCPU); err != nil {
		return 0, fmt.Errorf("guard on link %d: read %s counter: %w", g.ifindex, name, err)
	}
	var n uint64
	for _, v := range perCPU {
		n += v
	}
	return n, nil
}

// The guard's per-CPU counters, by key.
const (
	counterDropped = iota
	counterRelayed
	counters
)

// Close detaches the program; the bridge learns from the port again.
func (g *Guard) Close() error {
	var errs []error
	if g.tc != nil {
		if err := g.tc.detach(g.ifindex, g.prog); err != nil {
			errs = append(errs, fmt.Errorf("remove tc filter: %w", err))
		}
		g.tc = nil
	}
	if g.link != nil {
		if err := g.link.Close(); err != nil {
			errs = append(errs, fmt.Errorf("detach: %w", err))
		}
		g.link = nil
	}
	if g.prog != nil {
		if err := g.prog.Close(); err != nil {
			errs = append(errs, fmt.Errorf("unload program: %w", err))
		}
		g.prog = nil
	}
	if g.drops != nil {
		if err := g.drops.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close drop counter: %w", err))
		}
		g.drops = nil
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("guard on link %d: %w", g.ifindex, err)
	}
	return nil
}

// Stack slots (offsets from the frame pointer R10) and registers used by
// the guard program.
const (
	slotEtherType = -8  // 2 bytes
	slotIPv4      = -32 // 20 bytes: the fixed IPv4 header
	slotL4Type    = -40 // 1 byte: IGMP or ICMPv6 type
	slotKey       = -44 // u32 map key
	slotExt       = -48 // 4 bytes: the start of an IPv6 extension header
	slotIPv6      = -72 // 24 bytes: the IPv6 header up to its source address

	regCtx  = asm.R6 // *__sk_buff, kept across helper calls
	regL3   = asm.R7 // offset of the network header in the frame
	regTmp  = asm.R8
	regTmp2 = asm.R9
)

const (
	labelPass = "pass"
	labelDrop = "drop"
	labelIPv4 = "ipv4"
	labelIPv6 = "ipv6"
)

// maxExtHeaders bounds the IPv6 extension headers the guard walks to find
// an MLD message, the Hop-by-Hop header included. The kernel walks any
// number (ipv6_skip_exthdr); a frame that starts with a Hop-by-Hop header
// and has more extension headers than this is dropped rather than passed,
// so that no report can reach the bridge by hiding deeper. No real traffic
// has that many.
const maxExtHeaders = 8

// guardProgram assembles the guard. At TCX ingress skb->data points at the
// Ethernet header. Headers are read with bpf_skb_load_bytes so that
// non-linear frames and short frames are handled without packet-pointer
// bounds proofs; any read that fails passes the frame.
//
// Layout: ethernet() dispatches on the EtherType to ipv4Section and
// ipv6Section, which jump to "drop" or "pass".
func guardProgram(countersFD int, opts GuardOptions, relay *relayMaps) asm.Instructions {
	var p asm.Instructions
	p = append(p, ethernet()...)
	p = append(p, ipv4Section(opts, relay != nil)...)
	p = append(p, ipv6Section(opts, relay != nil)...)
	if relay != nil {
		p = append(p, relaySections(relay, countersFD)...)
	}
	p = append(p, verdicts(countersFD)...)
	return p
}

// loadBytes copies n bytes at frame offset (register off + imm) to a stack
// slot. R0 is 0 on success. Clobbers R1-R5.
func loadBytes(off asm.Register, imm int32, slot int16, n int32) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R1, regCtx),
		asm.Mov.Reg(asm.R2, off),
		asm.Add.Imm(asm.R2, imm),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, int32(slot)),
		asm.Mov.Imm(asm.R4, n),
		asm.FnSkbLoadBytes.Call(),
	}
}

// ethernet finds the network header, behind at most one 802.1Q/802.1ad tag.
// (The kernel usually moves a VLAN tag into skb metadata before TCX, so the
// tag is rarely still in the data; both cases work.)
func ethernet() asm.Instructions {
	p := asm.Instructions{
		asm.Mov.Reg(regCtx, asm.R1),
		asm.Mov.Imm(regL3, 0),
	}
	p = append(p, loadBytes(regL3, 12, slotEtherType, 2)...)
	p = append(p,
		asm.JNE.Imm(asm.R0, 0, labelPass),
		asm.Mov.Imm(regL3, 14),
		asm.LoadMem(regTmp, asm.RFP, slotEtherType, asm.Half),
		asm.HostTo(asm.BE, regTmp, asm.Half), // network to host order (its own inverse)
		asm.JEq.Imm(regTmp, 0x8100, "vlan"),
		asm.JEq.Imm(regTmp, 0x88a8, "vlan"),
		asm.Ja.Label("dispatch"),
	)
	vlan := loadBytes(regL3, 2, slotEtherType, 2) // inner EtherType at 16
	vlan[0] = vlan[0].WithSymbol("vlan")
	p = append(p, vlan...)
	p = append(p,
		asm.JNE.Imm(asm.R0, 0, labelPass),
		asm.Mov.Imm(regL3, 18),
		asm.LoadMem(regTmp, asm.RFP, slotEtherType, asm.Half),
		asm.HostTo(asm.BE, regTmp, asm.Half),
		asm.JEq.Imm(regTmp, 0x0800, labelIPv4).WithSymbol("dispatch"),
		asm.JEq.Imm(regTmp, 0x86dd, labelIPv6),
		asm.Ja.Label(labelPass),
	)
	return p
}

// ipv4Section drops IGMP messages of the guarded types, and queries from
// 0.0.0.0. The IGMP type is at l3 + IHL*4: IGMP messages carry the Router
// Alert option, so IHL is normally 6, not 5.
func ipv4Section(opts GuardOptions, relay bool) asm.Instructions {
	p := loadBytes(regL3, 0, slotIPv4, 20)
	p[0] = p[0].WithSymbol(labelIPv4)
	p = append(p,
		asm.JNE.Imm(asm.R0, 0, labelPass),
		// Version 4, protocol 2 (IGMP).
		asm.LoadMem(regTmp, asm.RFP, slotIPv4, asm.Byte),
		asm.Mov.Reg(regTmp2, regTmp),
		asm.RSh.Imm(regTmp2, 4),
		asm.JNE.Imm(regTmp2, 4, labelPass),
		asm.LoadMem(regTmp2, asm.RFP, slotIPv4+9, asm.Byte),
		asm.JNE.Imm(regTmp2, 2, labelPass),
		// A non-first fragment: the kernel's IGMP check ignores the offset
		// and would read its payload as IGMP, so it must not reach the
		// bridge (the daemon refuses every fragment too).
		asm.LoadMem(regTmp2, asm.RFP, slotIPv4+6, asm.Half),
		asm.HostTo(asm.BE, regTmp2, asm.Half),
		asm.JSet.Imm(regTmp2, 0x1fff, labelDrop),
		// IHL in bytes; below 20 is malformed, leave it to the kernel.
		asm.And.Imm(regTmp, 0x0f),
		asm.LSh.Imm(regTmp, 2),
		asm.JLT.Imm(regTmp, 20, labelPass),
		asm.Add.Reg(regTmp, regL3),
	)
	p = append(p, loadBytes(regTmp, 0, slotL4Type, 1)...)
	p = append(p,
		asm.JNE.Imm(asm.R0, 0, labelPass),
		asm.LoadMem(regTmp, asm.RFP, slotL4Type, asm.Byte),
	)
	// Everything a host sends (RFC 2236, RFC 3376), unless the kernel
	// learns from this port: then they pass, whatever their destination
	// (a v1/v2 report goes to its group, outside 224.0.0.0/24).
	hostVerdict := labelDrop
	if opts.PassReports {
		hostVerdict = labelPass
	} else if relay {
		p = append(p,
			asm.JEq.Imm(regTmp, int32(wire.TypeReportV1), labelRelay4),
			asm.JEq.Imm(regTmp, int32(wire.TypeReportV2), labelRelay4),
			asm.JEq.Imm(regTmp, int32(wire.TypeReportV3), labelRelay4),
		)
	}
	for _, t := range [...]uint8{wire.TypeReportV1, wire.TypeReportV2, wire.TypeLeave, wire.TypeReportV3} {
		p = append(p, asm.JEq.Imm(regTmp, int32(t), hostVerdict))
	}
	if opts.DropQueries {
		p = append(p, asm.JEq.Imm(regTmp, int32(wire.TypeQuery), labelDrop))
	}
	// Queries pass, as the bridge must hear a querier to forward by the MDB
	// at all; but one from 0.0.0.0 (a snooping switch's proxy query) would
	// make the kernel take the port for a router port (RFC 4541 2.1.1 says
	// it must not): drop it, the daemon floods it itself.
	// Any other IGMP type (DVMRP, mtrace, MRD, ...) must reach every port
	// (RFC 4541 C4). The bridge floods it only to 224.0.0.0/24; to another
	// destination it forwards it like data, to members and routers only:
	// drop those, the daemon floods them.
	return append(p,
		asm.JEq.Imm(regTmp, int32(wire.TypeQuery), "query"),
		asm.LoadMem(regTmp, asm.RFP, slotIPv4+16, asm.Word), // destination address
		asm.HostTo(asm.BE, regTmp, asm.Word),
		asm.RSh.Imm(regTmp, 8),
		asm.JEq.Imm(regTmp, 0xe00000, labelPass), // 224.0.0.0/24
		asm.Ja.Label(labelDrop),
		asm.LoadMem(regTmp, asm.RFP, slotIPv4+12, asm.Word).WithSymbol("query"), // source address
		asm.JEq.Imm(regTmp, 0, labelDrop),
		asm.Ja.Label(labelPass),
	)
}

// ipv6Section drops MLD reports and dones and MLD
// queries from the unspecified address, where the kernel's snooping
// looks for them: behind a Hop-by-Hop options header that comes first, and
// possibly more extension headers after it (ipv6_mc_check_mld). Everything else
// passes: MLD without a Hop-by-Hop header (the kernel ignores it), queries
// from real routers, MRD, neighbour discovery, PIM, data.
//
// Register use: regTmp holds the type of the header at frame offset
// regTmp2.
func ipv6Section(opts GuardOptions, relay bool) asm.Instructions {
	p := loadBytes(regL3, 0, slotIPv6, 24)
	p[0] = p[0].WithSymbol(labelIPv6)
	p = append(p,
		asm.JNE.Imm(asm.R0, 0, labelPass),
		asm.LoadMem(regTmp, asm.RFP, slotIPv6, asm.Byte),
		asm.RSh.Imm(regTmp, 4),
		asm.JNE.Imm(regTmp, 6, labelPass),
		asm.LoadMem(regTmp, asm.RFP, slotIPv6+6, asm.Byte), // next header
		asm.JNE.Imm(regTmp, 0, labelPass),                  // no Hop-by-Hop first: no MLD for the kernel
		asm.Mov.Reg(regTmp2, regL3),
		asm.Add.Imm(regTmp2, 40),
	)
	// One unrolled step per extension header: read its first 4 bytes, add
	// its length to regTmp2, and look at its next header.
	for i := range maxExtHeaders {
		ext := "ext" + strconv.Itoa(i)
		frag, auth, next := ext+"_frag", ext+"_auth", ext+"_next"
		nextExt := "ext" + strconv.Itoa(i+1)
		if i == maxExtHeaders-1 {
			nextExt = labelDrop // too deep
		}
		step := loadBytes(regTmp2, 0, slotExt, 4)
		step[0] = step[0].WithSymbol(ext)
		p = append(p, step...)
		p = append(p,
			asm.JNE.Imm(asm.R0, 0, labelPass),
			asm.JEq.Imm(regTmp, 44, frag),
			asm.JEq.Imm(regTmp, 51, auth),
			// Hop-by-Hop, Routing, Destination options: (len+1)*8 bytes.
			asm.LoadMem(asm.R1, asm.RFP, slotExt+1, asm.Byte),
			asm.Add.Imm(asm.R1, 1),
			asm.LSh.Imm(asm.R1, 3),
			asm.Ja.Label(next),
			// Fragment: 8 bytes. Past a non-first fragment the kernel
			// finds no ICMPv6 header.
			asm.LoadMem(asm.R1, asm.RFP, slotExt+2, asm.Half).WithSymbol(frag),
			asm.HostTo(asm.BE, asm.R1, asm.Half),
			asm.JSet.Imm(asm.R1, 0xfff8, labelPass),
			asm.Mov.Imm(asm.R1, 8),
			asm.Ja.Label(next),
			// Authentication header: (len+2)*4 bytes.
			asm.LoadMem(asm.R1, asm.RFP, slotExt+1, asm.Byte).WithSymbol(auth),
			asm.Add.Imm(asm.R1, 2),
			asm.LSh.Imm(asm.R1, 2),
			asm.Add.Reg(regTmp2, asm.R1).WithSymbol(next),
			asm.LoadMem(regTmp, asm.RFP, slotExt, asm.Byte),
			asm.JEq.Imm(regTmp, 58, "icmpv6"),
		)
		for _, t := range [...]int32{0, 43, 44, 51, 60} {
			p = append(p, asm.JEq.Imm(regTmp, t, nextExt))
		}
		p = append(p, asm.Ja.Label(labelPass)) // another protocol, or no next header
	}
	icmp := loadBytes(regTmp2, 0, slotL4Type, 1)
	icmp[0] = icmp[0].WithSymbol("icmpv6")
	p = append(p, icmp...)
	p = append(p,
		asm.JNE.Imm(asm.R0, 0, labelPass),
		asm.LoadMem(regTmp, asm.RFP, slotL4Type, asm.Byte),
	)
	// Everything a host sends (RFC 2710, RFC 3810), unless the kernel
	// learns from this port.
	if !opts.PassReports {
		if relay {
			p = append(p,
				asm.JEq.Imm(regTmp, int32(wire.TypeMLDReportV1), labelRelay6),
				asm.JEq.Imm(regTmp, int32(wire.TypeMLDReportV2), labelRelay6),
			)
		}
		for _, t := range [...]uint8{wire.TypeMLDReportV1, wire.TypeMLDDone, wire.TypeMLDReportV2} {
			p = append(p, asm.JEq.Imm(regTmp, int32(t), labelDrop))
		}
	}
	if opts.DropQueries {
		p = append(p, asm.JEq.Imm(regTmp, int32(wire.TypeMLDQuery), labelDrop))
	}
	// A query from :: is dropped for the reason IGMP ones from 0.0.0.0 are.
	return append(p,
		asm.JNE.Imm(regTmp, int32(wire.TypeMLDQuery), labelPass),
		asm.LoadMem(regTmp, asm.RFP, slotIPv6+8, asm.DWord), // source address
		asm.LoadMem(regTmp2, asm.RFP, slotIPv6+16, asm.DWord),
		asm.Or.Reg(regTmp, regTmp2),
		asm.JEq.Imm(regTmp, 0, labelDrop),
		asm.Ja.Label(labelPass),
	)
}

// verdicts: "pass" returns TCX_NEXT; "drop" counts and returns TCX_DROP.
// In a cls_bpf direct-action filter the same numbers are TC_ACT_UNSPEC,
// which goes on to the next filter (and passes the frame after the last),
// and TC_ACT_SHOT, so one program serves both modes.
func verdicts(countersFD int) asm.Instructions {
	p := asm.Instructions{
		asm.Mov.Imm(asm.R0, tcxNext).WithSymbol(labelPass),
		asm.Return(),
	}
	drop := count(countersFD, counterDropped, "drop_ret")
	drop[0] = drop[0].WithSymbol(labelDrop)
	p = append(p, drop...)
	return append(p,
		asm.Mov.Imm(asm.R0, tcxDrop).WithSymbol("drop_ret"),
		asm.Return(),
	)
}

// count adds one to the per-CPU counter key and goes on at label next,
// which must be the next instruction's.
func count(countersFD int, key int32, next string) asm.Instructions {
	return asm.Instructions{
		asm.StoreImm(asm.RFP, slotKey, int64(key), asm.Word),
		asm.LoadMapPtr(asm.R1, countersFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, slotKey),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, next),
		// Per-CPU slot: a plain increment is race-free.
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
	}
}
