package bridge

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Where namespaces and processes are found, and how much of them a scan
// reads: a scan is one pass over every process, so it is bounded.
const (
	runNetns = "/run/netns"
	procDir  = "/proc"
	// maxScanPids is how many processes one scan looks at, lowest pids
	// first; maxScanAsks how many distinct namespaces it asks the kernel
	// the id of; maxNamedNetns how many /run/netns names it opens.
	maxScanPids   = 1 << 16
	maxScanAsks   = 4096
	maxNamedNetns = 4096
	// maxCgroupFile bounds what is read of /proc/PID/cgroup.
	maxCgroupFile = 64 << 10
)

// PeerFinder names what is behind veth ports (Find). It keeps what its
// last scan of /proc found, so that a port whose peer namespace it already
// knows costs a few system calls, and a scan for a new one asks the kernel
// only about namespaces it has not seen: a container host's thousand ports
// at start cost one scan, not a thousand. It is safe for concurrent use.
type PeerFinder struct {
	mu sync.Mutex
	// holders is, by namespace id, a name and a process of each namespace
	// the last scan found.
	holders map[int]nsHolder
	// ids is the id of each namespace inode the last scan found one for.
	// A namespace's id does not change while it lives, but its inode may
	// be reused once it is gone: what the ids lead to is checked (still).
	ids map[uint64]int
}

// nsHolder is what keeps a network namespace alive and named: a name
// under /run/netns, a process in it, or both.
type nsHolder struct {
	name  string
	pid   int
	inode uint64 // the namespace's inode, to check pid is still in it
}

// NewPeerFinder returns a PeerFinder that knows no namespace yet.
func NewPeerFinder() *PeerFinder {
	return &PeerFinder{holders: map[int]nsHolder{}, ids: map[uint64]int{}}
}

// Find returns the peer of the veth with ifindex index in the calling
// thread's network namespace: its interface, its namespace's id and name,
// a process in that namespace and that process's container. A link that
// is no veth has no peer: Find returns the zero Peer and no error. Parts
// it cannot name stay empty; it fails only if the link cannot be read.
func (f *PeerFinder) Find(index int) (Peer, error) {
	r, err := openRTNL()
	if err != nil {
		return Peer{}, fmt.Errorf("peer of link %d: %w", index, err)
	}
	defer r.close()
	m, err := r.getLink(index)
	if err != nil {
		return Peer{}, fmt.Errorf("peer of link %d: %w", index, err)
	}
	if m.kind != "veth" || m.peerIndex == 0 {
		return Peer{}, nil
	}
	p := Peer{Ifindex: m.peerIndex, NetnsID: -1}
	if !m.hasNetnsID {
		// The peer is in this namespace.
		if pm, err := r.getLink(m.peerIndex); err == nil {
			p.Ifname = pm.link.Name
		}
		return p, nil
	}
	p.NetnsID = m.netnsID
	if pm, err := r.getLinkIn(m.netnsID, m.peerIndex); err == nil {
		p.Ifname = pm.link.Name
	}
	h := f.holder(r, m.netnsID)
	p.Netns = h.name
	if h.pid != 0 {
		p.Pid = h.pid
		p.Comm = readComm(h.pid)
		p.Runtime, p.ContainerID = ContainerFromCgroup(readCgroup(h.pid))
	}
	return p, nil
}

// holder finds what holds namespace nsid: from the last scan if that
// still names it with a process in it, else from a new scan.
func (f *PeerFinder) holder(r *rtnl, nsid int) nsHolder {
	f.mu.Lock()
	defer f.mu.Unlock()
	// A namespace known only by its name is scanned for again: a process
	// may have entered it since.
	if h, ok := f.holders[nsid]; ok && h.pid != 0 && h.still(r, nsid) {
		return h
	}
	f.holders, f.ids = scanNamespaces(r, f.ids)
	h := f.holders[nsid]
	if h.pid != 0 && h.still(r, nsid) || h.pid == 0 && h.name != "" {
		return h
	}
	// Found under no name and no process: a namespace inode the ids knew
	// may have been reused by this one. Ask about every namespace again.
	f.holders, f.ids = scanNamespaces(r, nil)
	return f.holders[nsid]
}

// still checks, with the kernel, that h's name and process are still in
// namespace nsid (ids are not reused while a namespace lives, but a
// process may have died and its pid been given to another).
func (h nsHolder) still(r *rtnl, nsid int) bool {
	if h.name != "" {
		if id, _, err := r.nsidOfFile(filepath.Join(runNetns, h.name)); err != nil || id != nsid {
			return false
		}
	}
	id, ino, err := r.nsidOfFile(filepath.Join(procDir, strconv.Itoa(h.pid), "ns", "net"))
	return err == nil && id == nsid && ino == h.inode
}

