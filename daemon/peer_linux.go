package daemon

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// checkPeer refuses any user but the daemon's own (root): the socket's
// mode already says so, and SO_PEERCRED makes sure even if someone
// loosens it or passes the descriptor on.
func checkPeer(conn net.Conn) error {
	c, ok := conn.(*net.UnixConn)
	if !ok {
		return nil
	}
	uid := uint32(os.Geteuid())
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("control socket: peer credentials: %w", cerr)
	}
	if cred.Uid != uid && cred.Uid != 0 {
		return fmt.Errorf("permission denied: the control socket is for uid %d (root) only, not uid %d", uid, cred.Uid)
	}
	return nil
}
