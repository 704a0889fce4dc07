package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// The control protocol: a client writes one JSON object on a line, named
// by its "command", and reads one Reply (or, for events, a line per
// event). Each verb is a request type of its own; verbs lists them all.
// Adding a verb is adding its type, its answer and a line in verbs.

// verbNames returns the protocol's verbs, sorted.
func verbNames() []string {
	out := make([]string, 0, len(verbs))
	for v := range verbs {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// EncodeRequest renders req as its wire line (without the newline).
func EncodeRequest(req Request) ([]byte, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode %s request: %w", req.Verb(), err)
	}
	cmd, _ := json.Marshal(req.Verb())
	var b bytes.Buffer
	b.WriteString(`{"command":`)
	b.Write(cmd)
	if rest := bytes.TrimPrefix(body, []byte("{")); len(rest) > 1 {
		b.WriteByte(',')
		b.Write(rest)
	} else {
		b.WriteByte('}')
	}
	return b.Bytes(), nil
}

// DecodeRequest parses a wire line into the request its command names.
func DecodeRequest(line []byte) (Request, error) {
	var head struct {
		Command string `json:"command"`
	}
	if err := json.Unmarshal(line, &head); err != nil {
		return nil, fmt.Errorf("bad request: %w", err)
	}
	decode, ok := verbs[head.Command]
	if !ok {
		return nil, fmt.Errorf("unknown command %q (%s)", head.Command, strings.Join(verbNames(), ", "))
	}
	return decode(line)
}

// decodeAs decodes a request of type T. A field T lacks is refused when it
// holds a value (a misspelt or misplaced filter is an error, not a filter
// silently dropped) and ignored when empty, as clients that send every
// field do.
func decodeAs[T Request](line []byte) (Request, error) {
	var req T
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		return nil, fmt.Errorf("bad request: %w", err)
	}
	for k := range fields {
		if strings.EqualFold(k, "command") {
			delete(fields, k)
		}
	}
	rest, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("bad request: %w", err)
	}
	if err := json.Unmarshal(rest, &req); err != nil {
		return nil, fmt.Errorf("bad %s request: %w", req.Verb(), err)
	}
	// What T took, back to JSON: any field with a value not in it was not T's.
	known := map[string]json.RawMessage{}
	if back, err := json.Marshal(req); err == nil {
		_ = json.Unmarshal(back, &known)
	}
	for k, v := range fields {
		if _, ok := known[k]; ok || isEmptyJSON(v) {
			continue
		}
		return nil, fmt.Errorf("bad %s request: it takes no %q", req.Verb(), k)
	}
	if v, ok := any(req).(interface{ validate() error }); ok {
		if err := v.validate(); err != nil {
			return nil, fmt.Errorf("bad %s request: %w", req.Verb(), err)
		}
	}
	return req, nil
}

// isEmptyJSON tells whether v is an empty value: null, "", false, 0, [] or {}.
func isEmptyJSON(v json.RawMessage) bool {
	switch strings.TrimSpace(string(v)) {
	case "null", `""`, "false", "0", "[]", "{}":
		return true
	}
	return false
}

// Reply is the answer to every request but events. A request fills its
// own field, set even when empty (so `show groups --json` prints
// {"groups":[]}); the others are left out.
type Reply struct {
	Groups   []snoop.GroupView   `json:"groups,omitzero"`
	Ports    []snoop.PortView    `json:"ports,omitzero"`
	Routers  []snoop.RouterView  `json:"routers,omitzero"`
	Queriers []snoop.QuerierView `json:"queriers,omitzero"`
	Stats    []snoop.Stats       `json:"stats,omitzero"`
	Checks   []snoop.MDBCheck    `json:"checks,omitzero"`
	Config   string              `json:"config,omitzero"`
	OK       bool                `json:"ok,omitzero"`
	Error    string              `json:"error,omitzero"`
	Guard    string              `json:"guard,omitzero"` // the guard mode in force (tcx or tc), with Config
}

// EventRecord is one line of `igmpsnoop events`: the JSON names are part
// of the CLI's contract.
type EventRecord struct {
	Time   time.Time `json:"time"`
	Bridge string    `json:"bridge"`
	Event  string    `json:"event"`
	Port   string    `json:"port,omitempty"`
	Group  string    `json:"group,omitempty"`
	VLAN   uint16    `json:"vlan,omitempty"`
	Addr   string    `json:"addr,omitempty"`
	Detail string    `json:"detail,omitempty"`
	// Peer is what is behind Port (a container, a namespace), if known.
	Peer *snoop.PeerView `json:"peer,omitempty"`
}

// Text renders an event on one line for a terminal.
func (r EventRecord) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", r.Time.Local().Format("15:04:05.000"), r.Bridge, r.Event)
	for _, kv := range [][2]string{{"port", r.Port}, {"peer", r.Peer.Short()}, {"group", r.Group}, {"addr", r.Addr}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, " %s=%s", kv[0], kv[1])
		}
	}
	if r.VLAN != 0 {
		fmt.Fprintf(&b, " vlan=%d", r.VLAN)
	}
	if r.Detail != "" {
		fmt.Fprintf(&b, " (%s)", r.Detail)
	}
	return b.String()
}

// ParsePrefixOrAddr reads a prefix, or an address as its one-address prefix.
func ParsePrefixOrAddr(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
