package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// Request is one control-socket request: a single JSON line.
type Request struct {
	Command string `json:"command"`
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
	Stats snoop.Stats `json:"stats"`
}
type errorReply struct {
	Error string `json:"error"`
}

// answer builds the reply to req from the engine; it runs on the engine's
// goroutine.
func answer(e *snoop.Engine, now time.Time, req Request) any {
	switch req.Command {
	case "groups":
		return groupsReply{Groups: e.Groups(now)}
	case "routers":
		return routersReply{Routers: e.Routers(now)}
	case "querier":
		return querierReply{Queriers: e.Queriers(now)}
	case "stats":
		return statsReply{Stats: e.Stats()}
	}
	return errorReply{Error: fmt.Sprintf("unknown command %q", req.Command)}
}

// controlServer serves the control socket. ask hands a request to the
// engine's goroutine and waits for the reply.
type controlServer struct {
	ln  net.Listener
	log *zap.Logger
	ask func(context.Context, Request) (any, error)
}

func (s *controlServer) serve(ctx context.Context) {
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
	if err := json.Unmarshal(line, &req); err != nil {
		reply = errorReply{Error: "bad request: " + err.Error()}
	} else if reply, err = s.ask(ctx, req); err != nil {
		reply = errorReply{Error: err.Error()}
	}
	if err := json.NewEncoder(c).Encode(reply); err != nil {
		s.log.Debug("control reply not sent", zap.Error(err))
	}
}

// reply is a decoded control reply; raw is the JSON as received.
type reply struct {
	raw      []byte
	Groups   []snoop.GroupView   `json:"groups"`
	Routers  []snoop.RouterView  `json:"routers"`
	Queriers []snoop.QuerierView `json:"queriers"`
	Stats    *snoop.Stats        `json:"stats"`
	Error    string              `json:"error"`
}

// request sends req to the daemon at socket and returns its reply.
func request(socket string, req Request, timeout time.Duration) (*reply, error) {
	c, err := net.DialTimeout("unix", socket, timeout)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no daemon at %s (is igmpsnoop running? see --socket): %w", socket, err)
		}
		return nil, fmt.Errorf("connect to daemon at %s: %w", socket, err)
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

// printTable renders a reply for a terminal.
func printTable(w io.Writer, what string, r *reply) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	switch what {
	case "groups":
		fmt.Fprintln(tw, "BRIDGE\tVLAN\tGROUP\tPORT\tSOURCE\tMODE\tVER\tEXPIRES\tREPORTERS")
		for _, g := range r.Groups {
			src := g.Source
			if src == "" {
				src = "*"
				if len(g.Excluded) > 0 {
					src = "* except " + strings.Join(g.Excluded, ",")
				}
			}
			ver := "-"
			if g.Version > 0 {
				ver = fmt.Sprintf("v%d", g.Version)
			}
			exp := seconds(g.ExpiresMs)
			if g.Leaving {
				exp += " leaving"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", g.Bridge, g.VLAN, g.Group, g.Port, src, g.Mode, ver, exp, strings.Join(g.Reporters, ","))
		}
	case "routers":
		fmt.Fprintln(tw, "BRIDGE\tPORT\tVLAN\tPROTO\tVIA\tEXPIRES")
		for _, rt := range r.Routers {
			exp := seconds(rt.ExpiresMs)
			if rt.Via == "static" {
				exp = "never"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", rt.Bridge, rt.Port, rt.VLAN, rt.Protocol, rt.Via, exp)
		}
	case "querier":
		fmt.Fprintln(tw, "BRIDGE\tVLAN\tPROTO\tQUERIER\tPORT\tVER\tSINCE\tEXPIRES\tQRV\tQI\tQRI\tGMI")
		for _, q := range r.Queriers {
			who, port, ver, since, exp := "none (bridge floods)", "-", "-", "-", "-"
			if q.Present {
				who, ver, since, exp = q.Address, fmt.Sprintf("v%d", q.Version), seconds(q.SinceMs)+" ago", seconds(q.ExpiresMs)
				if q.Self {
					who += " (self)"
					port, exp = "bridge", "-"
				} else {
					port = q.Port
				}
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", q.Bridge, q.VLAN, q.Protocol, who, port, ver, since, exp,
				q.Robustness, seconds(q.QueryIntervalMs), seconds(q.QueryResponseMs), seconds(q.MembershipIntervalMs))
		}
	case "stats":
		s := r.Stats
		if s == nil {
			return errors.New("daemon sent no stats")
		}
		fmt.Fprintf(tw, "bridge %s: %d groups, %d memberships, %d relayed, %d queries sent, %d MDB writes refused\n", s.Bridge, s.Groups, s.Memberships, s.Relayed, s.SentQueries, s.InstallFailed)
		fmt.Fprintln(tw, "COUNTER\tNAME\tVALUE")
		for _, sec := range []struct {
			name string
			m    map[string]uint64
		}{{"received", s.Received}, {"refused", s.Refused}, {"ignored", s.Ignored}} {
			keys := make([]string, 0, len(sec.m))
			for k := range sec.m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(tw, "%s\t%s\t%d\n", sec.name, k, sec.m[k])
			}
		}
	}
	return tw.Flush()
}

func seconds(ms int64) string {
	return fmt.Sprintf("%.1fs", float64(ms)/1000)
}
