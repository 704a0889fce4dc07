package replay

import (
	"fmt"
	"net/netip"
	"sort"

	"github.com/igmpsnoop/igmpsnoop/wire"
)

// igmpTypeNames name the IGMP types the snooper floods without reading
// them (IANA's IGMP Type Numbers registry), so that a frame says what it
// is rather than only a number.
var igmpTypeNames = map[uint8]string{
	0x01:                "IGMPv0 create group request (RFC 988, obsolete)",
	0x02:                "IGMPv0 create group reply (RFC 988, obsolete)",
	0x03:                "IGMPv0 join group request (RFC 988, obsolete)",
	0x04:                "IGMPv0 join group reply (RFC 988, obsolete)",
	0x05:                "IGMPv0 leave group request (RFC 988, obsolete)",
	0x06:                "IGMPv0 leave group reply (RFC 988, obsolete)",
	0x07:                "IGMPv0 confirm group request (RFC 988, obsolete)",
	0x08:                "IGMPv0 confirm group reply (RFC 988, obsolete)",
	0x13:                "DVMRP",
	0x14:                "PIMv1",
	0x15:                "Cisco trace",
	0x1e:                "mtrace response",
	0x1f:                "mtrace query or request",
	wire.TypeMRDSolicit: "MRD solicitation",
}

// rgmpTypeNames are RGMP's (RFC 3488), in the experimental range: they
// are RGMP's only when sent to RGMP's group.
var (
	rgmpTypeNames = map[uint8]string{0xfc: "RGMP leave", 0xfd: "RGMP join", 0xfe: "RGMP bye", 0xff: "RGMP hello"}
	rgmpGroup     = netip.AddrFrom4([4]byte{224, 0, 0, 25})
)

// typeName names the type of a message the snooper does not interpret
// ("" for the ones it does, whose text says what they are, and for
// unassigned types).
func typeName(m *wire.Message) string {
	if m.Kind != wire.KindOther {
		return ""
	}
	if m.Proto == wire.MLD {
		if m.IGMPType == wire.TypeMRDSolicit6 {
			return "MRD solicitation"
		}
		return ""
	}
	if n, ok := rgmpTypeNames[m.IGMPType]; ok && m.Dst == rgmpGroup {
		return n
	}
	if n, ok := igmpTypeNames[m.IGMPType]; ok {
		return n
	}
	if m.IGMPType >= 0xf0 {
		return "experimental"
	}
	return ""
}

// ignoreWhy explains the engine's ignore reasons (snoop's Stats names).
var ignoreWhy = map[string]string{
	"unknown_port":                "received on a port that is not up",
	"link_local_or_invalid_group": "a group that is never learned: 224.0.0.0/24, ff02::1, reserved scopes, or not multicast",
	"leave_without_membership":    "a leave or block for a group the port is not a member of",
	"port_limit":                  "a join over the port's group limit",
	"table_limit":                 "over the bridge's group or key limit",
	"source_limit":                "too many sources: the group forwards every source instead",
	"compat_mode":                 "not read in an older-host compatibility mode (RFC 3376 §7.3.2)",
	"filter_deny":                 "denied by the port's profile",
	"snooping_disabled":           "snooping is off on the port",
	"query_refused":               "a query or router message on a port that refuses them",
	"unknown_record_type":         "a group record of an unknown type (RFC 3376 §4.2.12)",
	"ssm_exclude":                 "an any-source request for a group in an SSM range (RFC 4604 §2.2)",
	"nd_not_enabled":              "neighbour discovery on a port that does not learn guests from it",
	"nd_no_address":               "neighbour discovery showing no address of its sender",
	"nd_limit":                    "a guest address past the port's ND bound: its oldest ND group made room",
}

// ignoredSince is what the engine's ignore counters gained from before to
// after, by reason.
func ignoredSince(before, after map[string]uint64) map[string]uint64 {
	var out map[string]uint64
	for k, n := range after {
		if d := n - before[k]; d > 0 {
			if out == nil {
				out = make(map[string]uint64)
			}
			out[k] = d
		}
	}
	return out
}

// ignoredLines are the text lines for what the engine ignored of a
// frame, one per reason: "ignored: REASON[, N times] (why)".
func ignoredLines(m map[string]uint64) []string {
	reasons := make([]string, 0, len(m))
	for k := range m {
		reasons = append(reasons, k)
	}
	sort.Strings(reasons)
	out := make([]string, len(reasons))
	for i, k := range reasons {
		s := "ignored: " + k
		if n := m[k]; n > 1 {
			s += fmt.Sprintf(", %d times", n)
		}
		if why := ignoreWhy[k]; why != "" {
			s += " (" + why + ")"
		}
		out[i] = s
	}
	return out
}
