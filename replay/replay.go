// Package replay feeds a packet capture through the snooping engine,
// offline: each frame with the capture's own timestamp, the engine's
// timers fired between frames as they would have fired, and what the
// daemon would have learned, refused and forwarded printed frame by frame
// (as text or JSON), then a summary and the final tables. It sends
// nothing and touches no bridge, so it needs no root and runs anywhere:
// it is for debugging multicast from a capture taken elsewhere.
package replay

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/snoop"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// Description tells what a replay does and prints, for a command's help.
const Description = `Feeds a capture (pcap or pcapng, told apart by their magic; Ethernet link
type only) through the snooping engine with the capture's own timestamps,
and prints frame by frame what the daemon would have learned, refused and
forwarded, then a summary and the final tables. Nothing is sent, no bridge
is touched, no root is needed: it is for debugging multicast from a capture
taken elsewhere.

Ports: a capture has no bridge ports, so every source MAC address is a
virtual port, named by the MAC (e.g. 02:00:5e:10:00:01) and created when it
first sends a message the snooper reads. The virtual bridge is never the
querier and has no group limits; its MAC is 02:00:00:00:00:00 and its
link-local address fe80::ff:fe00:0, the source of the MLD queries it sends
after a leave (IGMP ones come from 0.0.0.0, as the daemon's do).

VLANs: as on a bridge without vlan_filtering (Linux's default), a tagged
message counts for VLAN 0, whose entries forward every VLAN: a tagged
report joins for all of them, a tagged query elects VLAN 0's querier.
--vlan-filtering replays a bridge with vlan_filtering 1: memberships,
queriers and router ports per VLAN.

Time: before each frame every engine timer due by the frame's timestamp
fires, so memberships age and last-member queries run as they would have.
Timers stop at the last frame, so the final table is the state at the end
of the capture; --until keeps them running that much longer. The engine
adopts the robustness, query interval and response time (QRV, QQIC, MRC) of
queries in the capture, but (as the daemon does, against forged queries)
only within a factor of four of the timer flags, which also hold until the
first query: for a LAN with unusual timers, set the flags to match.

Text output: one line per frame (number, seconds since the first frame, or
the date and time in UTC for a capture spanning more than a day, port, then
the decoded message, with the name of IGMP types the snooper floods unread
such as "(DVMRP)" or "(mtrace response)", "refused: REASON: DETAIL", or
with -v "not snooped: REASON" for frames that are not IGMP, MLD or PIM at
all), then one indented line per thing the engine did (install G on PORT
mode include {S1,S2}, refresh G on PORT ... when the entry is written
unchanged to renew its timer, remove G on PORT, relay to PORT, flood to
PORT, query G out of PORT, set/clear router port PORT, and events: join,
leave, expire, router_add, router_expire, querier_heard, querier_lost,
timers_changed, ...), and one "ignored: REASON (why)" line per reason the
engine ignored the message or part of it for. Timers that fire between
frames print a "-" line with their time. Then a summary and the groups,
routers and querier tables.

JSON output (--json), one object per line:
  frame:  {"frame":N, "time_ms":T, "time":RFC3339, "port":MAC, and
           "message":TEXT, or "refused":REASON + "detail":TEXT, or
           "not_snooped":REASON (only with -v); "actions":[...], and
           "ignored":{REASON:N} when the engine ignored any of it}
  timer:  {"timer":true, "after_frame":N, "time_ms":T, "time":RFC3339,
           "actions":[...]}
  action: {"action": install|remove|relay|flood|query|solicit|transmit|event|router_port,
           "text": the text line, and where they apply "port", "vlan",
           "group", "mode", "sources", "event", "addr", "detail", "router",
           "refresh":true (an install that only renews the entry's timer)}
  last:   {"summary":{"file", "format", "frames", "snooped", "refused":{REASON:N},
           "not_snooped", "ports", "start", "duration_ms", "end_ms", "until_ms",
           "time_went_back", "received":{...}, "ignored":{...}, "relayed",
           "queries_sent", "error"}, "groups":[...], "routers":[...],
           "queriers":[...]} (groups, routers and queriers as show --json
           prints them; queriers only those present)
time_ms counts milliseconds since the first frame; end_ms is the time of
the final tables.

`

