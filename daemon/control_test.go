package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// loader is a Load function whose answer the test sets.
type loader struct {
	mu       sync.Mutex
	settings *Settings
	err      error
}

func (l *loader) load() (*Settings, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.settings, l.err
}

func (l *loader) next(set *Settings, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.settings, l.err = set, err
}

// startReloadable runs the daemon over k, with testSettings and a loader
// for its reloads.
func startReloadable(t *testing.T, k *fakeKernel) (*harness, *loader) {
	ld := &loader{}
	return startDaemon(t, k, testSettings(t, nil), ld.load), ld
}

// withPolicy is set with br0's port policies replaced, and text.
func withPolicy(set *Settings, ports map[string]snoop.PortPolicy, text string) *Settings {
	next := *set
	next.Bridges = []BridgeSettings{set.Bridges[0]}
	next.Bridges[0].Engine.Ports = ports
	next.Text = text
	return &next
}

// A reload (SIGHUP or `igmpsnoop reload`) applies changed port policies
// to the running bridge, guard and router mode included, and keeps what
// was learned; `show config` shows the new configuration.
func TestReloadChangesPortPolicy(t *testing.T) {
	k := newFakeKernel("p1", "p2")
	h, ld := startReloadable(t, k)
	set := h.settings
	h.feed(11, report(t, 11, grpA.String(), false))
	eventually(t, "the entry", func() bool { return h.hasEntry(11, grpA.String()) })
	if c := h.ask(ConfigRequest{}).Config; c != set.Text {
		t.Errorf("show config = %q, want %q", c, set.Text)
	}

	ld.next(withPolicy(set, map[string]snoop.PortPolicy{"p1": {RefuseQueries: true}}, "refusing\n"), nil)
	h.reload <- syscall.SIGHUP
	eventually(t, "p1's guard to drop queries", func() bool { return k.port(10).guardOptions().DropQueries })
	if m, _ := routerModeOf(k, 10); m != bridge.PortRouterDisabled {
		t.Errorf("p1's router mode = %d, want disabled", m)
	}
	eventually(t, "the new configuration shown", func() bool { return h.ask(ConfigRequest{}).Config == "refusing\n" })

	ld.next(withPolicy(set, map[string]snoop.PortPolicy{"p1": {Router: true}}, "router\n"), nil)
	if r := h.ask(ReloadRequest{}); !r.OK || r.Error != "" {
		t.Fatalf("reload = %+v, want ok", r)
	}
	if k.port(10).guardOptions().DropQueries {
		t.Error("p1's guard still drops queries")
	}
	if m, _ := routerModeOf(k, 10); m != bridge.PortRouterPermanent {
		t.Errorf("p1's router mode = %d, want permanent", m)
	}
	if p := h.port("p1"); p.Router != "static" {
		t.Errorf("show ports p1 router = %q, want static", p.Router)
	}
	if gs := h.ask(GroupsRequest{}).Groups; len(gs) != 1 || gs[0].Port != "p2" {
		t.Errorf("show groups after reloads = %+v, want p2's membership kept", gs)
	}
}

// A reload that fails (the file unreadable, or changing what cannot
// change) leaves the running configuration as it was.
func TestReloadRefused(t *testing.T) {
	k := newFakeKernel("p1")
	h, ld := startReloadable(t, k)
	set := h.settings
	moved := *set
	moved.Socket += ".new"
	otherProto := *set
	otherProto.Proto = 78
	for _, tt := range []struct {
		set  *Settings
		err  error
		want string
	}{
		{nil, errors.New("config.yaml: line 3: bad indent"), "config.yaml: line 3: bad indent"},
		{&moved, nil, "cannot change on reload"},
		{&otherProto, nil, "cannot change on reload"},
	} {
		ld.next(tt.set, tt.err)
		if r := h.ask(ReloadRequest{}); r.OK || !strings.Contains(r.Error, tt.want) {
			t.Errorf("reload = %+v, want an error with %q", r, tt.want)
		}
		if c := h.ask(ConfigRequest{}).Config; c != set.Text {
			t.Errorf("show config after a refused reload = %q, want %q", c, set.Text)
		}
	}
	// A bridge added that does not exist: an error, the others go on.
	more := withPolicy(set, nil, "two bridges\n")
	more.Bridges = append(more.Bridges, BridgeSettings{Name: "br1", Engine: set.Bridges[0].Engine})
	ld.next(more, nil)
	if r := h.ask(ReloadRequest{}); !strings.Contains(r.Error, "bridge br1") {
		t.Errorf("reload with a missing bridge = %+v, want an error naming br1", r)
	}
	if r := h.ask(GroupsRequest{Bridge: "br0"}); r.Error != "" {
		t.Errorf("br0 after the reload: %s", r.Error)
	}
}

