package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/igmpsnoop/igmpsnoop/bridge"
)

// runFlags are the flags of `run`. Every flag has a configuration file
// equivalent; given with --config, a flag overrides the file's value for
// every bridge, and --bridge adds bridges to the file's.
type runFlags struct {
	fs      *flag.FlagSet
	config  string
	bridges stringList

	socket, logLevel, logFormat, metrics string
	proto                                int

	queryInterval, queryResponse, lmqi, refresh time.Duration
	robustness, lmqc, igmpVersion, mldVersion   int
	maxGroups, maxGroupsPerPort, maxSources     int
	querier, anySource, handover                bool
	querierAddr                                 string

	fastLeave, staticRouters, floodPorts stringList
	ssmRanges, querierPorts              stringList
}

func parseRun(args []string, stderr io.Writer) (*runFlags, error) {
	r := &runFlags{fs: flag.NewFlagSet("run", flag.ContinueOnError)}
	fs := r.fs
	fs.SetOutput(stderr)
	d := defaultEngineConfig()
	fs.StringVar(&r.config, "config", "", "YAML configuration file (see packaging/igmpsnoop.yaml); flags override it")
	fs.Var(&r.bridges, "bridge", "bridge to snoop on (repeatable)")
	fs.StringVar(&r.socket, "socket", DefaultSocket, "control socket path (mode 0600)")
	fs.StringVar(&r.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&r.logFormat, "log-format", "console", "log format: console or json")
	fs.StringVar(&r.metrics, "metrics-address", "", "serve Prometheus metrics at this address, e.g. 127.0.0.1:9477 (default: off)")
	fs.IntVar(&r.proto, "proto", bridge.DefaultProto, "rt_protocol number marking our MDB entries (4..255)")
	fs.DurationVar(&r.queryInterval, "query-interval", d.QueryInterval, "query interval (RFC 3376 §8.2)")
	fs.DurationVar(&r.queryResponse, "query-response-interval", d.QueryResponseInterval, "query response interval (RFC 3376 §8.3)")
	fs.DurationVar(&r.lmqi, "last-member-interval", d.LastMemberQueryInterval, "last member query interval (RFC 3376 §8.8)")
	fs.IntVar(&r.lmqc, "last-member-count", d.LastMemberQueryCount, "last member query count (RFC 3376 §8.9)")
	fs.IntVar(&r.robustness, "robustness", d.Robustness, "robustness variable (RFC 3376 §8.1)")
	fs.DurationVar(&r.refresh, "mdb-refresh-interval", 0, "least time between rewrites of one MDB entry (default: the query response interval)")
	fs.IntVar(&r.maxGroups, "max-groups", 0, "most groups per bridge (default: 3/4 of the bridge's mcast_hash_max)")
	fs.IntVar(&r.maxGroupsPerPort, "max-groups-per-port", 0, "most groups per port (default: no limit)")
	fs.IntVar(&r.maxSources, "max-sources", d.MaxSources, "most sources per group and port; beyond it the port gets every source")
	fs.Var(&r.fastLeave, "fast-leave", "port whose leaves take effect at once when no other tracked host wants the group (repeatable)")
	fs.Var(&r.staticRouters, "static-router", "port that is always a router port: gets all multicast and all reports (repeatable)")
	fs.Var(&r.floodPorts, "flood", "port that gets all multicast, but no reports (repeatable; RFC 4541 D3)")
	fs.BoolVar(&r.querier, "querier", false, "query when no querier with a lower address is present")
	fs.StringVar(&r.querierAddr, "querier-address", "", "IPv4 source of our IGMP queries (default: the bridge's address, else 0.0.0.0)")
	fs.IntVar(&r.igmpVersion, "igmp-version", d.IGMPVersion, "IGMP version of our queries (2 or 3)")
	fs.IntVar(&r.mldVersion, "mld-version", d.MLDVersion, "MLD version of our queries (1 or 2)")
	fs.Var(&r.ssmRanges, "ssm-range", "source-specific multicast range, e.g. 232.0.0.0/8 (repeatable; replaces the defaults 232.0.0.0/8 and ff3x::/96): only INCLUDE joins count there (RFC 4604)")
	fs.Var(&r.querierPorts, "querier-port", "port whose queries are believed (repeatable; default every port not refusing queries): the others refuse queries, PIM hellos and MRD")
	fs.BoolVar(&r.anySource, "any-source", false, "install any-source entries only, ignoring IGMPv3/MLDv2 source lists")
	fs.BoolVar(&r.handover, "handover", false, "at exit, leave our MDB entries to the kernel's snooping instead of removing them (no gap in forwarding; a restart adopts them)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Errorf("run: unexpected argument %q", fs.Arg(0))}
	}
	if r.config == "" && len(r.bridges) == 0 {
		return nil, usageError{errors.New("run: --bridge or --config is required")}
	}
	if _, _, err := r.settings(); err != nil {
		return nil, usageError{fmt.Errorf("run: %w", err)}
	}
	return r, nil
}

