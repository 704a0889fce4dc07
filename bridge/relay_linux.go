package bridge

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/igmpsnoop/igmpsnoop/wire"
)

// relayMaps is the Linux Relay: two maps every guard of a bridge reads.
type relayMaps struct {
	// from: ifindex (u32) to the protocols relayed from it (u32:
	// relayIGMP, relayMLD); a port missing is relayed from for neither.
	from *ebpf.Map
	// to: key 0 (IGMP) and 1 (MLD) to a relayTargets. A hash map
	// without preallocation: an update replaces the element whole, so a
	// guard never reads a count with another update's ports (an array
	// map's value is copied over in place).
	to *ebpf.Map
	// ssm are the SSM ranges, compiled into the guards' programs.
	ssm []netip.Prefix
}

// Bits of a relayMaps.from value.
const (
	relayIGMP = 1
	relayMLD  = 2
)

// relayFromMax bounds the ports of a bridge (a container host may have a
// thousand).
const relayFromMax = 4096

// relayTargets is a relayMaps.to value: count ports, then their ifindexes.
type relayTargets struct {
	Count uint32
	Ports [MaxRelayTargets]uint32
}

// NewRelay creates a bridge's relay, relaying from no port to no port.
// Reports to groups in ssm are never relayed by the guards: the daemon
// refuses any-source requests there (RFC 4604 §2.2), and the router must
// not see them either.
func NewRelay(ssm []netip.Prefix) (Relay, error) {
	from, err := ebpf.NewMap(&ebpf.MapSpec{Name: "igs_relay_from", Type: ebpf.Hash, KeySize: 4, ValueSize: 4, MaxEntries: relayFromMax})
	if err != nil {
		return nil, fmt.Errorf("relay: create port map: %w", err)
	}
	to, err := ebpf.NewMap(&ebpf.MapSpec{Name: "igs_relay_to", Type: ebpf.Hash, KeySize: 4, ValueSize: uint32(binary.Size(relayTargets{})),
		MaxEntries: 2, Flags: unix.BPF_F_NO_PREALLOC})
	if err != nil {
		from.Close()
		return nil, fmt.Errorf("relay: create target map: %w", err)
	}
	return &relayMaps{from: from, to: to, ssm: ssm}, nil
}

func (r *relayMaps) SetTargets(mld bool, ports []int) error {
	var v relayTargets
	if len(ports) <= MaxRelayTargets {
		v.Count = uint32(len(ports))
		for i, p := range ports {
			v.Ports[i] = uint32(p)
		}
	}
	key := uint32(0)
	if mld {
		key = 1
	}
	if err := r.to.Put(key, &v); err != nil {
		return fmt.Errorf("relay: set targets: %w", err)
	}
	return nil
}

func (r *relayMaps) SetPort(ifindex int, igmp, mld bool) error {
	var bits uint32
	if igmp {
		bits |= relayIGMP
	}
	if mld {
		bits |= relayMLD
	}
	key := uint32(ifindex)
	if bits == 0 {
		if err := r.from.Delete(key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("relay: port %d: %w", ifindex, err)
		}
		return nil
	}
	if err := r.from.Put(key, bits); err != nil {
		return fmt.Errorf("relay: port %d: %w", ifindex, err)
	}
	return nil
}

// Close empties the maps before closing them: a guard whose program could
// not be moved to another relay still holds them, and must relay nothing
// more (the daemon relays its reports).
func (r *relayMaps) Close() error {
	var errs []error
	for _, mld := range []bool{false, true} {
		errs = append(errs, r.SetTargets(mld, nil))
	}
	var key, next uint32
	for r.from.NextKey(nil, &next) == nil {
		key = next
		if err := r.from.Delete(key); err != nil {
			errs = append(errs, fmt.Errorf("relay: port %d: %w", key, err))
			break
		}
	}
	return errors.Join(append(errs, r.from.Close(), r.to.Close())...)
}

// relayOf is the guard options' relay as this package's, or nil.
func relayOf(opts GuardOptions) (*relayMaps, error) {
	if opts.Relay == nil || opts.PassReports {
		return nil, nil
	}
	r, ok := opts.Relay.(*relayMaps)
	if !ok {
		return nil, fmt.Errorf("relay: a %T is not one of NewRelay's", opts.Relay)
	}
	return r, nil
}