// Without a configuration file there is nothing to reload.
func TestReloadWithoutFile(t *testing.T) {
	h := startDaemon(t, newFakeKernel("p1"), testSettings(t, nil), nil)
	if r := h.ask(ReloadRequest{}); !strings.Contains(r.Error, "no configuration file") {
		t.Errorf("reload = %+v, want refused: no configuration file", r)
	}
}

// A bridge dropped from the configuration is no longer snooped: its loop
// stops and removes its entries.
func TestReloadRemovesBridge(t *testing.T) {
	k := newFakeKernel("p1")
	h, ld := startReloadable(t, k)
	set := h.settings
	h.feed(10, report(t, 10, grpA.String(), false))
	eventually(t, "the entry", func() bool { return h.hasEntry(10, grpA.String()) })
	none := *set
	none.Bridges = nil
	ld.next(&none, nil)
	if r := h.ask(ReloadRequest{}); !r.OK {
		t.Fatalf("reload = %+v", r)
	}
	if !k.port(10).isClosed() {
		t.Error("p1 still open")
	}
	if h.hasEntry(10, grpA.String()) {
		t.Error("br0's entry left behind")
	}
	if r := h.ask(GroupsRequest{Bridge: "br0"}); !strings.Contains(r.Error, "no bridge") {
		t.Errorf("show groups for br0 = %+v, want no such bridge", r)
	}
}

// events opens an events stream and returns its records.
func events(t *testing.T, socket string, req EventsRequest) <-chan EventRecord {
	t.Helper()
	c, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	line, err := EncodeRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(append(line, '\n')); err != nil {
		t.Fatal(err)
	}
	out := make(chan EventRecord, 64)
	go func() {
		defer close(out)
		dec := json.NewDecoder(c)
		for {
			var r EventRecord
			if err := dec.Decode(&r); err != nil {
				return
			}
			out <- r
		}
	}()
	return out
}

// `igmpsnoop events` streams a record per join, with the bridge, port and
// group, to every reader of the bridge's events.
func TestEventsStream(t *testing.T) {
	k := newFakeKernel("p1")
	h := startDaemon(t, k, testSettings(t, nil), nil)
	all := events(t, h.settings.Socket, EventsRequest{})
	br0 := events(t, h.settings.Socket, EventsRequest{Bridge: "br0"})
	// The streams subscribe once their request is read: report new groups
	// until both have a record.
	var join, onBr0 EventRecord
	for i := 1; (join.Event == "" || onBr0.Event == "") && i <= 100; i++ {
		h.feed(10, report(t, 10, fmt.Sprintf("239.1.2.%d", i), false))
		timeout := time.After(20 * time.Millisecond)
	wait:
		for join.Event == "" || onBr0.Event == "" {
			select {
			case r := <-all:
				if join.Event == "" {
					join = r
				}
			case r := <-br0:
				if onBr0.Event == "" {
					onBr0 = r
				}
			case <-timeout:
				break wait
			}
		}
	}
	if join.Event != "join" || join.Bridge != "br0" || join.Port != "p1" || !strings.HasPrefix(join.Group, "239.1.2.") {
		t.Fatalf("first record = %+v, want a join of 239.1.2.x on p1 of br0", join)
	}
	if onBr0.Bridge != "br0" {
		t.Errorf("br0's stream got %+v, want br0's records", onBr0)
	}
}

// streamPipe serves an events request on one end of a pipe, and returns
// the other end and the daemon's hub, once the stream subscribed.
func streamPipe(t *testing.T, req EventsRequest) (net.Conn, *eventHub) {
	d := &daemon{hub: newEventHub()}
	s := &controlServer{d: d, log: zaptest.NewLogger(t)}
	server, client := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.stream(ctx, server, req) }()
	t.Cleanup(func() { cancel(); <-done; client.Close() })
	eventually(t, "the subscription", d.hub.listening)
	_ = client.SetDeadline(time.Now().Add(5 * time.Second))
	return client, d.hub
}