// The virtual bridge's own addresses: a locally administered MAC and the
// EUI-64 link-local address derived from it. MLD hosts ignore queries that
// do not come from a link-local address, so without one the engine could
// not run last-member queries after an MLD leave.
var (
	bridgeMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0}
	bridgeLL  = netip.MustParseAddr("fe80::ff:fe00:0")
)

// absoluteAfter is the longest capture whose text output times its lines
// in seconds since the first frame; a longer one prints the date and time
// (UTC), which stay readable over days.
const absoluteAfter = 24 * time.Hour

// maxTicksPerGap bounds the timer loop between two frames. Each Tick
// consumes at least one timer, and without a querier of our own nothing
// reschedules itself forever, so a real capture never comes near it; it
// keeps a bug from hanging the replay.
const maxTicksPerGap = 1 << 20

// Options say what to replay and how.
type Options struct {
	// File is the capture: pcap or pcapng, told apart by their magic,
	// Ethernet link type only.
	File string
	// JSON prints one JSON object per frame or timer run and a final one
	// (see Description) instead of text.
	JSON bool
	// Verbose also prints the frames that are not IGMP, MLD or PIM at all
	// (counted either way).
	Verbose bool
	// Until keeps the timers running this long after the last frame,
	// before the final tables.
	Until time.Duration
	// Config is the engine's: timers, limits, SourceLists, VLANFiltering;
	// start from snoop.DefaultConfig(). The virtual bridge's own fields
	// are set by EngineConfig.
	Config snoop.Config
	// PrintTable renders one of the final tables of text output ("groups",
	// "routers" or "querier"), as `igmpsnoop show` does; nil leaves the
	// tables out.
	PrintTable func(w io.Writer, what string, t *Tables) error
}

// EngineConfig is the configuration the engine runs with: Config, for a
// virtual bridge that never queries.
func (o Options) EngineConfig() snoop.Config {
	c := o.Config
	c.Bridge = "replay"
	c.Querier = false
	c.QuerySourceMAC = bridgeMAC
	c.QuerierAddr6 = bridgeLL
	// As the daemon does: a report within one response interval of the
	// last write only refreshes our timer.
	c.MDBRefreshInterval = c.QueryResponseInterval
	return c
}

// Validate checks the options that Run would refuse before reading
// anything.
func (o Options) Validate() error {
	if o.Until < 0 {
		return fmt.Errorf("until %v: must not be negative", o.Until)
	}
	return o.EngineConfig().Validate()
}

// Result is what a replay ends with: the last JSON object.
type Result struct {
	Summary Summary `json:"summary"`
	Tables
}

// Tables are the engine's final tables, as show --json prints them:
// queriers only those present.
type Tables struct {
	Groups   []snoop.GroupView   `json:"groups"`
	Routers  []snoop.RouterView  `json:"routers"`
	Queriers []snoop.QuerierView `json:"queriers"`
}

// Summary counts what a replay read and did.
type Summary struct {
	File         string            `json:"file"`
	Format       string            `json:"format"` // pcap or pcapng
	Frames       int               `json:"frames"`
	Snooped      int               `json:"snooped"`
	Refused      map[string]uint64 `json:"refused"` // by reason
	NotSnooped   int               `json:"not_snooped"`
	Ports        int               `json:"ports"` // virtual ports: source MAC addresses
	Start        string            `json:"start,omitempty"`
	DurationMs   int64             `json:"duration_ms"` // from the first frame to the last
	EndMs        int64             `json:"end_ms"`      // from the first frame to the final tables
	UntilMs      int64             `json:"until_ms"`
	TimeWentBack int               `json:"time_went_back"` // frames stamped before the one ahead
	Received     map[string]uint64 `json:"received"`
	Ignored      map[string]uint64 `json:"ignored"`
	Relayed      uint64            `json:"relayed"`
	QueriesSent  uint64            `json:"queries_sent"`
	Error        string            `json:"error,omitempty"`
}

