package bridge

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// SetPortRouter sets the mcast_router option of the bridge port with
// ifindex (PortRouterDisabled, PortRouterLearned, PortRouterPermanent or
// PortRouterTemporary). A permanent router port receives all multicast, and
// the kernel lists it among the router ports of an MDB dump, for IPv4 and IPv6.
func SetPortRouter(ifindex int, mode uint8) error {
	if mode > PortRouterTemporary {
		return fmt.Errorf("set mcast_router of port %d: mode %d is not 0-3", ifindex, mode)
	}
	r, err := openRTNL()
	if err != nil {
		return fmt.Errorf("set mcast_router of port %d: %w", ifindex, err)
	}
	defer r.close()
	err = r.execute(func() *nl.NetlinkRequest {
		req := r.request(unix.RTM_SETLINK, unix.NLM_F_ACK)
		// Family AF_BRIDGE routes the request to the port's master
		// (rtnl_bridge_setlink -> br_setlink), which reads IFLA_PROTINFO.
		msg := nl.NewIfInfomsg(unix.AF_BRIDGE)
		msg.Index = int32(ifindex)
		req.AddData(msg)
		info := nl.NewRtAttr(unix.IFLA_PROTINFO|unix.NLA_F_NESTED, nil)
		info.AddRtAttr(unix.IFLA_BRPORT_MULTICAST_ROUTER, []byte{mode})
		req.AddData(info)
		return req
	}, 0, func([]byte) {})
	switch {
	case errors.Is(err, unix.ENODEV):
		return fmt.Errorf("set mcast_router of port %d: %w (%w)", ifindex, ErrNoLink, err)
	case errors.Is(err, unix.EOPNOTSUPP):
		// The kernel's answer when the link has no bridge master.
		return fmt.Errorf("set mcast_router of link %d: %w (%w)", ifindex, ErrNotPort, err)
	case err != nil:
		return fmt.Errorf("set mcast_router of port %d: %w", ifindex, err)
	}
	return nil
}
