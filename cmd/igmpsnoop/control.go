package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// Request is one control-socket request: a single JSON line. Bridge, Port
// and Group narrow what `show` returns (Group: an address or a prefix).
type Request struct {
	Command string `json:"command"`
	Bridge  string `json:"bridge,omitempty"`
	Port    string `json:"port,omitempty"`
	Group   string `json:"group,omitempty"`
}

// Replies are one JSON object whose single key names what it holds, so
// `show groups --json` prints {"groups": [...]} and scripts can rely on it.
type groupsReply struct {
	Groups []snoop.GroupView `json:"groups"`
}
type routersReply struct {
	Routers []snoop.RouterView `json:"routers"`
}
type querierReply struct {
	Queriers []snoop.QuerierView `json:"queriers"`
}
type statsReply struct {
	Stats []snoop.Stats `json:"stats"`
}
type portsReply struct {
	Ports []snoop.PortView `json:"ports"`
}
type checkReply struct {
	Checks []snoop.MDBCheck `json:"checks"`
}
type configReply struct {
	Config string `json:"config"`
}
type okReply struct {
	OK bool `json:"ok"`
}
type errorReply struct {
	Error string `json:"error"`
}

// reply is a decoded control reply, and also what the daemon merges the
// bridges' answers into; raw is the JSON as received.
type reply struct {
	raw      []byte
	Groups   []snoop.GroupView   `json:"groups"`
	Routers  []snoop.RouterView  `json:"routers"`
	Queriers []snoop.QuerierView `json:"queriers"`
	Stats    []snoop.Stats       `json:"stats"`
	Ports    []snoop.PortView    `json:"ports"`
	Checks   []snoop.MDBCheck    `json:"checks"`
	Config   string              `json:"config"`
	OK       bool                `json:"ok"`
	Error    string              `json:"error"`
}

// add merges one bridge's answer.
func (r *reply) add(v any) {
	switch v := v.(type) {
	case []snoop.GroupView:
		r.Groups = append(r.Groups, v...)
	case []snoop.RouterView:
		r.Routers = append(r.Routers, v...)
	case []snoop.QuerierView:
		r.Queriers = append(r.Queriers, v...)
	case snoop.Stats:
		r.Stats = append(r.Stats, v)
	case []snoop.PortView:
		r.Ports = append(r.Ports, v...)
	case snoop.MDBCheck:
		r.Checks = append(r.Checks, v)
	}
}

// forCommand returns the reply object for a command, lists never null.
func (r *reply) forCommand(cmd string) (any, error) {
	switch cmd {
	case "groups":
		return groupsReply{Groups: nonNil(r.Groups)}, nil
	case "routers":
		return routersReply{Routers: nonNil(r.Routers)}, nil
	case "querier":
		return querierReply{Queriers: nonNil(r.Queriers)}, nil
	case "stats":
		return statsReply{Stats: nonNil(r.Stats)}, nil
	case "ports":
		return portsReply{Ports: nonNil(r.Ports)}, nil
	case "check":
		return checkReply{Checks: nonNil(r.Checks)}, nil
	}
	return nil, fmt.Errorf("unknown command %q", cmd)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// filterGroups keeps the rows matching the request's port and group.
func filterGroups(gs []snoop.GroupView, req Request) []snoop.GroupView {
	var pfx netip.Prefix
	if req.Group != "" {
		p, err := parsePrefixOrAddr(req.Group)
		if err != nil {
			return nil
		}
		pfx = p
	}
	out := gs[:0]
	for _, g := range gs {
		if req.Port != "" && g.Port != req.Port {
			continue
		}
		if pfx.IsValid() {
			a, err := netip.ParseAddr(g.Group)
			if err != nil || !pfx.Contains(a) {
				continue
			}
		}
		out = append(out, g)
	}
	return out
}

// controlServer serves the control socket. ask answers a request;
// events are streamed from hub.
type controlServer struct {
	ln  net.Listener
	log *zap.Logger
	ask func(context.Context, Request) (any, error)
	hub *eventHub
	// authorize, if set, vets the peer before any request is answered.
	authorize func(net.Conn) error
}

func (s *controlServer) serve(ctx context.Context) {
	go func() {
		<-ctx.Done()
		s.ln.Close()
	}()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				s.log.Warn("control socket accept failed", zap.Error(err))
			}
			return
		}
		go s.handle(ctx, c)
	}
}

func (s *controlServer) handle(ctx context.Context, c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(io.LimitReader(c, 4096)).ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		s.log.Debug("control request unreadable", zap.Error(err))
		return
	}
	var req Request
	var reply any
	if s.authorize != nil {
		if err := s.authorize(c); err != nil {
			s.log.Debug("control request refused", zap.Error(err))
			_ = json.NewEncoder(c).Encode(errorReply{Error: err.Error()})
			return
		}
	}
	if err := json.Unmarshal(line, &req); err != nil {
		reply = errorReply{Error: "bad request: " + err.Error()}
	} else if req.Command == "events" {
		s.stream(ctx, c, req)
		return
	} else if reply, err = s.ask(ctx, req); err != nil {
		reply = errorReply{Error: err.Error()}
	}
	if err := json.NewEncoder(c).Encode(reply); err != nil {
		s.log.Debug("control reply not sent", zap.Error(err))
	}
}

