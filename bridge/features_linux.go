package bridge

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	mdlnetlink "github.com/mdlayher/netlink"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// probeGroup is the group of the MDB probes' entries, on a bridge of their
// own: nothing else ever sees it.
var probeGroup = netip.AddrFrom4([4]byte{239, 255, 77, 78})

// ProbeFeatures finds which of the kernel features the daemon uses this
// kernel has, without disturbing any running bridge: the probes that change
// something (attaching programs, adding qdiscs, filters and MDB entries,
// switching vlan_filtering on) do so on a bridge and a veth pair of their
// own, in a network namespace of their own when the process may unshare
// one (CAP_SYS_ADMIN; the kernel then removes everything even if the
// process dies), else in the calling one under unique names ("igsdoc" and
// 6 random hex digits), deleted before it returns.
//
// bridgeName, if not empty, is a bridge the daemon would run on: it is only
// read (its options, ports, and ProbeSourceLists, which changes nothing).
//
// The error is for probes that could not be made at all (the throwaway
// links could not be created); what the kernel lacks is in Features.
func ProbeFeatures(bridgeName string) (Features, error) {
	return probeFeatures(bridgeName, true)
}

// probeFeatures is ProbeFeatures; isolate false makes the probes run beside
// the calling thread's links, as they do without CAP_SYS_ADMIN.
func probeFeatures(bridgeName string, isolate bool) (Features, error) {
	f := Features{Kernel: kernelRelease(), JIT: readSysctl("/proc/sys/net/core/bpf_jit_enable")}
	f.MissingCaps = missingCaps()
	needed := false
	for _, c := range f.MissingCaps {
		needed = needed || c != "CAP_NET_RAW" // the probes need all but this one
	}
	if bridgeName != "" {
		f.Bridge = checkBridge(bridgeName)
	}
	if needed {
		return f, nil
	}
	var perr error
	isolated, err := inProbeNamespace(isolate, func() { perr = f.probeScratch() })
	if err = errors.Join(err, perr); err != nil {
		return f, fmt.Errorf("probe kernel features: %w", err)
	}
	f.Probed, f.Isolated = true, isolated
	return f, nil
}

// kernelRelease is uname -r.
func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

func readSysctl(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// missingCaps lists the capabilities the daemon needs that this process's
// effective set lacks. CAP_SYS_ADMIN stands in for CAP_BPF, as it does in
// the kernel.
func missingCaps() []string {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return []string{"capabilities unreadable: " + err.Error()}
	}
	has := func(c int) bool { return data[c/32].Effective&(1<<(c%32)) != 0 }
	var missing []string
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"CAP_NET_ADMIN", has(unix.CAP_NET_ADMIN)},
		{"CAP_NET_RAW", has(unix.CAP_NET_RAW)},
		{"CAP_BPF", has(unix.CAP_BPF) || has(unix.CAP_SYS_ADMIN)},
	} {
		if !c.ok {
			missing = append(missing, c.name)
		}
	}
	return missing
}

// checkBridge reads what the daemon will find on the bridge called name.
func checkBridge(name string) *BridgeCheck {
	b := &BridgeCheck{Name: name, Ports: []string{}}
	br, ports, err := Lookup(name)
	if err != nil {
		b.Err = err.Error()
		return b
	}
	opts, err := ReadOptions(br.Index)
	if err != nil {
		b.Err = err.Error()
		return b
	}
	b.Snooping, b.VLANFiltering = opts.Snooping, opts.VLANFiltering
	for _, p := range ports {
		b.Ports = append(b.Ports, p.Name)
		if p.MulticastToUnicast {
			b.ToUnicast = append(b.ToUnicast, p.Name)
		}
	}
	if b.Snooping {
		ok, err := ProbeSourceLists(br.Index)
		b.SourceLists = probeOf(ok, err)
	}
	return b
}

// probeOf is a Probe from a probe function's answer.
func probeOf(found bool, err error) Probe {
	if err != nil {
		return Probe{Detail: err.Error()}
	}
	return Probe{Found: found}
}

