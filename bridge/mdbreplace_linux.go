package bridge

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/sys/unix"
)

// Writing the MDB without NLM_F_REPLACE (Linux < 6.2). Those kernels
// ignore the flag: a write of an entry the port has fails with EEXIST
// and leaves the entry, its timer included, as it was; and they parse
// MDBA_SET_ENTRY_ATTRS strictly with MDBE_ATTR_SOURCE as the last type,
// so a write carrying MDBE_ATTR_RTPROT fails whole (EINVAL). The entries
// they make from userspace all say rt_protocol ProtoStatic.

// SetReplace chooses how Replace writes: with NLM_F_REPLACE and the
// entry's proto (on, the default; Linux 6.2+), or as a plain add with
// neither (off), which the kernel refuses with an error wrapping
// ErrExists if the port has the entry. Without replace a refresh is a
// Delete of the entry queued just before its Replace: the batch keeps
// such a pair in one sendmsg, so the entry is missing only between the
// two messages.
func (b *MDBBatch) SetReplace(on bool) { b.noReplace = !on }

// chunkEnd is where the chunk starting at start ends: mdbBatchChunk
// messages on, moved back by one rather than part a delete from the add
// of the same entry that follows it.
func (b *MDBBatch) chunkEnd(start int) int {
	end := min(start+mdbBatchChunk, len(b.ops))
	if end < len(b.ops) && end-start > 1 && b.ops[end-1].typ == unix.RTM_DELMDB && b.ops[end].typ == unix.RTM_NEWMDB && b.ops[end-1].e.sameKey(b.ops[end].e) {
		end--
	}
	return end
}

// sameKey tells whether two entries are the same MDB key.
func (e Entry) sameKey(o Entry) bool {
	return e.Bridge == o.Bridge && e.Port == o.Port && e.Group.Unmap() == o.Group.Unmap() && e.Source.Unmap() == o.Source.Unmap() && e.VID == o.VID
}

// ProbeReplace reports whether the kernel takes NLM_F_REPLACE and
// MDBE_ATTR_RTPROT on MDB writes (Linux 6.2+), without changing anything.
// It acts in the calling thread's network namespace; the bridge must be up
// with mcast_snooping on.
//
// The two came in one kernel series (with source lists and filter modes,
// see ProbeSourceLists). NLM_F_REPLACE itself cannot be seen without
// writing an entry on a port (only a port entry that exists behaves
// differently), but MDBE_ATTR_RTPROT can, and a kernel that refuses it
// must not be sent it anyway: the probe asks for a permanent host join
// (entry ifindex = the bridge) marked with a protocol, which every kernel
// refuses:
//   - 6.2+ parse the entry attributes first and refuse a protocol on a
//     host join: EINVAL "Protocol cannot be set for host groups".
//   - 5.10-6.1 parse the nest strictly and know MDBE_ATTR_SOURCE only:
//     EINVAL for the unknown attribute type.
//   - Older kernels ignore the nest and refuse a host join with flags:
//     EINVAL.
func ProbeReplace(bridgeIndex int) (bool, error) {
	probe := Entry{Bridge: bridgeIndex, Port: bridgeIndex, Group: netip.AddrFrom4([4]byte{239, 255, 77, 78}), Permanent: true}
	return probeHostJoin("replace", mdbReq{typ: unix.RTM_NEWMDB, e: probe, proto: DefaultProto}, func(ke *kernelError) bool {
		return strings.Contains(ke.text, "Protocol cannot be set for host groups")
	})
}

// probeHostJoin sends a probe (a request for a permanent host join that
// every kernel refuses, see ProbeSourceLists and ProbeReplace) and reads
// the refusal: yes tells an EINVAL of the kernels that have the feature;
// another EINVAL, of a running, snooping bridge, means no.
func probeHostJoin(what string, req mdbReq, yes func(*kernelError) bool) (bool, error) {
	br := req.e.Bridge
	c, err := dialMDB(0)
	if err != nil {
		return false, fmt.Errorf("probe mdb %s on bridge %d: %w", what, br, err)
	}
	defer c.Close()
	b := newMDBBatch(c)
	if err := b.queue(req); err != nil {
		return false, fmt.Errorf("probe mdb %s on bridge %d: %w", what, br, err)
	}
	err = b.Flush()[0]
	var ke *kernelError
	switch {
	case err == nil:
		// No known kernel gets here. Undo the host join it made.
		if b.queue(mdbReq{typ: unix.RTM_DELMDB, e: req.e}) == nil {
			b.Flush()
		}
		return false, fmt.Errorf("probe mdb %s on bridge %d: the kernel accepted a permanent host join", what, br)
	case !errors.As(err, &ke):
		return false, fmt.Errorf("probe mdb %s on bridge %d: %w", what, br, err)
	case ke.errno == unix.EINVAL && yes(ke):
		return true, nil
	case ke.errno == unix.EINVAL && (strings.Contains(ke.text, "not running") || strings.Contains(ke.text, "multicast processing is disabled")):
		return false, fmt.Errorf("probe mdb %s on bridge %d: %w", what, br, err)
	case ke.errno == unix.EINVAL:
		return false, nil
	case ke.errno == unix.ENODEV:
		return false, fmt.Errorf("probe mdb %s on bridge %d: %w (%w)", what, br, ErrNoLink, err)
	case ke.errno == unix.EOPNOTSUPP:
		return false, fmt.Errorf("probe mdb %s on link %d: %w (%w)", what, br, ErrNotBridge, err)
	}
	return false, fmt.Errorf("probe mdb %s on bridge %d: %w", what, br, err)
}
