package bridge

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The tc guard's filter: one per port, under the ingress of the port's
// clsact qdisc, at a fixed priority and handle, named so that a filter
// left by a daemon that died can be told from anyone else's (its program
// is named guardProgName too).
const (
	// tcGuardPriority 1 is the first any filter can have, the nearest tc
	// comes to TCX's head of the chain.
	tcGuardPriority = 1
	tcGuardHandle   = 0x1905
	tcGuardName     = "igmpsnoop_guard"
	tcIngress       = netlink.HANDLE_MIN_INGRESS // ffff:fff2, "tc filter ... ingress"
)

// Guards attaches guards in one mode. In tc mode it holds what the port
// filters share while any is attached: the heartbeat map all their
// programs read, the goroutine refreshing it (independent of whoever
// attached the guards, so a busy caller cannot starve it), and a netlink
// socket in the network namespace of the first Attach, which later ones
// and every Close use.
type Guards struct {
	mode GuardMode
	mu   sync.Mutex // guards tc and serialises the tc filter changes
	tc   *tcShared  // nil while no tc guard is attached
}

// tcShared is what a Guards' tc filters share.
type tcShared struct {
	nl        *netlink.Handle
	heartbeat *ebpf.Map // array of one u64: CLOCK_MONOTONIC ns of the last beat
	users     int       // guards attached
	stop      chan struct{}
	stopOnce  sync.Once
	done      chan struct{}
}

// NewGuards returns the guards of mode; auto becomes tcx or tc here, by
// probing the kernel for TCX links.
func NewGuards(mode GuardMode) (*Guards, error) {
	switch mode {
	case GuardTCX, GuardTC:
	case GuardAuto, "":
		tcx, err := HaveTCX()
		if err != nil {
			return nil, fmt.Errorf("guard mode auto: %w", err)
		}
		mode = GuardTC
		if tcx {
			mode = GuardTCX
		}
	default:
		return nil, fmt.Errorf("guard mode %q: must be auto, tcx or tc", mode)
	}
	return &Guards{mode: mode}, nil
}

// Mode is the mode the guards attach in: tcx or tc.
func (s *Guards) Mode() GuardMode { return s.mode }

// HaveTCX tells whether the kernel has TCX links (Linux 6.6). It asks for
// a TCX link on an interface index no device has: a kernel with TCX
// refuses it with ENODEV, one without as an attach type it does not know,
// which cilium/ebpf's own feature test behind AttachTCX turns into
// ErrNotSupported. No device is touched, so the answer holds in every
// network namespace.
func HaveTCX() (bool, error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "igs_probe",
		Type:         ebpf.SchedCLS,
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, tcxNext), asm.Return()},
		License:      "Dual MIT/GPL",
	})
	if err != nil {
		return false, fmt.Errorf("probe tcx: load a program: %w", err)
	}
	defer prog.Close()
	l, err := link.AttachTCX(link.TCXOptions{Interface: math.MaxInt32, Program: prog, Attach: ebpf.AttachTCXIngress})
	switch {
	case err == nil: // no device has that index; yet it worked
		l.Close()
		return true, nil
	case errors.Is(err, ebpf.ErrNotSupported):
		return false, nil
	case errors.Is(err, unix.ENODEV):
		return true, nil
	}
	return false, fmt.Errorf("probe tcx: %w", err)
}

// Attach attaches a guard to ifindex in the guards' mode. In tc mode it
// adds a clsact qdisc to the port unless it has one (or an ingress qdisc),
// and replaces a filter of ours left there by a daemon that died, without
// a moment unguarded; a filter of someone else's in the guard's place is
// refused, never removed.
func (s *Guards) Attach(ifindex int, opts GuardOptions) (*Guard, error) {
	if s.mode == GuardTCX {
		return AttachGuard(ifindex, opts)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tc == nil {
		tc, err := startTC()
		if err != nil {
			return nil, fmt.Errorf("guard on link %d: %w", ifindex, err)
		}
		s.tc = tc
	}
	g, err := loadGuard(ifindex, opts, s.tc.heartbeat)
	if err == nil {
		if err = s.tc.install(ifindex, g.prog); err != nil {
			g.Close()
			err = fmt.Errorf("guard on link %d: %w", ifindex, err)
		}
	}
	if err != nil {
		if s.tc.users == 0 {
			s.tc.close()
			s.tc = nil
		}
		return nil, err
	}
	s.tc.users++
	g.tc = s
	return g, nil
}

// replace puts prog in ifindex's filter in place of the program there.
func (s *Guards) replace(ifindex int, prog *ebpf.Program) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tc == nil {
		return errors.New("no tc guard attached")
	}
	return s.tc.replaceFilter(ifindex, prog)
}

