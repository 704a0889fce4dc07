package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/igmpsnoop/igmpsnoop/snoop"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// harness runs the whole daemon (Run) over a fake kernel, with its
// control socket in a temporary directory, as any user.
type harness struct {
	t        *testing.T
	k        *fakeKernel
	settings *Settings
	reload   chan os.Signal
	cancel   context.CancelFunc
	done     chan error
}

// testSettings is one bridge, br0, with short timers.
func testSettings(t *testing.T, ports map[string]snoop.PortPolicy) *Settings {
	c := snoop.DefaultConfig()
	c.Bridge = "br0"
	c.QueryInterval, c.QueryResponseInterval = 2*time.Second, time.Second
	c.LastMemberQueryInterval, c.LastMemberQueryCount = 50*time.Millisecond, 2
	c.MDBRefreshInterval = time.Second
	c.Ports = ports
	return &Settings{
		Socket: filepath.Join(t.TempDir(), "ctl.sock"), Proto: 77, Text: "bridges: [br0]\n",
		Bridges: []BridgeSettings{{Name: "br0", Engine: c}},
	}
}

// startDaemon runs the daemon until the test ends, and waits until it
// answers on its socket.
func startDaemon(t *testing.T, k *fakeKernel, set *Settings, load func() (*Settings, error)) *harness {
	t.Helper()
	return startDaemonWith(t, k, set, load, nil)
}

// startDaemonWith is startDaemon with the options edited by edit first
// (nil: none).
func startDaemonWith(t *testing.T, k *fakeKernel, set *Settings, load func() (*Settings, error), edit func(*Options)) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, k: k, settings: set, reload: make(chan os.Signal, 1), cancel: cancel, done: make(chan error, 1)}
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	o := Options{Kernel: k, Log: log, Settings: set, Load: load, Reload: h.reload}
	if edit != nil {
		edit(&o)
	}
	go func() {
		h.done <- Run(ctx, o)
	}()
	t.Cleanup(func() { h.stop() })
	eventually(t, "the control socket", func() bool {
		select {
		case err := <-h.done:
			h.done <- err
			t.Fatalf("daemon stopped at start: %v", err)
		default:
		}
		c, err := net.Dial("unix", set.Socket)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return h
}

// stop stops the daemon and returns what Run returned.
func (h *harness) stop() error {
	h.cancel()
	select {
	case err := <-h.done:
		h.done <- err
		return err
	case <-time.After(5 * time.Second):
		h.t.Fatal("daemon did not stop within 5s")
		return nil
	}
}

// ask sends req over the control socket and returns the reply.
func (h *harness) ask(req Request) Reply {
	h.t.Helper()
	r, err := askSocket(h.settings.Socket, req)
	if err != nil {
		h.t.Fatalf("%s: %v", req.Verb(), err)
	}
	return r
}

func askSocket(socket string, req Request) (Reply, error) {
	c, err := net.Dial("unix", socket)
	if err != nil {
		return Reply{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := EncodeRequest(req)
	if err != nil {
		return Reply{}, err
	}
	if _, err := c.Write(append(line, '\n')); err != nil {
		return Reply{}, err
	}
	var r Reply
	if err := json.NewDecoder(bufio.NewReader(c)).Decode(&r); err != nil {
		return Reply{}, err
	}
	return r, nil
}

// feed has port ifindex receive frame.
func (h *harness) feed(ifindex int, frame []byte) {
	h.t.Helper()
	var p *fakePort
	eventually(h.t, "the port to be opened", func() bool { p = h.k.port(ifindex); return p != nil })
	p.in <- frame
}

// hostMAC is the MAC of the host behind port ifindex.
func hostMAC(ifindex int) []byte { return []byte{2, 0, 0, 0, 2, byte(ifindex)} }

// report is an IGMPv2 report (or leave) from the host behind ifindex.
func report(t *testing.T, ifindex int, group string, leave bool) []byte {
	t.Helper()
	f, err := wire.EncodeReport(wire.Report{Version: 2, Leave: leave, SrcMAC: hostMAC(ifindex),
		Src: netip.AddrFrom4([4]byte{10, 77, 0, byte(ifindex)}), Group: netip.MustParseAddr(group)})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// hasEntry tells whether the MDB holds our entry for group on port.
func (h *harness) hasEntry(port int, group string) bool {
	for _, e := range h.k.entries() {
		if e.Port == port && e.Group == netip.MustParseAddr(group) && e.Proto == h.settings.Proto {
			return true
		}
	}
	return false
}

// query is an IGMPv2 general query from the host (a querier) behind ifindex.
func query(t *testing.T, ifindex int) []byte {
	t.Helper()
	f, err := wire.EncodeQuery(wire.Query{Version: 2, SrcMAC: hostMAC(ifindex),
		Src: netip.AddrFrom4([4]byte{10, 77, 0, byte(ifindex)}), MaxResp: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// decoded returns the frames that decode, as messages.
func decoded(frames [][]byte) []*wire.Message {
	var out []*wire.Message
	for _, f := range frames {
		if m, err := wire.Decode(f); err == nil {
			out = append(out, m)
		}
	}
	return out
}

// relayed tells whether frames hold a report of group.
func relayed(frames [][]byte, group string) bool {
	for _, m := range decoded(frames) {
		if m.Kind == wire.KindReport && m.Group == netip.MustParseAddr(group) {
			return true
		}
	}
	return false
}

// freeTCPAddr returns a loopback address with a port free a moment ago.
func freeTCPAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// scrape reads the metrics the daemon serves at addr.
func scrape(t *testing.T, addr string) string {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// metricValue finds the sample series (name and labels, as the text
// exposition prints them) in text; ok is false if it is not there.
func metricValue(text, series string) (v float64, ok bool) {
	for _, line := range strings.Split(text, "\n") {
		if rest, found := strings.CutPrefix(line, series+" "); found {
			f, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// port returns the port named as `show ports` lists it (zero if not).
func (h *harness) port(name string) snoop.PortView {
	h.t.Helper()
	for _, p := range h.ask(PortsRequest{}).Ports {
		if p.Port == name {
			return p
		}
	}
	return snoop.PortView{}
}
