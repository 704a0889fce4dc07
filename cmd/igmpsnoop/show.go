package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/igmpsnoop/igmpsnoop/daemon"
	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// showObject is one thing `show` prints: adding one is adding a line to
// showObjects.
type showObject struct {
	name, help string
	// request adds the object's flags to fs and returns what builds the
	// request from them once parsed.
	request func(fs *pflag.FlagSet) func() daemon.Request
	// render prints the reply as a table.
	render func(w io.Writer, r *daemon.Reply)
}

func showObjects() []showObject {
	return []showObject{
		{"groups", "print the memberships a running daemon has learned", groupsRequest, func(w io.Writer, r *daemon.Reply) { printGroups(w, r.Groups) }},
		{"ports", "print each port's state, settings, group count and counters",
			byBridge(func(b string) daemon.Request { return daemon.PortsRequest{Bridge: b} }), printPorts},
		{"routers", "print the router ports",
			byBridge(func(b string) daemon.Request { return daemon.RoutersRequest{Bridge: b} }), printRouters},
		{"querier", "print the querier of each protocol and its timers",
			byBridge(func(b string) daemon.Request { return daemon.QuerierRequest{Bridge: b} }), printQueriers},
		{"stats", "print message, refusal and ignore counters, per port too",
			byBridge(func(b string) daemon.Request { return daemon.StatsRequest{Bridge: b} }), func(w io.Writer, r *daemon.Reply) {
				for _, s := range r.Stats {
					printStats(w, s)
				}
			}},
		{"config", "print the configuration in force", configRequest, printConfig},
	}
}

func bridgeFlag(fs *pflag.FlagSet) *string {
	return fs.String("bridge", "", "only the bridge `NAME`")
}

// byBridge is the request of an object narrowed by --bridge only.
func byBridge(build func(bridge string) daemon.Request) func(*pflag.FlagSet) func() daemon.Request {
	return func(fs *pflag.FlagSet) func() daemon.Request {
		b := bridgeFlag(fs)
		return func() daemon.Request { return build(*b) }
	}
}

func groupsRequest(fs *pflag.FlagSet) func() daemon.Request {
	b := bridgeFlag(fs)
	port := fs.String("port", "", "only this `PORT`")
	var group *string
	fs.Var(opt(&group, "GROUP", "", addrOrPrefix), "group", "only this group, or the groups in this prefix (e.g. 239.1.0.0/16)")
	return func() daemon.Request {
		r := daemon.GroupsRequest{Bridge: *b, Port: *port}
		if group != nil {
			r.Group = *group
		}
		return r
	}
}

func addrOrPrefix(s string) (string, error) {
	if _, err := daemon.ParsePrefixOrAddr(s); err != nil {
		return "", errors.New("not an address or prefix")
	}
	return s, nil
}

func configRequest(fs *pflag.FlagSet) func() daemon.Request {
	// The configuration is the whole daemon's; --bridge is still taken,
	// as before, so that scripts giving it keep working.
	bridgeFlag(fs)
	_ = fs.MarkHidden("bridge")
	return func() daemon.Request { return daemon.ConfigRequest{} }
}

func showCommand(stdout io.Writer) *cobra.Command {
	objects := showObjects()
	names := make([]string, len(objects))
	for i, o := range objects {
		names[i] = o.name
	}
	show := &cobra.Command{
		Use:   "show OBJECT",
		Short: "print what a running daemon knows: " + strings.Join(names, ", "),
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{fmt.Errorf("show: what? %s", strings.Join(names, ", "))}
			}
			return usageError{fmt.Errorf("show: unknown object %q (%s)", args[0], strings.Join(names, ", "))}
		},
	}
	for _, o := range objects {
		cmd := &cobra.Command{Use: o.name, Short: o.help, Args: noArgs}
		c := newClient(cmd.Flags(), 5*time.Second, "print JSON instead of a table")
		cmd.Flags().Var(duration(&c.timeout), "timeout", "how long to wait for the daemon")
		build := o.request(cmd.Flags())
		cmd.RunE = func(*cobra.Command, []string) error {
			return c.query(stdout, build(), func(w io.Writer, r *daemon.Reply) error { return printTable(w, o.name, r) })
		}
		show.AddCommand(cmd)
	}
	return show
}

