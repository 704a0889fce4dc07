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
// the kernel lists it in RouterPorts for both IPv4 and IPv6.
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

// PortRouter reads the mcast_router option of the bridge port with ifindex.
func PortRouter(ifindex int) (uint8, error) {
	r, err := openRTNL()
	if err != nil {
		return 0, fmt.Errorf("read mcast_router of port %d: %w", ifindex, err)
	}
	defer r.close()
	var (
		mode  uint8
		found bool
		perr  error
	)
	// The kernel answers AF_BRIDGE RTM_GETLINK only as a dump (of every
	// bridge port in the namespace); IFLA_PROTINFO carries the port options.
	err = r.execute(func() *nl.NetlinkRequest {
		req := r.request(unix.RTM_GETLINK, unix.NLM_F_DUMP)
		req.AddData(nl.NewIfInfomsg(unix.AF_BRIDGE))
		return req
	}, unix.RTM_NEWLINK, func(msg []byte) {
		if msg == nil {
			mode, found, perr = 0, false, nil
			return
		}
		if len(msg) < unix.SizeofIfInfomsg || int(int32(nl.NativeEndian().Uint32(msg[4:8]))) != ifindex {
			return
		}
		as, err := attrs(msg[unix.SizeofIfInfomsg:])
		if err != nil {
			perr = err
			return
		}
		for _, a := range as {
			if a.Attr.Type&nlaTypeMask != unix.IFLA_PROTINFO {
				continue
			}
			ps, err := attrs(a.Value)
			if err != nil {
				perr = fmt.Errorf("IFLA_PROTINFO: %w", err)
				return
			}
			for _, p := range ps {
				if p.Attr.Type&nlaTypeMask == unix.IFLA_BRPORT_MULTICAST_ROUTER {
					mode, found = u8(p.Value)
				}
			}
		}
	})
	if err == nil {
		err = perr
	}
	if err != nil {
		return 0, fmt.Errorf("read mcast_router of port %d: %w", ifindex, err)
	}
	if !found {
		// The dump lists bridge ports only: a missing link and a link that is
		// no port look the same here.
		return 0, fmt.Errorf("read mcast_router of link %d: %w", ifindex, ErrNotPort)
	}
	return mode, nil
}