// __sk_buff fields the relay reads (include/uapi/linux/bpf.h).
const (
	skbLen         = 0
	skbVLANPresent = 20
	skbIfindex     = 40
)

// Stack slots of the relay sections, below the guard's own.
const (
	slotOpt   = -180 // 4 bytes: the IPv4 option word
	slotMAC   = -176 // 8 bytes: the source MAC (6) and 2 more
	slotHBH   = -168 // 8 bytes: the Hop-by-Hop header
	slotAddrs = -160 // 32 bytes: IPv6 source and destination
	slotRec   = -204 // 20 bytes: a record's header and group
	slotMsg   = -204 - maxRelayMsg
)

// Labels of the relay sections, jumped to where a guard would drop an
// IGMP or MLD report.
const (
	labelRelay4 = "relay4"
	labelRelay6 = "relay6"
)

// relaySections assembles the two relay sections: each checks that the
// frame is of RelayShape, and that its port is relayed from, clones it to
// every target but its own port, counts it, and jumps to "drop" (the
// bridge must not forward it as well). Anything that fails a check goes to
// "drop" unrelayed: the daemon relays it, or refuses it.
func relaySections(r *relayMaps, countersFD int) asm.Instructions {
	var p asm.Instructions
	p = append(p, relay4(r, countersFD)...)
	return append(p, relay6(r, countersFD)...)
}

// relayCommon checks what both protocols share: the frame is untagged
// (in its data and its metadata), the port is relayed from for bit, and
// the source MAC is unicast and not zero.
func relayCommon(r *relayMaps, label string, bit int32) asm.Instructions {
	ok := label + "_port"
	p := asm.Instructions{
		asm.JNE.Imm(regL3, 14, labelDrop).WithSymbol(label),
		asm.LoadMem(asm.R1, regCtx, skbVLANPresent, asm.Word),
		asm.JNE.Imm(asm.R1, 0, labelDrop),
		asm.LoadMem(asm.R1, regCtx, skbIfindex, asm.Word),
		asm.StoreMem(asm.RFP, slotKey, asm.R1, asm.Word),
		asm.LoadMapPtr(asm.R1, r.from.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, slotKey),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, labelDrop),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.Word),
		asm.JSet.Imm(asm.R1, bit, ok),
		asm.Ja.Label(labelDrop),
	}
	mac := loadBytes(regL3, -8, slotMAC, 6) // frame offset 6
	mac[0] = mac[0].WithSymbol(ok)
	p = append(p, mac...)
	return append(p,
		asm.JNE.Imm(asm.R0, 0, labelDrop),
		asm.LoadMem(asm.R1, asm.RFP, slotMAC, asm.Byte),
		asm.JSet.Imm(asm.R1, 1, labelDrop), // group bit
		asm.LoadMem(asm.R1, asm.RFP, slotMAC, asm.Word),
		asm.LoadMem(asm.R2, asm.RFP, slotMAC+4, asm.Half),
		asm.Or.Reg(asm.R1, asm.R2),
		asm.JEq.Imm(asm.R1, 0, labelDrop),
	)
}

// sumHalves adds the n 16-bit words at stack slot to R1, in host order:
// a ones' complement sum is the same in either byte order, swapped.
func sumHalves(slot int16, n int) asm.Instructions {
	var p asm.Instructions
	for i := range n {
		p = append(p,
			asm.LoadMem(asm.R2, asm.RFP, slot+int16(2*i), asm.Half),
			asm.Add.Reg(asm.R1, asm.R2),
		)
	}
	return p
}

// checksumOK folds R1 to 16 bits and drops the frame unless it is 0xffff,
// the sum of words that hold their own right checksum.
func checksumOK() asm.Instructions {
	p := asm.Instructions{}
	for range 2 {
		p = append(p,
			asm.Mov.Reg(asm.R2, asm.R1),
			asm.RSh.Imm(asm.R2, 16),
			asm.And.Imm(asm.R1, 0xffff),
			asm.Add.Reg(asm.R1, asm.R2),
		)
	}
	return append(p, asm.JNE.Imm(asm.R1, 0xffff, labelDrop))
}