// stream writes events as JSON lines until the reader goes away or the
// daemon stops. A reader too slow for the buffer is told how many it lost.
func (s *controlServer) stream(ctx context.Context, c net.Conn, req Request) {
	sub, done := s.hub.subscribe()
	defer done()
	_ = c.SetDeadline(time.Time{})
	// A paused reader (`igmpsnoop events | less`) blocks our writes for as
	// long as it likes: its events are dropped and counted meanwhile (the
	// hub never waits), and it is told how many when it reads again. Only
	// the daemon's end closes the stream, unblocking a pending write.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	// Notice a reader that hangs up: reads fail once it closes.
	gone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, c)
		close(gone)
	}()
	enc := json.NewEncoder(c)
	var lost uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-gone:
			return
		case r := <-sub.ch:
			if req.Bridge != "" && r.Bridge != req.Bridge {
				continue
			}
			if n := sub.dropped.Load(); n > lost {
				_ = enc.Encode(eventRecord{Time: time.Now(), Event: "events_lost", Detail: fmt.Sprintf("%d events lost: reader too slow", n-lost)})
				lost = n
			}
			if err := enc.Encode(r); err != nil {
				return
			}
		}
	}
}

// request sends req to the daemon at socket and returns its reply.
func request(socket string, req Request, timeout time.Duration) (*reply, error) {
	c, err := dial(socket, timeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return nil, fmt.Errorf("send request: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(c, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read reply: %w", err)
	}
	r := &reply{raw: []byte(strings.TrimSpace(string(raw)))}
	if err := json.Unmarshal(r.raw, r); err != nil {
		return nil, fmt.Errorf("decode reply: %w", err)
	}
	if r.Error != "" {
		return nil, fmt.Errorf("daemon: %s", r.Error)
	}
	return r, nil
}

func dial(socket string, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("unix", socket, timeout)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no daemon at %s (is igmpsnoop running? see --socket): %w", socket, err)
		}
		return nil, fmt.Errorf("connect to daemon at %s: %w", socket, err)
	}
	return c, nil
}