// Run replays o.File and prints to w what happens. Its error names the
// frame it stopped at, if any, after what was read was printed with its
// summary; the Result is nil only if nothing was printed.
func Run(ctx context.Context, o Options, w io.Writer) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	capt, err := openCapture(o.File)
	if err != nil {
		return nil, err
	}
	defer capt.close()
	out := bufio.NewWriter(w)
	r := &replayer{
		opts: o, cfg: o.EngineConfig(), out: out, enc: json.NewEncoder(out),
		dec: wire.NewDecoder(), qdec: wire.NewDecoder(),
		ports: make(map[string]int), routerPorts: make(map[int]bool), refused: make(map[string]uint64),
	}
	// Messages carry "src > dst": keep them readable in JSON.
	r.enc.SetEscapeHTML(false)
	if !o.JSON {
		// JSON has both times on every line; text has room for one.
		if d, ok := span(ctx, o.File); ok && d+o.Until > absoluteAfter {
			r.absolute = true
		}
	}
	runErr := r.run(ctx, capt)
	res, err := r.finish(capt, runErr)
	if err != nil && runErr == nil {
		runErr = err
	}
	if err := out.Flush(); err != nil && runErr == nil {
		runErr = fmt.Errorf("replay: write output: %w", err)
	}
	return res, runErr
}

// replayer feeds one capture through an engine and prints what happens.
type replayer struct {
	opts Options
	cfg  snoop.Config
	// engine starts at the first frame, its time origin (see start).
	engine *snoop.Engine
	out    *bufio.Writer
	enc    *json.Encoder
	dec    *wire.Decoder
	msg    wire.Message
	// qdec decodes the queries the engine builds, to describe them.
	qdec *wire.Decoder
	qmsg wire.Message

	ports map[string]int // virtual port index by source MAC
	// routerPorts are the ports the engine made router ports (ActRouterPort).
	routerPorts map[int]bool
	frame       int // frames read so far
	snooped     int
	notSnoop    int
	refused     map[string]uint64
	wentBack    int
	first       time.Time // timestamp of the first frame
	now         time.Time // engine time: the latest timestamp seen
	started     bool
	lastFrame   time.Time
	// absolute prints text lines with their date and time, not the
	// seconds since the first frame (see absoluteAfter).
	absolute bool
}

// frameRecord is one line of --json output for a frame or a timer run.
type frameRecord struct {
	Frame      int            `json:"frame,omitempty"`
	Timer      bool           `json:"timer,omitempty"`
	AfterFrame *int           `json:"after_frame,omitempty"`
	TimeMs     int64          `json:"time_ms"`
	Time       string         `json:"time"`
	Port       string         `json:"port,omitempty"`
	Message    string         `json:"message,omitempty"`
	Refused    string         `json:"refused,omitempty"`
	Detail     string         `json:"detail,omitempty"`
	NotSnooped string         `json:"not_snooped,omitempty"`
	Actions    []actionRecord `json:"actions"`
	// Ignored counts, by reason, what the engine ignored of the frame:
	// the whole message, or some of its records or sources.
	Ignored map[string]uint64 `json:"ignored,omitempty"`

	// at is the exact time since the first frame, for text output.
	at time.Duration
}

// actionRecord is one engine action, for text and JSON output.
type actionRecord struct {
	Action  string   `json:"action"`
	Text    string   `json:"text"`
	Event   string   `json:"event,omitempty"`
	Port    string   `json:"port,omitempty"`
	VLAN    uint16   `json:"vlan,omitempty"`
	Group   string   `json:"group,omitempty"`
	Mode    string   `json:"mode,omitempty"`
	Sources []string `json:"sources,omitempty"`
	Addr    string   `json:"addr,omitempty"`
	Detail  string   `json:"detail,omitempty"`
	Router  *bool    `json:"router,omitempty"`
	// Refresh marks an install that writes what the entry already holds:
	// it only renews the kernel's timer.
	Refresh bool `json:"refresh,omitempty"`
}

// run reads the capture to its end, or to the first unreadable frame.
func (r *replayer) run(ctx context.Context, c *capture) error {
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("replay: %s: stopped after frame %d: %w", c.path, r.frame, err)
		}
		data, ci, err := c.next()
		if errors.Is(err, io.EOF) {
			break
		}
		n := r.frame + 1
		if err != nil {
			return fmt.Errorf("replay: %s: frame %d: %w (%s)", c.path, n, readError(err), replayedBefore(r.frame))
		}
		r.frame = n
		if err := r.handleFrame(data, ci.Timestamp); err != nil {
			return fmt.Errorf("replay: %s: frame %d: %w", c.path, n, err)
		}
	}
	if r.started && r.opts.Until > 0 {
		end := r.now.Add(r.opts.Until)
		if err := r.runTimers(end, r.frame); err != nil {
			return fmt.Errorf("replay: %s: after the last frame: %w", c.path, err)
		}
		r.now = end
	}
	return nil
}