// detach removes ifindex's filter if it still holds prog; the last guard
// to go stops the heartbeat.
func (s *Guards) detach(ifindex int, prog *ebpf.Program) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tc == nil {
		return nil
	}
	err := s.tc.remove(ifindex, prog)
	if s.tc.users--; s.tc.users <= 0 {
		s.tc.close()
		s.tc = nil
	}
	return err
}

// stopHeartbeat stops refreshing the heartbeat, as a dead process would;
// the filters stay. For tests.
func (s *Guards) stopHeartbeat() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tc != nil {
		s.tc.stopBeats()
	}
}

// startTC opens the netlink socket (in the calling thread's namespace) and
// the heartbeat map, beats once, so that the first filter guards from the
// start, and starts the refreshing goroutine.
func startTC() (*tcShared, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open rtnetlink socket: %w", err)
	}
	hb, err := newHeartbeat()
	if err != nil {
		h.Close()
		return nil, err
	}
	t := &tcShared{nl: h, heartbeat: hb, stop: make(chan struct{}), done: make(chan struct{})}
	if err := storeBeat(hb, 0); err != nil {
		hb.Close()
		h.Close()
		return nil, err
	}
	go t.beats()
	return t, nil
}

// newHeartbeat creates a heartbeat map: an array of one u64, the
// CLOCK_MONOTONIC time in ns of the last beat (0: none yet, stale).
func newHeartbeat() (*ebpf.Map, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       "igs_heartbeat",
		Type:       ebpf.Array,
		KeySize:    4,
		ValueSize:  8,
		MaxEntries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("create heartbeat map: %w", err)
	}
	return m, nil
}

// storeBeat stores a beat age ago, on the clock bpf_ktime_get_ns reads
// (CLOCK_MONOTONIC); the daemon's age is 0.
func storeBeat(m *ebpf.Map, age time.Duration) error {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return fmt.Errorf("heartbeat: read the clock: %w", err)
	}
	if err := m.Put(uint32(0), uint64(ts.Nano()-int64(age))); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// beats refreshes the heartbeat until stopped. A failed beat is not
// retried sooner: the guards standing down is the safe way to fail.
func (t *tcShared) beats() {
	defer close(t.done)
	tick := time.NewTicker(GuardHeartbeatPeriod)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			_ = storeBeat(t.heartbeat, 0)
		}
	}
}

func (t *tcShared) stopBeats() {
	t.stopOnce.Do(func() { close(t.stop) })
	<-t.done
}

func (t *tcShared) close() {
	t.stopBeats()
	t.heartbeat.Close()
	t.nl.Close()
}

// filter is the guard's filter on ifindex, carrying prog (nil: none, to
// name the filter only).
func tcFilter(ifindex int, prog *ebpf.Program) *netlink.BpfFilter {
	f := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: ifindex,
			Parent:    tcIngress,
			Handle:    tcGuardHandle,
			Priority:  tcGuardPriority,
			Protocol:  unix.ETH_P_ALL,
		},
		Fd:           -1,
		Name:         tcGuardName,
		DirectAction: true,
	}
	if prog != nil {
		f.Fd = prog.FD()
	}
	return f
}

// install makes sure ifindex has an ingress qdisc and puts prog in the
// guard's filter there.
func (t *tcShared) install(ifindex int, prog *ebpf.Program) error {
	qd := &netlink.Clsact{QdiscAttrs: netlink.QdiscAttrs{
		LinkIndex: ifindex,
		Handle:    netlink.MakeHandle(0xffff, 0),
		Parent:    netlink.HANDLE_CLSACT,
	}}
	// EEXIST: the port has a clsact or ingress qdisc already; either
	// takes ingress filters. It stays when the guard goes, as do filters
	// others put there since.
	if err := t.nl.QdiscAdd(qd); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add clsact qdisc: %w", err)
	}
	return t.replaceFilter(ifindex, prog)
}