// inProbeNamespace runs fn on a thread of its own, switched into a new
// network namespace if the process may make one, else into the calling
// thread's (also when isolate is false). The new namespace has no name and nothing else holds it: the
// kernel destroys it, with every link in it, when the thread ends. The
// thread is never unlocked, so the runtime ends it with the goroutine
// rather than reuse a thread left in another namespace.
func inProbeNamespace(isolate bool, fn func()) (isolated bool, err error) {
	caller, err := netns.Get()
	if err != nil {
		return false, fmt.Errorf("read own network namespace: %w", err)
	}
	defer caller.Close()
	type result struct {
		isolated bool
		err      error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// Switching takes CAP_SYS_ADMIN: only when the caller is elsewhere.
		cur, err := netns.Get()
		if err == nil && !cur.Equal(caller) {
			err = netns.Set(caller)
		}
		cur.Close()
		if err != nil {
			done <- result{err: fmt.Errorf("enter the caller's network namespace: %w", err)}
			return
		}
		isolated := false
		if isolate {
			ns, err := netns.New()
			switch {
			case errors.Is(err, unix.EPERM):
				// No CAP_SYS_ADMIN: beside the caller's links, on our own.
			case err != nil:
				done <- result{err: fmt.Errorf("make a probe network namespace: %w", err)}
				return
			default:
				ns.Close() // the thread keeps it alive until it ends
				isolated = true
			}
		}
		fn()
		done <- result{isolated: isolated}
	}()
	r := <-done
	return r.isolated, r.err
}

// scratch is the probes' own bridge and veth pair: a is a port of the
// bridge, b its peer, outside it.
type scratch struct {
	h      *netlink.Handle
	br     netlink.Link
	a, b   netlink.Link
	prog   *ebpf.Program
	prefix string
}

// probeScratch builds the scratch links in the calling thread's namespace,
// runs the probes that change something on them, and removes them.
func (f *Features) probeScratch() (err error) {
	s := &scratch{}
	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return fmt.Errorf("random name: %w", err)
	}
	s.prefix = "igsdoc" + hex.EncodeToString(rnd[:])
	if s.h, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
		return fmt.Errorf("open rtnetlink socket: %w", err)
	}
	defer s.h.Close()
	defer func() { err = errors.Join(err, s.remove()) }()
	if err := s.build(); err != nil {
		return err
	}
	f.probeBPF(s)
	f.MDB, f.MDBProto, f.MDBReplace = probeMDBWrites(s.br.Attrs().Index, s.a.Attrs().Index)
	if f.MDB.Found {
		f.SourceLists = probeOf(ProbeSourceLists(s.br.Attrs().Index))
	} else {
		f.SourceLists.Detail = "no MDB"
	}
	f.MaxGroups, f.ToUnicast = probePortAttrs(s.a.Attrs().Index)
	f.VLANFiltering = probeVLANFiltering(s.br.Attrs().Index)
	return nil
}

// build creates the bridge (snooping, as by default) and the veth pair, a
// in the bridge, everything up.
func (s *scratch) build() error {
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: s.prefix}}
	if err := s.h.LinkAdd(br); err != nil {
		return fmt.Errorf("create probe bridge %s: %w", s.prefix, err)
	}
	s.br = br
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: s.prefix + "a"}, PeerName: s.prefix + "b"}
	if err := s.h.LinkAdd(veth); err != nil {
		return fmt.Errorf("create probe veth pair %sa: %w", s.prefix, err)
	}
	s.a = veth
	var err error
	for _, name := range []string{s.prefix, s.prefix + "a", s.prefix + "b"} {
		l, lerr := s.h.LinkByName(name)
		if lerr != nil {
			return fmt.Errorf("find probe link %s: %w", name, lerr)
		}
		switch name {
		case s.prefix:
			s.br = l
		case s.prefix + "a":
			s.a = l
			err = s.h.LinkSetMasterByIndex(l, s.br.Attrs().Index)
		default:
			s.b = l
		}
		if err = errors.Join(err, s.h.LinkSetUp(l)); err != nil {
			return fmt.Errorf("set up probe link %s: %w", name, err)
		}
	}
	return nil
}

// remove deletes what build created (a veth pair goes with either end).
func (s *scratch) remove() error {
	if s.prog != nil {
		s.prog.Close()
	}
	var errs []error
	for _, l := range []netlink.Link{s.a, s.br} {
		if l != nil {
			if err := s.h.LinkDel(l); err != nil {
				errs = append(errs, fmt.Errorf("delete probe link %s: %w", l.Attrs().Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// probeBPF loads a program that passes everything (TC_ACT_UNSPEC, which
// is TCX_NEXT too), creates the map types the guard uses, and attaches the
// program both ways the guard can be, on b: as a TCX link (a real attach
// rather than cilium/ebpf's feature test, which only asks the bpf syscall
// about a link to no interface: the attach also proves the permission and
// the hook on a real device), and as a cls_bpf direct-action filter under a
// clsact qdisc.
func (f *Features) probeBPF(s *scratch) {
	var err error
	s.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "igs_probe", Type: ebpf.SchedCLS, License: "Dual MIT/GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, -1), asm.Return()},
	})
	f.Programs = probeOf(err == nil, err)
	var errs []error
	for _, t := range []ebpf.MapType{ebpf.Array, ebpf.PerCPUArray} {
		m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "igs_probe", Type: t, KeySize: 4, ValueSize: 8, MaxEntries: 1})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s map: %w", t, err))
			continue
		}
		m.Close()
	}
	f.Maps = probeOf(len(errs) == 0, errors.Join(errs...))
	if err != nil {
		f.TCX.Detail, f.ClsBPF.Detail = "no program to attach", "no program to attach"
		return
	}
	ifindex := s.b.Attrs().Index
	l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: s.prog, Attach: ebpf.AttachTCXIngress})
	if err == nil {
		err = l.Close()
	}
	f.TCX = probeOf(err == nil, err)
	f.ClsBPF = probeOf(s.attachClsBPF())
}