// readError names a cut-off file as such: pcapgo reports it as a bare
// "unexpected EOF".
func readError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("capture truncated in the middle of this frame's record: %w", err)
	}
	return err
}

// replayedBefore says how many frames were replayed before an unreadable
// one.
func replayedBefore(n int) string {
	switch n {
	case 0:
		return "no frame before it was replayed"
	case 1:
		return "the frame before it was replayed"
	}
	return fmt.Sprintf("the %d frames before it were replayed", n)
}

// handleFrame replays one frame: timers due before it, then the frame.
func (r *replayer) handleFrame(data []byte, ts time.Time) error {
	if !r.started {
		ts = frameTime(ts)
		if err := r.start(ts); err != nil {
			return err
		}
	}
	if ts.IsZero() || ts.Before(r.now) {
		// Merged or badly stamped captures: the engine's clock must not
		// run backwards, so such a frame counts as arriving with the one
		// before it.
		if !ts.IsZero() {
			r.wentBack++
		}
		ts = r.now
	}
	if err := r.runTimers(ts, r.frame-1); err != nil {
		return err
	}
	r.now, r.lastFrame = ts, ts
	rec := frameRecord{Frame: r.frame, TimeMs: r.since(ts).Milliseconds(), Time: stamp(ts), Port: "?", at: r.since(ts)}
	if len(data) >= 12 {
		rec.Port = net.HardwareAddr(data[6:12]).String()
	}
	if err := r.dec.Decode(data, &r.msg); err != nil {
		reason := wire.ReasonOf(err)
		r.engine.Refused(r.ports[rec.Port], reason)
		if reason.NotSnooped() {
			r.notSnoop++
			if !r.opts.Verbose {
				return nil
			}
			rec.NotSnooped = reason.String()
		} else {
			r.refused[reason.String()]++
			rec.Refused = reason.String()
			var ref *wire.Refusal
			if errors.As(err, &ref) {
				rec.Detail = ref.Detail
			}
		}
		r.print(rec)
		return nil
	}
	r.snooped++
	rec.Port = r.msg.SrcMAC.String()
	rec.Message = r.msg.String()
	if name := typeName(&r.msg); name != "" {
		rec.Message += " (" + name + ")"
	}
	port, ok := r.ports[rec.Port]
	var acts []snoop.Action
	if !ok {
		port = len(r.ports) + 1 // 0 is the bridge itself (snoop.ThroughBridge)
		r.ports[rec.Port] = port
		acts = append(acts, r.engine.PortUp(ts, port, rec.Port)...)
	}
	before := r.engine.Ignored()
	acts = append(acts, r.engine.HandleMessage(ts, port, &r.msg, data)...)
	rec.Actions = r.describe(acts, data)
	rec.Ignored = ignoredSince(before, r.engine.Ignored())
	r.print(rec)
	return nil
}

// start begins the replay at the first frame's time, which is the
// engine's time origin: its table's times reach about 146 years either
// side of it, any capture's span.
func (r *replayer) start(first time.Time) error {
	e, err := snoop.New(r.cfg, first)
	if err != nil {
		return fmt.Errorf("start the engine: %w", err)
	}
	r.engine, r.first, r.now, r.started = e, first, first, true
	return nil
}

// runTimers fires every engine timer due by until, each at its own time,
// and prints what they did; after is the last frame handled before them.
func (r *replayer) runTimers(until time.Time, after int) error {
	for i := 0; ; i++ {
		at, ok := r.engine.NextDeadline()
		if !ok || at.After(until) {
			return nil
		}
		if i == maxTicksPerGap {
			return fmt.Errorf("engine timers still due after %d runs: giving up", maxTicksPerGap)
		}
		if at.Before(r.now) {
			at = r.now // never hand the engine a time before one it has seen
		}
		r.now = at
		acts := r.engine.Tick(at)
		if len(acts) == 0 {
			continue // a stale timer: nothing happened
		}
		r.print(frameRecord{Timer: true, AfterFrame: &after, TimeMs: r.since(at).Milliseconds(), Time: stamp(at),
			Actions: r.describe(acts, nil), at: r.since(at)})
	}
}

