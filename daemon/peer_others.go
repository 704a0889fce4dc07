//go:build !linux

package daemon

import "net"

// checkPeer lets every client in: off Linux the daemon does not run, and
// the socket's mode (0600) is the only check.
func checkPeer(net.Conn) error { return nil }