// settings loads the configuration file (if any) and lays the flags given
// on the command line over it. Reload calls it again.
func (r *runFlags) settings() (*fileConfig, *settings, error) {
	f := &fileConfig{}
	if r.config != "" {
		var err error
		if f, _, err = loadConfig(r.config); err != nil {
			return nil, nil, err
		}
	}
	set := map[string]bool{}
	r.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	for _, b := range r.bridges {
		if !f.hasBridge(b) {
			f.Bridges = append(f.Bridges, bridgeConfig{Name: &located{Value: b}})
		}
	}
	if set["socket"] || f.Socket == "" {
		f.Socket = r.socket
	}
	if set["log-level"] || f.LogLevel == "" {
		f.LogLevel = r.logLevel
	}
	if set["log-format"] || f.LogFormat == "" {
		f.LogFormat = r.logFormat
	}
	if set["metrics-address"] {
		f.MetricsAddress = r.metrics
	}
	if set["proto"] {
		f.Proto = &r.proto
	}
	var qa *address
	if set["querier-address"] {
		a, err := netip.ParseAddr(r.querierAddr)
		if err != nil || !a.Is4() {
			return nil, nil, fmt.Errorf("--querier-address %q: not an IPv4 address", r.querierAddr)
		}
		qa = &address{a}
	}
	var ssm *[]prefix
	if set["ssm-range"] {
		ps := make([]prefix, 0, len(r.ssmRanges))
		for _, v := range r.ssmRanges {
			p, err := netip.ParsePrefix(v)
			if err != nil || !p.Addr().IsMulticast() {
				return nil, nil, fmt.Errorf("--ssm-range %q: not a multicast prefix (e.g. 232.0.0.0/8, ff3e::/96)", v)
			}
			ps = append(ps, prefix{p.Masked()})
		}
		ssm = &ps
	}
	for i := range f.Bridges {
		b := &f.Bridges[i]
		over := func(name string, apply func()) {
			if set[name] {
				apply()
			}
		}
		over("query-interval", func() { b.QueryInterval = &duration{r.queryInterval} })
		over("query-response-interval", func() { b.QueryResponseInterval = &duration{r.queryResponse} })
		over("last-member-interval", func() { b.LastMemberInterval = &duration{r.lmqi} })
		over("last-member-count", func() { b.LastMemberCount = &r.lmqc })
		over("robustness", func() { b.Robustness = &r.robustness })
		over("mdb-refresh-interval", func() { b.MDBRefreshInterval = &duration{r.refresh} })
		over("max-groups", func() { b.MaxGroups = &r.maxGroups })
		over("max-sources", func() { b.MaxSources = &r.maxSources })
		over("querier", func() { b.Querier = &r.querier })
		over("igmp-version", func() { b.IGMPVersion = &r.igmpVersion })
		over("mld-version", func() { b.MLDVersion = &r.mldVersion })
		over("any-source", func() { b.AnySource = &r.anySource })
		over("handover", func() { b.HandoverOnExit = &r.handover })
		over("max-groups-per-port", func() { b.PortDefaults.MaxGroups = &r.maxGroupsPerPort })
		if qa != nil {
			b.QuerierAddress = qa
		}
		if ssm != nil {
			b.SSMRanges = ssm
		}
		over("querier-port", func() { qp := []string(r.querierPorts); b.QuerierPorts = &qp })
		yes := true
		for _, p := range r.fastLeave {
			b.port(p).FastLeave = &yes
		}
		for _, p := range r.staticRouters {
			b.port(p).Router = &yes
		}
		for _, p := range r.floodPorts {
			b.port(p).Flood = &yes
		}
	}
	s, err := f.resolve()
	if err != nil {
		if r.config != "" {
			err = fmt.Errorf("config %s: %w", r.config, err)
		}
		return nil, nil, err
	}
	return f, s, nil
}

func (f *fileConfig) hasBridge(name string) bool {
	for _, b := range f.Bridges {
		if b.Name != nil && b.Name.Value == name {
			return true
		}
	}
	return false
}

// port returns the bridge's settings for a port, creating them.
func (b *bridgeConfig) port(name string) *portConfig {
	if b.Ports == nil {
		b.Ports = map[string]*portConfig{}
	}
	if b.Ports[name] == nil {
		b.Ports[name] = &portConfig{}
	}
	return b.Ports[name]
}
