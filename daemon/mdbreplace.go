package daemon

import (
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/igmpsnoop/igmpsnoop/bridge"
)

// MDBReplace says how the daemon refreshes its MDB entries
// (`--mdb-replace`, `mdb_replace:`).
type MDBReplace uint8

const (
	// MDBReplaceAuto probes the kernel at start: NLM_F_REPLACE and MDB
	// proto where it takes them (Linux 6.2+), else as MDBReplaceOff.
	MDBReplaceAuto MDBReplace = iota
	// MDBReplaceOn requires them: a kernel without refuses the start.
	MDBReplaceOn
	// MDBReplaceOff never uses them, as on older kernels: an entry is
	// refreshed by deleting and re-adding it in one netlink batch, and it
	// carries the kernel's proto for userspace entries (static).
	MDBReplaceOff
)

var mdbReplaceNames = [...]string{MDBReplaceAuto: "auto", MDBReplaceOn: "on", MDBReplaceOff: "off"}

func (m MDBReplace) String() string {
	if int(m) < len(mdbReplaceNames) {
		return mdbReplaceNames[m]
	}
	return fmt.Sprintf("mdb-replace(%d)", uint8(m))
}

// ParseMDBReplace reads "auto", "on" or "off".
func ParseMDBReplace(s string) (MDBReplace, error) {
	for m, name := range mdbReplaceNames {
		if s == name {
			return MDBReplace(m), nil
		}
	}
	return 0, errors.New("must be auto, on or off")
}

// probeReplace decides, at start, whether the bridge's MDB writes use
// NLM_F_REPLACE and our proto (b.replace).
func (b *bridgeKernel) probeReplace() error {
	if b.mdbReplace == MDBReplaceOff {
		b.replace = false
		b.log.Info("MDB entries written without NLM_F_REPLACE or proto (mdb_replace off): each refresh deletes and re-adds the entry, which says proto static")
		return nil
	}
	ok, err := b.k.ProbeReplace(b.br.Index)
	if err != nil {
		return err
	}
	switch {
	case !ok && b.mdbReplace == MDBReplaceOn:
		return errors.New("mdb_replace on (--mdb-replace): this kernel takes no NLM_F_REPLACE or MDB proto (Linux 6.2 and later do); use auto or off")
	case !ok:
		b.log.Warn("this kernel takes no NLM_F_REPLACE or MDB proto (needs Linux 6.2): each refresh deletes and re-adds the entry, and our entries say proto static, like an operator's")
	}
	b.replace = ok
	return nil
}

// entryProto is the rt_protocol our entries have in a dump: ours, or,
// written without proto, the kernel's for every userspace entry. In the
// latter case the entries with it that the table lacks may as well be an
// operator's (see adopt and check).
func (b *bridgeKernel) entryProto(proto uint8) uint8 {
	if b.replace {
		return proto
	}
	return bridge.ProtoStatic
}

// refreshingMDB writes to an MDB without NLM_F_REPLACE: every install is
// sent as a removal of the entry followed by its add, in the same Write
// and so in the same netlink batch, which the kernel applies in order.
// The add then creates the entry afresh, its timer restarted, where a
// plain add would fail with EEXIST and leave the old timer running. The
// entry is missing only between the two messages (README, "Kernel
// requirements"); for a new entry the removal finds nothing.
type refreshingMDB struct{ MDB }

func (m refreshingMDB) Write(ops []MDBOp) []error {
	paired := make([]MDBOp, 0, 2*len(ops))
	for _, op := range ops {
		if !op.Remove {
			paired = append(paired, removeOp(op.Entry))
		}
		paired = append(paired, op)
	}
	errs := m.MDB.Write(paired)
	out := make([]error, len(ops))
	j := 0
	for i, op := range ops {
		if !op.Remove {
			del := errs[j]
			j++
			// A removal that failed otherwise than for want of the entry
			// explains the add's failure, if it failed.
			if errs[j] != nil && del != nil && !errors.Is(del, bridge.ErrNotFound) {
				errs[j] = errors.Join(errs[j], del)
			}
		}
		out[i] = errs[j]
		j++
	}
	return out
}

// logNoProto notes, once per adoption or check, entries that may be ours
// or an operator's: without proto they cannot be told apart.
func logNoProto(log *zap.Logger, what string, n int) {
	if n > 0 {
		log.Debug("entries with proto static the table lacks, left alone (ours or an operator's: without proto they cannot be told)",
			zap.String("at", what), zap.Int("entries", n))
	}
}