// replaceFilter puts prog in the guard's filter on ifindex, creating it or
// replacing a filter of ours, atomically.
func (t *tcShared) replaceFilter(ifindex int, prog *ebpf.Program) error {
	f, err := t.find(ifindex)
	if err != nil {
		return err
	}
	if f != nil && !isOurFilter(f) {
		return fmt.Errorf("ingress tc filter priority %d handle %#x is someone else's (%s): remove it or run with --guard tcx",
			tcGuardPriority, tcGuardHandle, describeFilter(f))
	}
	if err := t.nl.FilterReplace(tcFilter(ifindex, prog)); err != nil {
		return fmt.Errorf("tc filter replace: %w", err)
	}
	return nil
}

// remove deletes the guard's filter from ifindex if it holds prog: not
// if another guard of ours has replaced it since (a daemon started while
// this one hangs on).
func (t *tcShared) remove(ifindex int, prog *ebpf.Program) error {
	f, err := t.find(ifindex)
	if err != nil {
		return err
	}
	bf, ok := f.(*netlink.BpfFilter)
	if !ok || !holds(bf, prog) {
		return nil
	}
	if err := t.nl.FilterDel(tcFilter(ifindex, nil)); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("tc filter del: %w", err)
	}
	return nil
}

// find returns the filter in the guard's place on ifindex, or nil.
func (t *tcShared) find(ifindex int) (netlink.Filter, error) {
	return findTCGuard(t.nl, ifindex)
}

// findTCGuard returns the filter at the guard's priority and handle under
// ifindex's ingress, or nil.
func findTCGuard(h *netlink.Handle, ifindex int) (netlink.Filter, error) {
	fs, err := h.FilterList(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: ifindex}}, tcIngress)
	if err != nil {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) { // no ingress qdisc: no filters
			return nil, nil
		}
		return nil, fmt.Errorf("tc filter list: %w", err)
	}
	for _, f := range fs {
		if a := f.Attrs(); a.Priority == tcGuardPriority && a.Handle == tcGuardHandle {
			return f, nil
		}
	}
	return nil, nil
}

// isOurFilter tells whether f is a guard filter of a daemon (this one, or
// one that died): a bpf filter named tcGuardName whose program is named
// guardProgName. Reading a program by its id takes CAP_SYS_ADMIN, which
// the packaged service does not have: without it the filter's name, in
// the guard's place, has to do.
func isOurFilter(f netlink.Filter) bool {
	bf, ok := f.(*netlink.BpfFilter)
	if !ok || bf.Name != tcGuardName || bf.Id == 0 {
		return false
	}
	prog, err := ebpf.NewProgramFromID(ebpf.ProgramID(bf.Id))
	if err != nil {
		return errors.Is(err, unix.EPERM)
	}
	defer prog.Close()
	info, err := prog.Info()
	return err == nil && info.Name == guardProgName
}

// holds tells whether f runs prog.
func holds(f *netlink.BpfFilter, prog *ebpf.Program) bool {
	info, err := prog.Info()
	if err != nil {
		return false
	}
	id, ok := info.ID()
	return ok && int(id) == f.Id
}

func describeFilter(f netlink.Filter) string {
	if bf, ok := f.(*netlink.BpfFilter); ok {
		return fmt.Sprintf("bpf %q, program id %d", bf.Name, bf.Id)
	}
	return f.Type()
}

// heartbeatCheck is the tc guard's prologue: unless the heartbeat map
// holds a time at most GuardHeartbeatTimeout old on bpf_ktime_get_ns's
// clock, the frame passes. A missing or zero heartbeat is stale, and so is
// one from the future (the subtraction wraps), so every doubt passes.
// It leaves R1 as it found it (the context) for the guard proper.
func heartbeatCheck(heartbeatFD int) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(regCtx, asm.R1),
		asm.StoreImm(asm.RFP, slotKey, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, heartbeatFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, slotKey),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, labelPass),
		asm.LoadMem(regTmp, asm.R0, 0, asm.DWord),
		asm.FnKtimeGetNs.Call(),
		asm.Sub.Reg(asm.R0, regTmp),
		asm.LoadImm(asm.R1, int64(GuardHeartbeatTimeout), asm.DWord),
		asm.JGT.Reg(asm.R0, asm.R1, labelPass), // unsigned
		asm.Mov.Reg(asm.R1, regCtx),
	}
}