// printTable renders a reply for a terminal: aligned columns that fit 80
// characters for IPv4 groups, one block per bridge.
func printTable(w io.Writer, what string, r *reply) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	switch what {
	case "groups":
		printGroups(tw, r.Groups)
	case "routers":
		fmt.Fprintln(tw, "BRIDGE\tPORT\tVLAN\tPROTO\tVIA\tEXPIRES")
		for _, rt := range r.Routers {
			exp := seconds(rt.ExpiresMs)
			if rt.Via == fdb.ViaStatic {
				exp = "never"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", rt.Bridge, rt.Port, rt.VLAN, rt.Protocol, rt.Via, exp)
		}
	case "querier":
		fmt.Fprintln(tw, "BRIDGE\tPROTO\tQUERIER\tPORT\tVER\tSINCE\tEXPIRES\tGMI")
		for _, q := range r.Queriers {
			who, port, ver, since, exp := "none: bridge floods", "-", "-", "-", "-"
			if q.Present {
				who, ver, since, exp = q.Address, fmt.Sprintf("v%d", q.Version), seconds(q.SinceMs), seconds(q.ExpiresMs)
				if q.Self {
					who += " (self)"
					port, exp = "bridge", "-"
				} else {
					port = q.Port
				}
			}
			proto := q.Protocol
			if q.VLAN != 0 {
				proto += fmt.Sprintf("/%d", q.VLAN)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", q.Bridge, proto, who, port, ver, since, exp, seconds(q.MembershipIntervalMs))
		}
		fmt.Fprintln(tw, "\ntimers in force (robustness, query interval, response interval):")
		for _, q := range r.Queriers {
			fmt.Fprintf(tw, "  %s %s\t%d\t%s\t%s\n", q.Bridge, q.Protocol, q.Robustness, seconds(q.QueryIntervalMs), seconds(q.QueryResponseMs))
		}
	case "ports":
		fmt.Fprintln(tw, "BRIDGE\tPORT\tSTATE\tGROUPS\tPOLICY\tRX\tREFUSED\tIGNORED\tDROPS")
		for _, p := range r.Ports {
			state := "down"
			switch {
			case p.Up:
				state = "up"
			case p.STP != "" && p.STP != "disabled":
				state = p.STP // up, but STP keeps it from learning
			}
			groups := fmt.Sprint(p.Groups)
			if p.MaxGroups > 0 {
				groups += fmt.Sprintf("/%d %s", p.MaxGroups, p.LimitAction)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", p.Bridge, p.Port, state, groups, policyText(p),
				p.Received, p.Refused, p.Ignored, p.SocketDropped)
		}
	case "stats":
		for _, s := range r.Stats {
			printStats(tw, s)
		}
	case "config":
		fmt.Fprint(tw, r.Config)
	}
	return tw.Flush()
}

func printGroups(tw io.Writer, gs []snoop.GroupView) {
	vlans := false
	for _, g := range gs {
		vlans = vlans || g.VLAN != 0
	}
	header := "GROUP\tPORT\tSOURCE\tMODE\tVER\tEXPIRES\tREPORTERS"
	if vlans {
		header = "VLAN\t" + header
	}
	bridge := "\x00"
	for _, g := range gs {
		if g.Bridge != bridge {
			if bridge != "\x00" {
				fmt.Fprintln(tw)
			}
			bridge = g.Bridge
			fmt.Fprintf(tw, "bridge %s\n%s\n", bridge, header)
		}
		src := g.Source
		if src == "" {
			src = "*"
			if len(g.Excluded) > 0 {
				src = "* but " + strings.Join(g.Excluded, ",")
			}
		}
		ver := "-"
		if g.Version > 0 {
			ver = fmt.Sprintf("v%d", g.Version)
		}
		if g.Compat != "" && g.Version > 0 && g.Compat != fmt.Sprintf("v%d", g.Version) {
			ver += "(" + g.Compat + ")"
		}
		exp := seconds(g.ExpiresMs)
		switch {
		case g.Static:
			exp = "static"
		case g.Leaving:
			exp += " leaving"
		}
		reps := "-"
		if len(g.Reporters) > 0 {
			reps = g.Reporters[0]
			if len(g.Reporters) > 1 {
				reps += fmt.Sprintf(" +%d", len(g.Reporters)-1)
			}
		}
		row := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s", g.Group, g.Port, src, g.Mode, ver, exp, reps)
		if vlans {
			row = fmt.Sprintf("%d\t%s", g.VLAN, row)
		}
		fmt.Fprintln(tw, row)
		// An EXCLUDE membership's requested sources (its X set), each with
		// its own timer, under the row that excludes Y.
		for _, r := range g.Requested {
			row := fmt.Sprintf("%s	%s	%s	%s	%s	%s	%s", g.Group, g.Port, r.Source+" requested", g.Mode, ver, seconds(r.ExpiresMs), "-")
			if vlans {
				row = fmt.Sprintf("%d	%s", g.VLAN, row)
			}
			fmt.Fprintln(tw, row)
		}
	}
	if len(gs) == 0 {
		fmt.Fprintln(tw, "no groups")
	}
}

// policyText sums up a port's settings in a few words.
func policyText(p snoop.PortView) string {
	var parts []string
	if p.Router != "" {
		parts = append(parts, "router:"+p.Router)
	}
	if !p.Snooping {
		parts = append(parts, "no-snooping")
	} else if p.Flood {
		parts = append(parts, "flood")
	}
	if p.FastLeave {
		parts = append(parts, "fast-leave")
	}
	if p.FloodReports {
		parts = append(parts, "flood-reports")
	}
	if p.Profile != "" {
		parts = append(parts, "profile:"+p.Profile)
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

func printStats(tw io.Writer, s snoop.Stats) {
	fmt.Fprintf(tw, "bridge %s: %d groups, %d memberships\n", s.Bridge, s.Groups, s.Memberships)
	fmt.Fprintf(tw, "  %d reports relayed, %d queries sent, %d MDB writes refused\n", s.Relayed, s.SentQueries, s.InstallFailed)
	fmt.Fprintln(tw, "COUNTER\tNAME\tVALUE")
	for _, sec := range []struct {
		name string
		m    map[string]uint64
	}{{"received", s.Received}, {"refused", s.Refused}, {"ignored", s.Ignored}} {
		for _, k := range sortedKeys(sec.m) {
			if sec.m[k] > 0 || sec.name == "received" {
				fmt.Fprintf(tw, "%s\t%s\t%d\n", sec.name, k, sec.m[k])
			}
		}
	}
	ports := make([]string, 0, len(s.Ports))
	for p := range s.Ports {
		ports = append(ports, p)
	}
	sort.Strings(ports)
	if len(ports) > 0 {
		fmt.Fprintln(tw, "PORT\tRECEIVED\tREFUSED / IGNORED BY REASON")
	}
	for _, p := range ports {
		ps := s.Ports[p]
		var why []string
		for _, k := range sortedKeys(ps.Refused) {
			why = append(why, fmt.Sprintf("%s=%d", k, ps.Refused[k]))
		}
		for _, k := range sortedKeys(ps.Ignored) {
			why = append(why, fmt.Sprintf("%s=%d", k, ps.Ignored[k]))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", p, ps.Received, strings.Join(why, " "))
	}
	fmt.Fprintln(tw)
}

func sortedKeys(m map[string]uint64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func seconds(ms int64) string {
	return fmt.Sprintf("%.1fs", float64(ms)/1000)
}