// A stream for one bridge gets only that bridge's records.
func TestEventsBridgeFilter(t *testing.T) {
	c, hub := streamPipe(t, EventsRequest{Bridge: "br9"})
	hub.publish(EventRecord{Bridge: "br0", Event: "join"})
	hub.publish(EventRecord{Bridge: "br9", Event: "leave"})
	var r EventRecord
	if err := json.NewDecoder(c).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if r.Bridge != "br9" || r.Event != "leave" {
		t.Errorf("first record = %+v, want br9's leave", r)
	}
}

// A reader too slow for the buffer is told how many events it lost.
func TestEventsLost(t *testing.T) {
	client, hub := streamPipe(t, EventsRequest{})
	// The stream takes one record and blocks writing it to the pipe
	// nobody reads; the buffer holds subscriberBuffer; the rest are lost.
	hub.publish(EventRecord{Bridge: "br0", Event: "join"})
	eventually(t, "the stream to take the first record", func() bool {
		hub.mu.Lock()
		defer hub.mu.Unlock()
		for s := range hub.subs {
			if len(s.ch) != 0 {
				return false
			}
		}
		return true
	})
	const lost = 50
	for i := range subscriberBuffer + lost {
		hub.publish(EventRecord{Bridge: "br0", Event: "join", Detail: fmt.Sprint(i)})
	}
	dec := json.NewDecoder(client)
	for range subscriberBuffer + 2 {
		var r EventRecord
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		if r.Event == "events_lost" {
			if want := fmt.Sprintf("%d events lost: reader too slow", lost); r.Detail != want {
				t.Errorf("events_lost detail = %q, want %q", r.Detail, want)
			}
			return
		}
	}
	t.Error("no events_lost record")
}

// A client the daemon does not authorize gets the reason, nothing else.
func TestControlUnauthorized(t *testing.T) {
	h := startDaemonWith(t, newFakeKernel("p1"), testSettings(t, nil), nil, func(o *Options) {
		o.authorize = func(net.Conn) error { return errors.New("uid 1000 is not allowed") }
	})
	if r := h.ask(GroupsRequest{}); r.Error != "uid 1000 is not allowed" || r.Groups != nil {
		t.Errorf("reply = %+v, want only the refusal", r)
	}
}

// rawAsk sends line and returns the reply line as sent.
func rawAsk(t *testing.T, socket, line string) string {
	t.Helper()
	c, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		t.Fatal(err)
	}
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return reply
}

// A request's own field is in the reply even when empty; bad requests get
// their error.
func TestControlReplies(t *testing.T) {
	h := startDaemon(t, newFakeKernel("p1"), testSettings(t, nil), nil)
	for line, want := range map[string]string{
		`{"command":"groups"}`:                `{"groups":[]}`,
		`{"command":"routers"}`:               `{"routers":[]}`,
		`{"command":"frobnicate"}`:            `{"error":"unknown command \"frobnicate\" (check, config, events, groups, ports, querier, reload, routers, stats)"}`,
		`{"command":"groups","bridge":"br9"}`: `{"error":"no bridge \"br9\" is snooped"}`,
	} {
		if got := rawAsk(t, h.settings.Socket, line); got != want+"\n" {
			t.Errorf("%s: reply %s, want %s", line, got, want)
		}
	}
	if r := h.ask(QuerierRequest{}); len(r.Queriers) == 0 {
		t.Errorf("show querier = %+v, want each protocol's", r)
	}
	if r := h.ask(RoutersRequest{Bridge: "br0"}); r.Routers == nil || r.Error != "" {
		t.Errorf("show routers = %+v", r)
	}
}

// A second daemon on the same socket stops before touching a bridge.
func TestSecondDaemonRefused(t *testing.T) {
	set := testSettings(t, nil)
	h := startDaemon(t, newFakeKernel("p1"), set, nil)
	k2 := newFakeKernel("p1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := Run(ctx, Options{Kernel: k2, Log: zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)), Settings: set})
	if err == nil || !strings.Contains(err.Error(), "another daemon is listening") {
		t.Errorf("second daemon: %v, want refused", err)
	}
	if k2.port(10) != nil {
		t.Error("the second daemon opened a port")
	}
	if r := h.ask(GroupsRequest{}); r.Error != "" {
		t.Errorf("first daemon after the second: %s", r.Error)
	}
}

// listenControl makes the socket's directory, keeps the socket private,
// and replaces a stale one.
func TestListenControl(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "igmpsnoop.sock")
	ln, err := listenControl(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", fi.Mode().Perm())
	}
	// A dead daemon's socket: the file stays, nobody listens.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	ln, err = listenControl(path)
	if err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	ln.Close()
}