// attachClsBPF adds a clsact qdisc and a direct-action cls_bpf filter on
// b's ingress, checks the kernel lists it, and removes both.
func (s *scratch) attachClsBPF() (bool, error) {
	qdisc := &netlink.GenericQdisc{QdiscType: "clsact", QdiscAttrs: netlink.QdiscAttrs{
		LinkIndex: s.b.Attrs().Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}}
	if err := s.h.QdiscAdd(qdisc); err != nil {
		return false, fmt.Errorf("add clsact qdisc: %w", err)
	}
	defer s.h.QdiscDel(qdisc)
	filter := &netlink.BpfFilter{FilterAttrs: netlink.FilterAttrs{LinkIndex: s.b.Attrs().Index,
		Parent: netlink.HANDLE_MIN_INGRESS, Handle: 1, Priority: 1, Protocol: unix.ETH_P_ALL},
		Fd: s.prog.FD(), Name: "igs_probe", DirectAction: true}
	if err := s.h.FilterAdd(filter); err != nil {
		return false, fmt.Errorf("add cls_bpf direct-action filter: %w", err)
	}
	filters, err := s.h.FilterList(s.b, netlink.HANDLE_MIN_INGRESS)
	if err != nil {
		return false, fmt.Errorf("list filters: %w", err)
	}
	for _, f := range filters {
		if bf, ok := f.(*netlink.BpfFilter); ok && bf.DirectAction {
			return true, nil
		}
	}
	return false, errors.New("the kernel lists no direct-action bpf filter after adding one")
}