// loadMessage copies the message of regTmp bytes (checked to be 8 to
// maxRelayMsg, a multiple of 4) at frame offset regTmp2 to slotMsg and
// adds its ones' complement sum (bpf_csum_diff) to R1's, which it saves
// in regL3 meanwhile. Clobbers R0-R5.
func loadMessage() asm.Instructions {
	p := asm.Instructions{
		// The verifier loses the range at a JSET: it comes first.
		asm.JSet.Imm(regTmp, 3, labelDrop),
		asm.JLT.Imm(regTmp, 8, labelDrop),
		asm.JGT.Imm(regTmp, maxRelayMsg, labelDrop),
		asm.Mov.Reg(regL3, asm.R1),
		asm.Mov.Reg(asm.R1, regCtx),
		asm.Mov.Reg(asm.R2, regTmp2),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, slotMsg),
		asm.Mov.Reg(asm.R4, regTmp),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, labelDrop),
		asm.Mov.Imm(asm.R1, 0),
		asm.Mov.Imm(asm.R2, 0),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, slotMsg),
		asm.Mov.Reg(asm.R4, regTmp),
		asm.Mov.Imm(asm.R5, 0),
		asm.FnCsumDiff.Call(),
		asm.JSLT.Imm(asm.R0, 0, labelDrop),
		asm.Mov.Reg(asm.R1, asm.R0),
		asm.Add.Reg(asm.R1, regL3),
	}
	return p
}

// notInSSM drops the frame if the group at stack slot (4 or 16 bytes,
// network order) is in one of r's ranges of its family. Clobbers R1.
func notInSSM(r *relayMaps, slot int16, v6 bool, label string) asm.Instructions {
	var p asm.Instructions
	for i, pfx := range r.ssm {
		if pfx.Addr().Is6() != v6 {
			continue
		}
		next := label + "_ssm" + strconv.Itoa(i)
		b := pfx.Masked().Addr().AsSlice()
		for w := 0; w*32 < pfx.Bits(); w++ {
			bits := min(pfx.Bits()-w*32, 32)
			mask := uint32(0xffffffff) << (32 - bits)
			p = append(p,
				asm.LoadMem(asm.R1, asm.RFP, slot+int16(4*w), asm.Word),
				asm.HostTo(asm.BE, asm.R1, asm.Word),
				asm.And.Imm32(asm.R1, int32(mask)),
				asm.JNE.Imm32(asm.R1, int32(binary.BigEndian.Uint32(b[4*w:])), next),
			)
		}
		p = append(p, asm.Ja.Label(labelDrop))
		p = append(p, asm.Mov.Imm(asm.R1, 0).WithSymbol(next)) // a no-op to hang the label on
	}
	return p
}

// multicast drops the frame unless the group at stack slot is multicast.
func multicast(slot int16, v6 bool) asm.Instructions {
	if v6 {
		return asm.Instructions{
			asm.LoadMem(asm.R1, asm.RFP, slot, asm.Byte),
			asm.JNE.Imm(asm.R1, 0xff, labelDrop),
		}
	}
	return asm.Instructions{
		asm.LoadMem(asm.R1, asm.RFP, slot, asm.Byte),
		asm.JLT.Imm(asm.R1, 224, labelDrop),
		asm.JGT.Imm(asm.R1, 239, labelDrop),
	}
}