func (r *replayer) since(t time.Time) time.Duration { return t.Sub(r.first) }

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// describe turns actions into records. in is the frame being handled (nil
// for timers), to tell a relayed or flooded copy of it from a frame the
// engine built.
func (r *replayer) describe(acts []snoop.Action, in []byte) []actionRecord {
	out := make([]actionRecord, 0, len(acts))
	for i := range acts {
		out = append(out, r.describeAction(&acts[i], in))
	}
	return out
}

func (r *replayer) describeAction(a *snoop.Action, in []byte) actionRecord {
	port := r.portName(a.Port)
	switch a.Kind {
	case snoop.ActInstall:
		rec := actionRecord{Action: "install", Port: port, VLAN: a.Key.VLAN, Group: a.Key.Group.String(), Mode: a.Mode.String(),
			Sources: addrStrings(a.Sources), Refresh: a.Refresh}
		verb := "install"
		if a.Refresh {
			verb = "refresh" // the same entry again: the kernel's timer starts over
		}
		rec.Text = fmt.Sprintf("%s %s on %s mode %s {%s}", verb, keyText(a.Key), port, rec.Mode, strings.Join(rec.Sources, ","))
		return rec
	case snoop.ActRemove:
		return actionRecord{Action: "remove", Port: port, VLAN: a.Key.VLAN, Group: a.Key.Group.String(),
			Text: fmt.Sprintf("remove %s on %s", keyText(a.Key), port)}
	case snoop.ActTransmit:
		return r.describeTransmit(a, port, in)
	case snoop.ActRouterPort:
		// The engine repeats a router port now and then to renew the
		// kernel's temporary setting; say which ones are news.
		on := a.Router
		verb := "clear"
		switch {
		case on && r.routerPorts[a.Port]:
			verb = "renew"
		case on:
			verb = "set"
		}
		r.routerPorts[a.Port] = on
		return actionRecord{Action: "router_port", Port: port, Router: &on, Text: fmt.Sprintf("%s router port %s", verb, port)}
	case snoop.ActEvent:
		return r.describeEvent(a.Event)
	}
	return actionRecord{Action: "unknown", Port: port, Text: fmt.Sprintf("unknown action %d on %s", a.Kind, port)}
}

// describeTransmit names a transmitted frame: the input frame relayed (a
// report or leave, to router ports) or flooded (a proxy query), or a query
// the engine built.
func (r *replayer) describeTransmit(a *snoop.Action, port string, in []byte) actionRecord {
	if a.Port == snoop.ThroughBridge {
		port = "bridge"
	}
	if len(in) > 0 && len(a.Frame) > 0 && &a.Frame[0] == &in[0] {
		verb := "relay"
		if r.msg.Kind == wire.KindQuery || r.msg.Kind == wire.KindOther {
			verb = "flood"
		}
		return actionRecord{Action: verb, Port: port, Text: verb + " to " + port}
	}
	err := r.qdec.Decode(a.Frame, &r.qmsg)
	switch {
	case err == nil && r.qmsg.Kind == wire.KindOther && (r.qmsg.IGMPType == wire.TypeMRDSolicit || r.qmsg.IGMPType == wire.TypeMRDSolicit6):
		return actionRecord{Action: "solicit", Port: port, Text: fmt.Sprintf("MRD solicitation out of %s (%s from %v)", port, r.qmsg.Proto, r.qmsg.Src)}
	case err != nil || r.qmsg.Kind != wire.KindQuery:
		return actionRecord{Action: "transmit", Port: port, Text: fmt.Sprintf("transmit %s out of %s", plural(len(a.Frame), "byte"), port)}
	}
	q := &r.qmsg
	rec := actionRecord{Action: "query", Port: port, VLAN: q.VLAN, Sources: addrStrings(q.Sources), Detail: q.String()}
	what := "general"
	if !q.IsGeneralQuery() {
		rec.Group = q.Group.String()
		what = keyText(fdb.Key{VLAN: q.VLAN, Group: q.Group})
	}
	if len(rec.Sources) > 0 {
		what += " sources {" + strings.Join(rec.Sources, ",") + "}"
	}
	rec.Text = fmt.Sprintf("query %s out of %s (%s v%d from %v, maxresp %v)", what, port, q.Proto, q.Version, q.Src, q.MaxResp)
	return rec
}