// probeMDBWrites adds a temporary entry on port with MDBE_ATTR_RTPROT,
// reads it back, and adds it again with NLM_F_REPLACE: kernels before 6.2
// refuse the protocol (5.10-6.1 parse the attributes strictly: EINVAL),
// or, older still, ignore it, which the dump shows; and they refuse a
// second add of a port's entry with EEXIST whatever the flags.
func probeMDBWrites(bridgeIndex, port int) (mdb, proto, replace Probe) {
	c, err := dialMDB(0)
	if err != nil {
		return Probe{Detail: err.Error()}, Probe{Detail: "no MDB"}, Probe{Detail: "no MDB"}
	}
	b := newMDBBatch(c)
	defer b.Close()
	e := Entry{Bridge: bridgeIndex, Port: port, Group: probeGroup}
	add := func(flags mdlnetlink.HeaderFlags, proto uint8) error {
		// The port forwards once the kernel has seen its carrier, a
		// moment after it is set up; until then the kernel refuses
		// entries on it.
		deadline := time.Now().Add(3 * time.Second)
		for {
			err := b.queue(mdbReq{typ: unix.RTM_NEWMDB, flags: mdlnetlink.Create | flags, e: e, proto: proto})
			if err == nil {
				err = b.Flush()[0]
			}
			if !isRefusal(err, unix.EINVAL, "disabled state") || time.Now().After(deadline) {
				return err
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err = add(0, DefaultProto); err != nil {
		proto.Detail = err.Error()
		if err = add(0, 0); err != nil {
			return Probe{Detail: err.Error()}, proto, Probe{Detail: "no MDB"}
		}
	} else {
		proto = probeProtoKept(bridgeIndex, port)
	}
	kept := uint8(0)
	if proto.Found {
		kept = DefaultProto
	}
	err = add(mdlnetlink.Replace, kept)
	if isRefusal(err, unix.EEXIST, "") {
		return Probe{Found: true}, proto, Probe{Detail: err.Error()}
	}
	return Probe{Found: true}, proto, probeOf(err == nil, err)
}

// probeProtoKept reads the probe entry back: kernels before 5.10 took the
// protocol attribute without a word and kept nothing.
func probeProtoKept(bridgeIndex, port int) Probe {
	m, err := OpenMDB()
	if err != nil {
		return Probe{Detail: err.Error()}
	}
	defer m.Close()
	entries, err := m.Dump(bridgeIndex)
	if err != nil {
		return Probe{Detail: err.Error()}
	}
	for _, e := range entries {
		if e.Port == port && e.Group == probeGroup && !e.Source.IsValid() {
			if e.Proto != DefaultProto {
				return Probe{Detail: fmt.Sprintf("entry added with proto %d reads proto %d", DefaultProto, e.Proto)}
			}
			return Probe{Found: true}
		}
	}
	return Probe{Detail: "the entry added is not in the MDB"}
}

// isRefusal tells whether err is the kernel's refusal with errno and, if
// text is not empty, a message containing it.
func isRefusal(err error, errno unix.Errno, text string) bool {
	var ke *kernelError
	return errors.As(err, &ke) && ke.errno == errno && strings.Contains(ke.text, text)
}

// probePortAttrs tells which port options the kernel reports for a bridge
// port (in IFLA_INFO_SLAVE_DATA): mcast_max_groups (6.3) and
// mcast_to_unicast (4.11). Those it reports, it has.
func probePortAttrs(port int) (maxGroups, toUnicast Probe) {
	seen, err := portAttrTypes(port)
	if err != nil {
		return Probe{Detail: err.Error()}, Probe{Detail: err.Error()}
	}
	tell := func(attr uint16, name string) Probe {
		if seen[attr] {
			return Probe{Found: true}
		}
		return Probe{Detail: "the kernel does not report " + name}
	}
	return tell(unix.IFLA_BRPORT_MCAST_MAX_GROUPS, "IFLA_BRPORT_MCAST_MAX_GROUPS"),
		tell(unix.IFLA_BRPORT_MCAST_TO_UCAST, "IFLA_BRPORT_MCAST_TO_UCAST")
}

// portAttrTypes returns the IFLA_BRPORT_* attribute types of a bridge port.
func portAttrTypes(port int) (map[uint16]bool, error) {
	r, err := openRTNL()
	if err != nil {
		return nil, err
	}
	defer r.close()
	seen := map[uint16]bool{}
	var perr error
	err = r.execute(func() *nl.NetlinkRequest {
		req := r.request(unix.RTM_GETLINK, 0)
		msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
		msg.Index = int32(port)
		req.AddData(msg)
		return req
	}, unix.RTM_NEWLINK, func(msg []byte) {
		if len(msg) < unix.SizeofIfInfomsg {
			return
		}
		perr = walkAttrs(msg[unix.SizeofIfInfomsg:], []uint16{unix.IFLA_LINKINFO, unix.IFLA_INFO_SLAVE_DATA}, func(typ uint16) { seen[typ] = true })
	})
	if err = errors.Join(err, perr); err != nil {
		return nil, fmt.Errorf("read port %d: %w", port, err)
	}
	return seen, nil
}

// walkAttrs descends through the nested attributes path names and calls
// fn with the type of each attribute found at its end.
func walkAttrs(b []byte, path []uint16, fn func(typ uint16)) error {
	as, err := attrs(b)
	if err != nil {
		return err
	}
	for _, a := range as {
		typ := a.Attr.Type & nlaTypeMask
		switch {
		case len(path) == 0:
			fn(typ)
		case typ == path[0]:
			if err := walkAttrs(a.Value, path[1:], fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// probeVLANFiltering switches vlan_filtering on on the probe bridge:
// kernels built without CONFIG_BRIDGE_VLAN_FILTERING refuse
// (EOPNOTSUPP), though they report the option, always off.
func probeVLANFiltering(bridgeIndex int) Probe {
	err := setBridgeOption(bridgeIndex, "vlan_filtering", unix.IFLA_BR_VLAN_FILTERING, []byte{1})
	if errors.Is(err, unix.EOPNOTSUPP) {
		// setBridgeOption takes this answer for "not a bridge"; here the
		// link is one, so it is the option the kernel lacks.
		return Probe{Detail: "the kernel refuses vlan_filtering (EOPNOTSUPP): built without CONFIG_BRIDGE_VLAN_FILTERING"}
	}
	if err != nil {
		return Probe{Detail: err.Error()}
	}
	o, err := ReadOptions(bridgeIndex)
	if err == nil && !o.VLANFiltering {
		err = errors.New("vlan_filtering set reads off")
	}
	return probeOf(err == nil, err)
}