// joinRecordsCheck walks the records of the IGMPv3 (alen 4) or MLDv2
// (alen 16) report at slotMsg, whose frame offset is regTmp2 and length
// regTmp, as joinRecords does, and goes on at label+"_ok" if it may be
// relayed. Registers: regL3 the message's end, regTmp the records left,
// regTmp2 the record's frame offset.
func joinRecordsCheck(r *relayMaps, label string, alen int32) asm.Instructions {
	v6 := alen == 16
	p := asm.Instructions{
		asm.Mov.Reg(regL3, regTmp2),
		asm.Add.Reg(regL3, regTmp),
		asm.Add.Imm(regTmp2, 8),
		asm.LoadMem(regTmp, asm.RFP, slotMsg+6, asm.Half),
		asm.HostTo(asm.BE, regTmp, asm.Half),
		asm.JEq.Imm(regTmp, 0, labelDrop),
		asm.JGT.Imm(regTmp, maxRelayRecords, labelDrop),
	}
	for i := range maxRelayRecords {
		rec := label + "_rec" + strconv.Itoa(i)
		any, ok := rec+"_any", rec+"_ok"
		head := loadBytes(regTmp2, 0, slotRec, 4+alen)
		head[0] = head[0].WithSymbol(rec)
		p = append(p, head...)
		p = append(p,
			asm.JNE.Imm(asm.R0, 0, labelDrop),
			asm.LoadMem(asm.R1, asm.RFP, slotRec, asm.Byte),
			asm.JEq.Imm(asm.R1, 2, any), // MODE_IS_EXCLUDE
			asm.JEq.Imm(asm.R1, 4, any), // CHANGE_TO_EXCLUDE
			asm.JEq.Imm(asm.R1, 5, ok),  // ALLOW_NEW_SOURCES
			asm.JNE.Imm(asm.R1, 1, labelDrop),
			asm.LoadMem(asm.R1, asm.RFP, slotRec+2, asm.Half), // MODE_IS_INCLUDE: not of nothing
			asm.JEq.Imm(asm.R1, 0, labelDrop),
			asm.Ja.Label(ok),
		)
		ssm := notInSSM(r, slotRec+4, v6, rec)
		if len(ssm) == 0 {
			ssm = asm.Instructions{asm.Mov.Imm(asm.R1, 0)}
		}
		ssm[0] = ssm[0].WithSymbol(any)
		p = append(p, ssm...)
		mc := multicast(slotRec+4, v6)
		mc[0] = mc[0].WithSymbol(ok)
		p = append(p, mc...)
		p = append(p,
			// The next record: past the sources and the auxiliary data.
			asm.LoadMem(asm.R1, asm.RFP, slotRec+2, asm.Half),
			asm.HostTo(asm.BE, asm.R1, asm.Half),
			asm.Mul.Imm(asm.R1, alen),
			asm.LoadMem(asm.R2, asm.RFP, slotRec+1, asm.Byte),
			asm.LSh.Imm(asm.R2, 2),
			asm.Add.Reg(asm.R1, asm.R2),
			asm.Add.Imm(asm.R1, 4+alen),
			asm.Add.Reg(regTmp2, asm.R1),
			asm.JGT.Reg(regTmp2, regL3, labelDrop),
			asm.Sub.Imm(regTmp, 1),
			asm.JNE.Imm(regTmp, 0, rec+"_next"),
			asm.JEq.Reg(regTmp2, regL3, label+"_ok"),
			asm.Ja.Label(labelDrop),
			asm.Mov.Imm(asm.R1, 0).WithSymbol(rec+"_next"),
		)
	}
	return append(p, asm.Ja.Label(labelDrop)) // more than maxRelayRecords
}