func (r *replayer) describeEvent(ev snoop.Event) actionRecord {
	rec := actionRecord{Action: "event", Event: ev.Kind.String(), Detail: ev.Detail}
	var b strings.Builder
	b.WriteString(rec.Event)
	if ev.Key.Group.IsValid() {
		rec.Group, rec.VLAN = ev.Key.Group.String(), ev.Key.VLAN
		b.WriteString(" " + keyText(ev.Key))
	}
	if ev.Port != 0 {
		rec.Port = r.portName(ev.Port)
		b.WriteString(" on " + rec.Port)
	}
	if ev.Addr.IsValid() {
		rec.Addr = ev.Addr.String()
		by := " from "
		if ev.Kind == snoop.EventJoin || ev.Kind == snoop.EventLimit || ev.Kind == snoop.EventFilterDeny {
			by = " by "
		}
		b.WriteString(by + rec.Addr)
	}
	if ev.Detail != "" {
		b.WriteString(" (" + ev.Detail + ")")
	}
	rec.Text = b.String()
	return rec
}

func (r *replayer) portName(i int) string {
	if i == snoop.ThroughBridge {
		return "bridge"
	}
	return r.engine.PortName(i)
}

func keyText(k fdb.Key) string {
	if k.VLAN != 0 {
		return fmt.Sprintf("%v vlan %d", k.Group, k.VLAN)
	}
	return k.Group.String()
}