// scanNamespaces finds, by namespace id, the name and the lowest-pid
// process of every network namespace the calling thread's namespace has
// an id for: the names under /run/netns, then each process's namespace,
// asking the kernel once per distinct namespace that known (inode to id)
// does not hold. It returns them and the ids of the inodes it saw.
func scanNamespaces(r *rtnl, known map[uint64]int) (map[int]nsHolder, map[uint64]int) {
	out := map[int]nsHolder{}
	idOf := map[uint64]int{} // namespace inode to id (-1: none)
	if self, err := nsInode(filepath.Join(procDir, "thread-self", "ns", "net")); err == nil {
		idOf[self] = -1 // our own: no peer lives there
	}
	names, _ := os.ReadDir(runNetns) // none: no named namespaces
	for _, e := range names[:min(len(names), maxNamedNetns)] {
		id, ino, err := r.nsidOfFile(filepath.Join(runNetns, e.Name()))
		if err != nil {
			continue // not a namespace (a stale mount point)
		}
		idOf[ino] = id
		if _, dup := out[id]; id >= 0 && !dup {
			out[id] = nsHolder{name: e.Name(), inode: ino}
		}
	}
	asked := 0
	for _, pid := range listPids() {
		ino, err := nsInode(filepath.Join(procDir, strconv.Itoa(pid), "ns", "net"))
		if err != nil {
			continue // gone, or a process we may not look into
		}
		id, seen := idOf[ino]
		if !seen {
			// Only ids are worth keeping: a namespace without one gets
			// one when a veth to it appears.
			if id, seen = known[ino]; !seen || id < 0 {
				if asked >= maxScanAsks {
					continue
				}
				asked++
				if id, err = r.nsidOfPid(pid); err != nil {
					continue
				}
			}
			idOf[ino] = id
		}
		if h := out[id]; id >= 0 && h.pid == 0 {
			h.pid, h.inode = pid, ino
			out[id] = h
		}
	}
	ids := make(map[uint64]int, len(idOf))
	for ino, id := range idOf {
		if id >= 0 {
			ids[ino] = id
		}
	}
	return out, ids
}

// listPids lists the processes under /proc, lowest first, at most
// maxScanPids of them.
func listPids() []int {
	d, err := os.Open(procDir)
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1) // what was read before an error will do
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids[:min(len(pids), maxScanPids)]
}

// nsInode reads a /proc/PID/ns/net link ("net:[4026531840]") for the
// namespace's inode, without opening it.
func nsInode(path string) (uint64, error) {
	target, err := os.Readlink(path)
	if err != nil {
		return 0, err
	}
	num, ok := strings.CutPrefix(target, "net:[")
	if !ok || !strings.HasSuffix(num, "]") {
		return 0, fmt.Errorf("%s: %q is not a network namespace", path, target)
	}
	return strconv.ParseUint(strings.TrimSuffix(num, "]"), 10, 64)
}

// nsidOfFile opens a namespace file (/run/netns/NAME, /proc/PID/ns/net)
// and returns the namespace's id, as seen from the socket's namespace
// (-1: it has none), and its inode.
func (r *rtnl) nsidOfFile(path string) (id int, inode uint64, err error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, 0, fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, 0, fmt.Errorf("stat %s: %w", path, err)
	}
	id, err = r.nsid(unix.NETNSA_FD, uint32(fd))
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	return id, st.Ino, nil
}

// nsidOfPid returns the id of process pid's network namespace, as seen
// from the socket's namespace (-1: it has none).
func (r *rtnl) nsidOfPid(pid int) (int, error) { return r.nsid(unix.NETNSA_PID, uint32(pid)) }

// nsid asks the kernel (RTM_GETNSID) for the id the socket's namespace
// gives the namespace an fd or a pid is in. It assigns none: a namespace
// without one is -1 (NETNSA_NSID_NOT_ASSIGNED).
func (r *rtnl) nsid(by int, val uint32) (int, error) {
	id, found := 0, false
	hdr := nl.NewRtGenMsg().Len() // struct rtgenmsg, padded
	err := r.execute(func() *nl.NetlinkRequest {
		req := r.request(unix.RTM_GETNSID, 0)
		req.AddData(nl.NewRtGenMsg())
		req.AddData(nl.NewRtAttr(by, nl.Uint32Attr(val)))
		return req
	}, unix.RTM_NEWNSID, func(msg []byte) {
		if len(msg) < hdr {
			return
		}
		as, err := attrs(msg[hdr:])
		if err != nil {
			return
		}
		for _, a := range as {
			if a.Attr.Type&nlaTypeMask == unix.NETNSA_NSID {
				if v, ok := u32(a.Value); ok {
					id, found = int(int32(v)), true
				}
			}
		}
	})
	if err != nil {
		return 0, fmt.Errorf("namespace id: %w", err)
	}
	if !found {
		return 0, errors.New("namespace id: no NETNSA_NSID in the reply")
	}
	return id, nil
}

// readComm is a process's command name, or "" if it is gone.
func readComm(pid int) string {
	b, err := os.ReadFile(filepath.Join(procDir, strconv.Itoa(pid), "comm"))
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}

// readCgroup is a process's /proc/PID/cgroup, or "" if it is gone.
func readCgroup(pid int) string {
	f, err := os.Open(filepath.Join(procDir, strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, maxCgroupFile)) // a cut path names no container
	return string(b)
}