// relay4 relays IGMPv1, v2 and v3 reports. On entry the fixed IPv4
// header is at slotIPv4, regL3 is its frame offset and the IGMP type is
// at slotL4Type.
func relay4(r *relayMaps, countersFD int) asm.Instructions {
	p := relayCommon(r, labelRelay4, relayIGMP)
	p = append(p,
		// IHL 5, or 6 with the Router Alert option (in regTmp, in bytes).
		asm.LoadMem(regTmp, asm.RFP, slotIPv4, asm.Byte),
		asm.And.Imm(regTmp, 0x0f),
		asm.JEq.Imm(regTmp, 5, "relay4_ihl"),
		asm.JNE.Imm(regTmp, 6, labelDrop),
	)
	p = append(p, loadBytes(regL3, 20, slotOpt, 4)...)
	p = append(p,
		asm.JNE.Imm(asm.R0, 0, labelDrop),
		asm.LoadMem(asm.R1, asm.RFP, slotOpt, asm.Word),
		asm.HostTo(asm.BE, asm.R1, asm.Word),
		asm.JNE.Imm32(asm.R1, int32(binary.BigEndian.Uint32(routerAlert4[:])), labelDrop),
		asm.LSh.Imm(regTmp, 2).WithSymbol("relay4_ihl"),
		// The whole packet in the frame.
		asm.LoadMem(asm.R1, asm.RFP, slotIPv4+2, asm.Half),
		asm.HostTo(asm.BE, asm.R1, asm.Half),
		asm.Mov.Reg(asm.R2, asm.R1),
		asm.Add.Imm(asm.R2, 14),
		asm.LoadMem(asm.R3, regCtx, skbLen, asm.Word),
		asm.JGT.Reg(asm.R2, asm.R3, labelDrop),
		// No fragment, a source that can send.
		asm.LoadMem(asm.R2, asm.RFP, slotIPv4+6, asm.Half),
		asm.HostTo(asm.BE, asm.R2, asm.Half),
		asm.JSet.Imm(asm.R2, 0x3fff, labelDrop),
		asm.LoadMem(asm.R2, asm.RFP, slotIPv4+12, asm.Byte),
		asm.JGE.Imm(asm.R2, 224, labelDrop),
		asm.JEq.Imm(asm.R2, 127, labelDrop),
		// regTmp2: the message's frame offset; regTmp: its length.
		asm.Mov.Reg(regTmp2, regL3),
		asm.Add.Reg(regTmp2, regTmp),
		asm.JGT.Reg(regTmp, asm.R1, labelDrop),
		asm.Sub.Reg(asm.R1, regTmp),
		asm.Mov.Reg(asm.R3, regTmp), // the header's length, for its checksum
		asm.Mov.Reg(regTmp, asm.R1),
		asm.Mov.Imm(asm.R1, 0),
	)
	p = append(p, sumHalves(slotIPv4, 10)...)
	p = append(p, asm.JEq.Imm(asm.R3, 20, "relay4_sum"))
	p = append(p, sumHalves(slotOpt, 2)...)
	p = append(p, asm.Mov.Imm(asm.R0, 0).WithSymbol("relay4_sum"))
	p = append(p, checksumOK()...)
	p = append(p, asm.Mov.Imm(asm.R1, 0))
	p = append(p, loadMessage()...)
	p = append(p, checksumOK()...)
	return append(p, relayMessage(r, countersFD, labelRelay4, wire.TypeReportV3, 8, 4)...)
}

// relayMessage checks the message at slotMsg, regTmp bytes long, and
// relays it: a report with records (type recordsType: IGMPv3, MLDv2) by
// its records, an older one (IGMPv1/v2, MLDv1) by its length, oldLen, and
// its group. alen is the protocol's address length: 4 (IGMP) or 16 (MLD).
func relayMessage(r *relayMaps, countersFD int, label string, recordsType uint8, oldLen, alen int32) asm.Instructions {
	v6 := alen == 16
	group := int16(slotMsg + 4)
	if v6 {
		group = slotMsg + 8
	}
	p := asm.Instructions{
		asm.LoadMem(asm.R1, asm.RFP, slotL4Type, asm.Byte),
		asm.JEq.Imm(asm.R1, int32(recordsType), label+"_records"),
		asm.JNE.Imm(regTmp, oldLen, labelDrop),
	}
	p = append(p, multicast(group, v6)...)
	p = append(p, notInSSM(r, group, v6, label)...)
	p = append(p, asm.Ja.Label(label+"_ok"))
	recs := joinRecordsCheck(r, label, alen)
	recs[0] = recs[0].WithSymbol(label + "_records")
	p = append(p, recs...)
	key := int32(0)
	if v6 {
		key = 1
	}
	to := relayTo(r, countersFD, label, key)
	to[0] = to[0].WithSymbol(label + "_ok")
	return append(p, to...)
}

