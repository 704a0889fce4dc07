package bridge

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// SetReadBuffer sets the size of the port socket's receive queue, which
// holds the frames that arrive while the reader is busy: a join storm
// arrives faster than any userspace reader, and what does not fit is lost
// (counted in Stats). It uses SO_RCVBUFFORCE, which the daemon may use
// (CAP_NET_ADMIN) and which net.core.rmem_max does not cap, and falls back
// to SO_RCVBUF. The kernel counts a queued frame's whole buffer, about
// 600 bytes for a small report on a veth, so 2 MiB hold some 3 500.
func (c *PortConn) SetReadBuffer(bytes int) error {
	var serr error
	err := c.raw.Control(func(fd uintptr) {
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, bytes); serr != nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, bytes)
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("port %d: set receive buffer: %w", c.ifindex, err)
	}
	return nil
}
