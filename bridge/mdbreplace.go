package bridge

import "errors"

// ErrExists is a write of an entry the port already has, refused because
// it was sent without NLM_F_REPLACE (EEXIST): what every kernel before
// Linux 6.2 answers, as they ignore the flag.
var ErrExists = errors.New("mdb entry exists")

// ProtoStatic is the rt_protocol the kernel gives an entry added from
// userspace without one: every such entry before Linux 6.2 (which takes no
// MDBE_ATTR_RTPROT), ours and an operator's `bridge mdb add` alike.
const ProtoStatic = 4