func addrStrings(as []netip.Addr) []string {
	if len(as) == 0 {
		return nil
	}
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

// print writes one frame or timer record. Write errors stick in the
// buffered writer and are reported once, when it is flushed.
func (r *replayer) print(rec frameRecord) {
	if r.opts.JSON {
		if rec.Actions == nil {
			rec.Actions = []actionRecord{}
		}
		_ = r.enc.Encode(rec)
		return
	}
	at, width := r.timeText(rec.at)
	if rec.Timer {
		fmt.Fprintf(r.out, "%5s %*s  %-17s  timers\n", "-", width, at, "")
	} else {
		what := rec.Message
		switch {
		case rec.Refused != "":
			what = "refused: " + rec.Refused
			if rec.Detail != "" {
				what += ": " + rec.Detail
			}
		case rec.NotSnooped != "":
			what = "not snooped: " + rec.NotSnooped
		}
		fmt.Fprintf(r.out, "%5d %*s  %-17s  %s\n", rec.Frame, width, at, rec.Port, what)
	}
	indent := 5 + 1 + width + 2 + 1
	for _, a := range rec.Actions {
		fmt.Fprintf(r.out, "%*s%s\n", indent, "", a.Text)
	}
	for _, line := range ignoredLines(rec.Ignored) {
		fmt.Fprintf(r.out, "%*s%s\n", indent, "", line)
	}
}

// timeText is a line's time as text output prints it, and the width of
// its column: seconds since the first frame, or for a capture spanning
// days the date and time (UTC, as tcpdump -tttt prints them with TZ=UTC).
func (r *replayer) timeText(at time.Duration) (string, int) {
	if r.absolute {
		return r.first.Add(at).UTC().Format("2006-01-02 15:04:05.000000"), 26
	}
	return seconds6(at), 14
}

// seconds6 prints a time since the first frame in seconds with
// microseconds, as tcpdump's relative timestamps do.
func seconds6(d time.Duration) string {
	return fmt.Sprintf("%.6fs", d.Seconds())
}

// finish prints the summary and the final tables, the state at the end of
// the capture (plus --until), or at the last good frame after an error.
func (r *replayer) finish(c *capture, runErr error) (*Result, error) {
	if r.engine == nil {
		// No frame was read: the tables of an engine that saw nothing.
		e, err := snoop.New(r.cfg, time.Time{})
		if err != nil {
			return nil, fmt.Errorf("replay: start the engine: %w", err)
		}
		r.engine = e
	}
	now := r.now
	st := r.engine.Stats()
	s := Summary{
		File: c.path, Format: c.format, Frames: r.frame, Snooped: r.snooped, Refused: r.refused,
		NotSnooped: r.notSnoop, Ports: len(r.ports), TimeWentBack: r.wentBack,
		Received: st.Received, Ignored: nonZero(st.Ignored), Relayed: st.Relayed, QueriesSent: st.SentQueries,
		UntilMs: r.opts.Until.Milliseconds(),
	}
	if r.started {
		s.Start = stamp(r.first)
		s.DurationMs = r.lastFrame.Sub(r.first).Milliseconds()
		s.EndMs = now.Sub(r.first).Milliseconds()
	}
	if runErr != nil {
		s.Error = runErr.Error()
	}
	final := &Result{Summary: s, Tables: Tables{Groups: r.engine.Groups(now), Routers: r.engine.Routers(now)}}
	final.Queriers = []snoop.QuerierView{}
	for _, q := range r.engine.Queriers(now) {
		if q.Present {
			final.Queriers = append(final.Queriers, q)
		}
	}
	if r.opts.JSON {
		return final, r.enc.Encode(final)
	}
	return final, r.printFinal(final, runErr)
}

// printFinal prints the summary and the final tables as text.
func (r *replayer) printFinal(final *Result, runErr error) error {
	s, now := &final.Summary, r.now
	w := r.out
	fmt.Fprintf(w, "\nsummary: %s", plural(s.Frames, "frame"))
	if r.started {
		fmt.Fprintf(w, " over %v from %s", r.lastFrame.Sub(r.first), s.Start)
	}
	fmt.Fprintf(w, ": %d snooped, %d refused, %d not snooped; %s\n", s.Snooped, sum(s.Refused), s.NotSnooped, plural(s.Ports, "virtual port"))
	if runErr != nil {
		fmt.Fprintf(w, "stopped early: %v\n", runErr)
	}
	if s.TimeWentBack > 0 {
		if s.TimeWentBack == 1 {
			fmt.Fprintf(w, "1 frame was stamped before the frame ahead of it and was replayed at its time\n")
		} else {
			fmt.Fprintf(w, "%d frames were stamped before the frame ahead of them and were replayed at its time\n", s.TimeWentBack)
		}
	}
	printCounts(w, "received", s.Received)
	printCounts(w, "refused", s.Refused)
	printCounts(w, "ignored", s.Ignored)
	if s.Relayed > 0 || s.QueriesSent > 0 {
		fmt.Fprintf(w, "relayed %s to router ports, sent %s\n",
			plurals(int(s.Relayed), "report or leave", "reports and leaves"), plurals(int(s.QueriesSent), "query", "queries"))
	}
	when := "at the end of the capture"
	switch {
	case runErr != nil:
		when = fmt.Sprintf("after frame %d, the last one read", r.frame)
	case r.opts.Until > 0:
		when = fmt.Sprintf("%v after the last frame", r.opts.Until)
	}
	if r.started {
		at, _ := r.timeText(now.Sub(r.first))
		when += " (" + at + ")"
	}
	tables := []struct {
		title, what string
		empty       bool
	}{
		{"groups " + when, "groups", len(final.Groups) == 0},
		{"router ports", "routers", len(final.Routers) == 0},
		{"querier", "querier", len(final.Queriers) == 0},
	}
	if r.opts.PrintTable == nil {
		return nil
	}
	for _, t := range tables {
		if t.empty {
			fmt.Fprintf(w, "\n%s: none\n", t.title)
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", t.title)
		if err := r.opts.PrintTable(w, t.what, &final.Tables); err != nil {
			return fmt.Errorf("replay: print %s: %w", t.what, err)
		}
	}
	return nil
}

func printCounts(w io.Writer, what string, m map[string]uint64) {
	if len(m) == 0 {
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	fmt.Fprintf(w, "%s: %s\n", what, strings.Join(parts, ", "))
}

// plural counts n of what, a noun whose plural takes an s.
func plural(n int, what string) string { return plurals(n, what, what+"s") }

// plurals counts n things, one or many.
func plurals(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func nonZero(m map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64)
	for k, v := range m {
		if v > 0 {
			out[k] = v
		}
	}
	return out
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}