// relay6 relays MLDv1 and MLDv2 reports. On entry the IPv6 header's first
// 24 bytes are at slotIPv6, regL3 is its frame offset, regTmp2 the ICMPv6
// message's and the ICMPv6 type is at slotL4Type.
func relay6(r *relayMaps, countersFD int) asm.Instructions {
	p := relayCommon(r, labelRelay6, relayMLD)
	p = append(p,
		// The Hop-by-Hop header alone before the message, hop limit 1.
		asm.Mov.Reg(asm.R1, regL3),
		asm.Add.Imm(asm.R1, 48),
		asm.JNE.Reg(regTmp2, asm.R1, labelDrop),
		asm.LoadMem(asm.R1, asm.RFP, slotIPv6+7, asm.Byte),
		asm.JNE.Imm(asm.R1, 1, labelDrop),
		// regTmp: the message's length; all of it in the frame.
		asm.LoadMem(regTmp, asm.RFP, slotIPv6+4, asm.Half),
		asm.HostTo(asm.BE, regTmp, asm.Half),
		asm.JLT.Imm(regTmp, 8+8, labelDrop),
		asm.Sub.Imm(regTmp, 8),
		asm.Mov.Reg(asm.R1, regTmp),
		asm.Add.Imm(asm.R1, 14+48),
		asm.LoadMem(asm.R2, regCtx, skbLen, asm.Word),
		asm.JGT.Reg(asm.R1, asm.R2, labelDrop),
	)
	p = append(p, loadBytes(regL3, 40, slotHBH, 8)...)
	p = append(p,
		asm.JNE.Imm(asm.R0, 0, labelDrop),
		asm.LoadMem(asm.R1, asm.RFP, slotHBH, asm.DWord),
		asm.LoadImm(asm.R2, int64(binary.NativeEndian.Uint64(mldHopByHop[:])), asm.DWord),
		asm.JNE.Reg(asm.R1, asm.R2, labelDrop),
		// Source link-local or ::.
		asm.LoadMem(asm.R1, asm.RFP, slotIPv6+8, asm.Half),
		asm.HostTo(asm.BE, asm.R1, asm.Half),
		asm.And.Imm(asm.R1, 0xffc0),
		asm.JEq.Imm(asm.R1, 0xfe80, "relay6_src"),
		asm.LoadMem(asm.R1, asm.RFP, slotIPv6+8, asm.DWord),
		asm.LoadMem(asm.R2, asm.RFP, slotIPv6+16, asm.DWord),
		asm.Or.Reg(asm.R1, asm.R2),
		asm.JNE.Imm(asm.R1, 0, labelDrop),
	)
	addrs := loadBytes(regL3, 8, slotAddrs, 32)
	addrs[0] = addrs[0].WithSymbol("relay6_src")
	p = append(p, addrs...)
	// The pseudo-header: addresses, the message's length and next header
	// 58, as 16-bit words read in host order like the rest.
	p = append(p,
		asm.JNE.Imm(asm.R0, 0, labelDrop),
		asm.Mov.Reg(asm.R1, regTmp),
		asm.HostTo(asm.BE, asm.R1, asm.Half),
		asm.Add.Imm(asm.R1, int32(binary.NativeEndian.Uint16([]byte{0, 58}))),
	)
	p = append(p, sumHalves(slotAddrs, 16)...)
	p = append(p, loadMessage()...)
	p = append(p, checksumOK()...)
	return append(p, relayMessage(r, countersFD, labelRelay6, wire.TypeMLDReportV2, mldLen, 16)...)
}

// relayTo counts the frame as relayed and clones it out of every target of
// protocol key but its own port, then jumps to "drop".
func relayTo(r *relayMaps, countersFD int, label string, key int32) asm.Instructions {
	p := count(countersFD, counterRelayed, label+"_counted")
	p = append(p,
		asm.StoreImm(asm.RFP, slotKey, int64(key), asm.Word).WithSymbol(label+"_counted"),
		asm.LoadMapPtr(asm.R1, r.to.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, slotKey),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, labelDrop),
		asm.Mov.Reg(regL3, asm.R0), // the targets; helpers keep R6-R9
		asm.LoadMem(regTmp, regL3, 0, asm.Word),
		asm.LoadMem(regTmp2, regCtx, skbIfindex, asm.Word),
	)
	for i := range MaxRelayTargets {
		next := label + "_to" + strconv.Itoa(i+1)
		p = append(p,
			asm.JLE.Imm(regTmp, int32(i), labelDrop),
			asm.LoadMem(asm.R2, regL3, int16(4+4*i), asm.Word),
			asm.JEq.Reg(asm.R2, regTmp2, next),
			asm.Mov.Reg(asm.R1, regCtx),
			asm.Mov.Imm(asm.R3, 0), // egress
			asm.FnCloneRedirect.Call(),
			asm.Mov.Imm(asm.R0, 0).WithSymbol(next), // a no-op to hang the label on
		)
	}
	return append(p, asm.Ja.Label(labelDrop))
}