// reply is the daemon's answer as the tables take it.
type reply = daemon.Reply

// printTable renders a reply for a terminal: aligned columns that fit 80
// characters for IPv4 groups, one block per bridge.
func printTable(w io.Writer, what string, r *reply) error {
	for _, o := range showObjects() {
		if o.name == what {
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			o.render(tw, r)
			return tw.Flush()
		}
	}
	return fmt.Errorf("no table for %q", what)
}

func printRouters(tw io.Writer, r *daemon.Reply) {
	fmt.Fprintln(tw, "BRIDGE\tPORT\tVLAN\tPROTO\tVIA\tEXPIRES")
	for _, rt := range r.Routers {
		exp := seconds(rt.ExpiresMs)
		if rt.Via == fdb.ViaStatic {
			exp = "never"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", rt.Bridge, rt.Port, rt.VLAN, rt.Protocol, rt.Via, exp)
	}
}

func printQueriers(tw io.Writer, r *daemon.Reply) {
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
}

func printPorts(tw io.Writer, r *daemon.Reply) {
	peers := false
	for _, p := range r.Ports {
		peers = peers || p.Peer != nil
	}
	header := "BRIDGE\tPORT\tSTATE\tGROUPS\tPOLICY\tRX\tREFUSED\tIGNORED\tDROPS"
	if peers {
		header += "\tPEER"
	}
	fmt.Fprintln(tw, header)
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d", p.Bridge, p.Port, state, groups, policyText(p),
			p.Received, p.Refused, p.Ignored, p.SocketDropped)
		if peers {
			fmt.Fprint(tw, "\t"+peerCell(p.Peer))
		}
		fmt.Fprintln(tw)
	}
}

func printGroups(tw io.Writer, gs []snoop.GroupView) {
	vlans, peers := false, false
	for _, g := range gs {
		vlans = vlans || g.VLAN != 0
		peers = peers || g.Peer != nil
	}
	// No MODE column (it is in --json), to fit UPTIME in 80 columns: a
	// source row is INCLUDE mode, "*" rows and "requested" rows EXCLUDE.
	header := "GROUP\tPORT\tSOURCE\tVER\tEXPIRES\tUPTIME\tREPORTERS"
	if peers {
		header = strings.Replace(header, "PORT\t", "PORT\tPEER\t", 1)
	}
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
		port := g.Port
		if peers {
			port += "\t" + peerCell(g.Peer)
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
		if g.Via != "" {
			reps += " via " + g.Via
		}
		row := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s", g.Group, port, src, ver, exp, uptime(g.SinceMs), reps)
		if vlans {
			row = fmt.Sprintf("%d\t%s", g.VLAN, row)
		}
		fmt.Fprintln(tw, row)
		// An EXCLUDE membership's requested sources (its X set), each with
		// its own timer, under the row that excludes Y.
		for _, r := range g.Requested {
			row := fmt.Sprintf("%s	%s	%s	%s	%s	%s	%s", g.Group, port, r.Source+" requested", ver, seconds(r.ExpiresMs), uptime(g.SinceMs), "-")
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

// peerCell is a port's peer in a table: "-" when unknown.
func peerCell(p *snoop.PeerView) string {
	if p == nil {
		return "-"
	}
	return p.Short()
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
	if p.McastToUnicast {
		parts = append(parts, "mcast-to-unicast") // the kernel learns there
	}
	if p.Profile != "" {
		parts = append(parts, "profile:"+p.Profile)
	}
	if p.NDGuests {
		parts = append(parts, "nd-guests")
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

func printStats(tw io.Writer, s snoop.Stats) {
	fmt.Fprintf(tw, "bridge %s: %d groups, %d memberships\n", s.Bridge, s.Groups, s.Memberships)
	fmt.Fprintf(tw, "  %d reports relayed by the daemon, %d by the guards (%d then refused)\n", s.Relayed, s.GuardRelayed, s.GuardRelayedRefused)
	fmt.Fprintf(tw, "  %d queries sent, %d MDB writes refused\n", s.SentQueries, s.InstallFailed)
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

// uptime prints a duration in milliseconds in at most 6 characters, in
// its two largest units: 42s, 12m05s, 3h04m, 2d03h.
func uptime(ms int64) string {
	s := ms / 1000
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
}
