// Package config reads igmpsnoop's configuration: the YAML file
// (packaging/igmpsnoop.yaml documents every key) with the command line's
// values laid over it, resolved into the daemon's settings, and the
// configuration in force rendered back in the file's terms for
// `igmpsnoop show config`.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	"go.yaml.in/yaml/v3"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/daemon"
	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// The configuration file (YAML; packaging/igmpsnoop.yaml documents every
// key). Optional values are pointers so that a bridge can inherit from
// `defaults`, and a port from its bridge's `port_defaults`.
type fileConfig struct {
	Socket         string                   `yaml:"socket"`
	LogLevel       string                   `yaml:"log_level"`
	LogFormat      string                   `yaml:"log_format"`
	MetricsAddress string                   `yaml:"metrics_address"`
	Proto          *int                     `yaml:"proto"`
	MDBReplace     *string                  `yaml:"mdb_replace"`
	Defaults       bridgeConfig             `yaml:"defaults"`
	Bridges        []bridgeConfig           `yaml:"bridges"`
	Profiles       map[string]profileConfig `yaml:"profiles"`
	Guard          string                   `yaml:"guard"`
}

type bridgeConfig struct {
	Name                  *located  `yaml:"name"`
	QueryInterval         *duration `yaml:"query_interval"`
	QueryResponseInterval *duration `yaml:"query_response_interval"`
	Robustness            *int      `yaml:"robustness"`
	LastMemberInterval    *duration `yaml:"last_member_interval"`
	LastMemberCount       *int      `yaml:"last_member_count"`
	StartupQueryInterval  *duration `yaml:"startup_query_interval"`
	StartupQueryCount     *int      `yaml:"startup_query_count"`
	MDBRefreshInterval    *duration `yaml:"mdb_refresh_interval"`
	Querier               *bool     `yaml:"querier"`
	QuerierAddress        *address  `yaml:"querier_address"`
	IGMPVersion           *int      `yaml:"igmp_version"`
	MLDVersion            *int      `yaml:"mld_version"`
	AnySource             *bool     `yaml:"any_source"`
	HandoverOnExit        *bool     `yaml:"handover_on_exit"`
	GroupMetrics          *bool     `yaml:"group_metrics"`
	GuardRelay            *bool     `yaml:"guard_relay"`
	MaxGroups             *int      `yaml:"max_groups"`
	MaxSources            *int      `yaml:"max_sources"`
	SSMRanges             *[]prefix `yaml:"ssm_ranges"`
	QuerierPorts          *[]string `yaml:"querier_ports"`
	// NDGuests is nd_guests for every port of the bridge that does not
	// set it itself (nor in port_defaults); NDLifetime is how long what
	// a guest's ND taught lives.
	NDGuests     *bool                  `yaml:"nd_guests"`
	NDLifetime   *duration              `yaml:"nd_lifetime"`
	PortDefaults portConfig             `yaml:"port_defaults"`
	Ports        map[string]*portConfig `yaml:"ports"`
}

type portConfig struct {
	FastLeave       *bool          `yaml:"fast_leave"`
	MaxGroups       *int           `yaml:"max_groups"`
	MaxGroupsAction *located       `yaml:"max_groups_action"`
	Profile         *located       `yaml:"profile"`
	Flood           *bool          `yaml:"flood"`
	FloodReports    *bool          `yaml:"flood_reports"`
	Router          *bool          `yaml:"router"`
	Snooping        *bool          `yaml:"snooping"`
	RefuseQueries   *bool          `yaml:"refuse_queries"`
	NDGuests        *bool          `yaml:"nd_guests"`
	StaticGroups    []staticConfig `yaml:"static_groups"`
}

type staticConfig struct {
	Group   address   `yaml:"group"`
	Sources []address `yaml:"sources"`
	VLAN    uint16    `yaml:"vlan"`
}

type profileConfig struct {
	// Default is what happens to a group no rule matches: permit or deny
	// (default deny, as a profile lists what it permits).
	Default *located     `yaml:"default"`
	Rules   []ruleConfig `yaml:"rules"`
}

type ruleConfig struct {
	Permit  *groupRange `yaml:"permit"`
	Deny    *groupRange `yaml:"deny"`
	Sources []prefix    `yaml:"sources"`
}

// located is a string remembering its line, for errors found after parsing.
type located struct {
	Value string
	Line  int
}

func (l *located) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a single value", n.Line)
	}
	l.Value, l.Line = n.Value, n.Line
	return nil
}

type duration struct{ time.Duration }

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v <= 0 {
		return fmt.Errorf("line %d: %q is not a positive duration (e.g. 125s, 2m, 500ms)", n.Line, n.Value)
	}
	d.Duration = v
	return nil
}

type address struct{ netip.Addr }

func (a *address) UnmarshalYAML(n *yaml.Node) error {
	v, err := netip.ParseAddr(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not an IP address", n.Line, n.Value)
	}
	a.Addr = v
	return nil
}

type prefix struct{ netip.Prefix }

func (p *prefix) UnmarshalYAML(n *yaml.Node) error {
	v, err := daemon.ParsePrefixOrAddr(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not an address or prefix", n.Line, n.Value)
	}
	p.Prefix = v
	return nil
}

// groupRange is a group, a prefix of groups, or "first-last".
type groupRange struct {
	First, Last netip.Addr
	Text        string
}

func (g *groupRange) UnmarshalYAML(n *yaml.Node) error {
	bad := fmt.Errorf("line %d: %q is not a multicast group, prefix or range (first-last)", n.Line, n.Value)
	g.Text = n.Value
	if first, last, ok := strings.Cut(n.Value, "-"); ok {
		a, err1 := netip.ParseAddr(strings.TrimSpace(first))
		b, err2 := netip.ParseAddr(strings.TrimSpace(last))
		if err1 != nil || err2 != nil || a.BitLen() != b.BitLen() || b.Less(a) || !a.IsMulticast() || !b.IsMulticast() {
			return bad
		}
		g.First, g.Last = a, b
		return nil
	}
	p, err := daemon.ParsePrefixOrAddr(n.Value)
	if err != nil || !p.Addr().IsMulticast() {
		return bad
	}
	g.First, g.Last = p.Addr(), lastAddr(p)
	return nil
}

// lastAddr is the highest address of a prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// parseConfig reads a configuration file, refusing unknown keys and bad
// values with the line they are on.
func parseConfig(r io.Reader) (*fileConfig, error) {
	var f fileConfig
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty")
		}
		return nil, cleanYAMLError(err)
	}
	return &f, nil
}

// cleanYAMLError drops the library's "yaml: unmarshal errors:" preamble so
// each problem reads as "line N: ...".
func cleanYAMLError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return errors.New(strings.Join(te.Errors, "; "))
	}
	return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
}

// resolve turns a parsed file into settings, applying defaults and
// checking everything the engine would refuse, with lines where known.
func (f *fileConfig) resolve() (*daemon.Settings, error) {
	s := &daemon.Settings{Socket: f.Socket, LogLevel: f.LogLevel, LogFormat: f.LogFormat, MetricsAddress: f.MetricsAddress, Proto: bridge.DefaultProto}
	if s.Socket == "" {
		s.Socket = DefaultSocket
	}
	if s.LogLevel == "" {
		s.LogLevel = "info"
	}
	if s.LogFormat == "" {
		s.LogFormat = "console"
	}
	guard, err := bridge.ParseGuardMode(f.Guard)
	if err != nil {
		return nil, err
	}
	s.Guard = guard
	if f.Proto != nil {
		if *f.Proto < 4 || *f.Proto > 255 {
			return nil, fmt.Errorf("proto %d: must be 4..255 (the kernel reserves 0..3)", *f.Proto)
		}
		s.Proto = uint8(*f.Proto)
	}
	if f.MDBReplace != nil {
		m, err := daemon.ParseMDBReplace(*f.MDBReplace)
		if err != nil {
			return nil, fmt.Errorf("mdb_replace %q (--mdb-replace): %w", *f.MDBReplace, err)
		}
		s.MDBReplace = m
	}
	profiles, err := f.profiles()
	if err != nil {
		return nil, err
	}
	if len(f.Bridges) == 0 {
		return nil, errors.New("no bridges: list at least one under `bridges:` (or give --bridge)")
	}
	seen := map[string]int{}
	for i := range f.Bridges {
		b := &f.Bridges[i]
		if b.Name == nil || b.Name.Value == "" {
			return nil, fmt.Errorf("bridge %d has no name", i+1)
		}
		if line, dup := seen[b.Name.Value]; dup {
			return nil, fmt.Errorf("line %d: bridge %s is already configured at line %d", b.Name.Line, b.Name.Value, line)
		}
		seen[b.Name.Value] = b.Name.Line
		bs, err := resolveBridge(&f.Defaults, b, profiles)
		if err != nil {
			if b.Name.Line == 0 { // given with --bridge, not in a file
				return nil, fmt.Errorf("bridge %s: %w", b.Name.Value, err)
			}
			return nil, fmt.Errorf("line %d: bridge %s: %w", b.Name.Line, b.Name.Value, err)
		}
		s.Bridges = append(s.Bridges, bs)
	}
	if err := checkLog(s.LogLevel, s.LogFormat); err != nil {
		return nil, err
	}
	s.Text = effective(s)
	return s, nil
}

func (f *fileConfig) profiles() (map[string]*snoop.Profile, error) {
	out := make(map[string]*snoop.Profile, len(f.Profiles))
	for name, pc := range f.Profiles {
		p := &snoop.Profile{Name: name}
		if pc.Default != nil {
			switch pc.Default.Value {
			case "permit":
				p.DefaultPermit = true
			case "deny":
			default:
				return nil, fmt.Errorf("line %d: profile %s: default %q: must be permit or deny", pc.Default.Line, name, pc.Default.Value)
			}
		}
		for i, rc := range pc.Rules {
			var r snoop.Rule
			switch {
			case rc.Permit != nil && rc.Deny == nil:
				r = snoop.Rule{Permit: true, First: rc.Permit.First, Last: rc.Permit.Last}
			case rc.Deny != nil && rc.Permit == nil:
				r = snoop.Rule{First: rc.Deny.First, Last: rc.Deny.Last}
			default:
				return nil, fmt.Errorf("profile %s rule %d: give exactly one of permit or deny", name, i+1)
			}
			for _, sp := range rc.Sources {
				if sp.Addr().BitLen() != r.First.BitLen() {
					return nil, fmt.Errorf("profile %s rule %d: source %v is not of the groups' address family", name, i+1, sp)
				}
				r.Sources = append(r.Sources, sp.Prefix)
			}
			p.Rules = append(p.Rules, r)
		}
		if err := p.Validate(); err != nil {
			return nil, err
		}
		out[name] = p
	}
	return out, nil
}

// pick returns the first non-nil of the pointers' values, or def.
func pick[T any](def T, ps ...*T) T {
	for _, p := range ps {
		if p != nil {
			return *p
		}
	}
	return def
}

func pickDuration(def time.Duration, ps ...*duration) time.Duration {
	for _, p := range ps {
		if p != nil {
			return p.Duration
		}
	}
	return def
}

func resolveBridge(d, b *bridgeConfig, profiles map[string]*snoop.Profile) (daemon.BridgeSettings, error) {
	c := snoop.DefaultConfig()
	c.Bridge = b.Name.Value
	c.QueryInterval = pickDuration(c.QueryInterval, b.QueryInterval, d.QueryInterval)
	c.QueryResponseInterval = pickDuration(c.QueryResponseInterval, b.QueryResponseInterval, d.QueryResponseInterval)
	c.Robustness = pick(c.Robustness, b.Robustness, d.Robustness)
	c.LastMemberQueryInterval = pickDuration(c.LastMemberQueryInterval, b.LastMemberInterval, d.LastMemberInterval)
	c.LastMemberQueryCount = pick(c.Robustness, b.LastMemberCount, d.LastMemberCount)
	derivedErr := derived(&c, b, d)
	c.StartupQueryInterval = pickDuration(0, b.StartupQueryInterval, d.StartupQueryInterval)
	c.StartupQueryCount = pick(0, b.StartupQueryCount, d.StartupQueryCount)
	c.MDBRefreshInterval = pickDuration(c.QueryResponseInterval, b.MDBRefreshInterval, d.MDBRefreshInterval)
	c.Querier = pick(false, b.Querier, d.Querier)
	if qa := pick(address{}, b.QuerierAddress, d.QuerierAddress); qa.IsValid() {
		if err := QuerierAddress(qa.Addr); err != nil {
			return daemon.BridgeSettings{}, fmt.Errorf("querier_address %v (--querier-address): %w", qa.Addr, err)
		}
		c.QuerierAddr4 = qa.Addr
	}
	c.IGMPVersion = pick(c.IGMPVersion, b.IGMPVersion, d.IGMPVersion)
	c.MLDVersion = pick(c.MLDVersion, b.MLDVersion, d.MLDVersion)
	c.MaxSources = pick(c.MaxSources, b.MaxSources, d.MaxSources)
	if err := Limit(c.MaxSources, MinMaxSources); err != nil {
		return daemon.BridgeSettings{}, fmt.Errorf("max_sources %d (--max-sources): %w", c.MaxSources, err)
	}
	if r := pick(nil, b.SSMRanges, d.SSMRanges); r != nil {
		c.SSMRanges = make([]netip.Prefix, 0, len(r))
		for _, p := range r {
			c.SSMRanges = append(c.SSMRanges, p.Prefix)
		}
	}
	c.QuerierPorts = pick(nil, b.QuerierPorts, d.QuerierPorts)
	c.NDLifetime = pickDuration(0, b.NDLifetime, d.NDLifetime)
	// nd_guests set on a bridge (or under defaults) is the fallback of
	// its ports, after the port_defaults of the same level.
	bridgeND, defaultsND := &portConfig{NDGuests: b.NDGuests}, &portConfig{NDGuests: d.NDGuests}
	bs := daemon.BridgeSettings{Name: b.Name.Value, AnySource: pick(false, b.AnySource, d.AnySource), Handover: pick(false, b.HandoverOnExit, d.HandoverOnExit)}
	bs.GroupMetrics = pick(false, b.GroupMetrics, d.GroupMetrics)
	bs.GuardRelay = pick(true, b.GuardRelay, d.GuardRelay)
	mg := b.MaxGroups
	if mg == nil {
		mg = d.MaxGroups
	}
	if mg != nil {
		if err := Limit(*mg, MinMaxGroups); err != nil {
			return bs, fmt.Errorf("max_groups %d (--max-groups): %w", *mg, err)
		}
		c.Limits.MaxKeys, bs.MaxGroupsSet = *mg, true
	}
	var err error
	if c.PortDefault, err = resolvePort(c.Bridge+" port_defaults", profiles, &b.PortDefaults, bridgeND, &d.PortDefaults, defaultsND); err != nil {
		return bs, err
	}
	c.Ports = make(map[string]snoop.PortPolicy, len(b.Ports))
	for name, pc := range b.Ports {
		if pc == nil {
			pc = &portConfig{}
		}
		if c.Ports[name], err = resolvePort("port "+name, profiles, pc, &b.PortDefaults, bridgeND, &d.PortDefaults, defaultsND); err != nil {
			return bs, err
		}
	}
	if err := errors.Join(derivedErr, c.Validate()); err != nil {
		return bs, err
	}
	bs.Engine = c
	return bs, nil
}

// resolvePort resolves a port's policy: each setting from the first of
// layers (port, bridge defaults, global defaults) that has it.
func resolvePort(what string, profiles map[string]*snoop.Profile, layers ...*portConfig) (snoop.PortPolicy, error) {
	var p snoop.PortPolicy
	get := func(f func(*portConfig) *bool) bool {
		for _, l := range layers {
			if v := f(l); v != nil {
				return *v
			}
		}
		return false
	}
	p.FastLeave = get(func(l *portConfig) *bool { return l.FastLeave })
	p.Flood = get(func(l *portConfig) *bool { return l.Flood })
	p.FloodReports = get(func(l *portConfig) *bool { return l.FloodReports })
	p.Router = get(func(l *portConfig) *bool { return l.Router })
	p.RefuseQueries = get(func(l *portConfig) *bool { return l.RefuseQueries })
	p.NDGuests = get(func(l *portConfig) *bool { return l.NDGuests })
	snooping := true
	for _, l := range layers {
		if l.Snooping != nil {
			snooping = *l.Snooping
			break
		}
	}
	p.NoSnooping = !snooping
	for _, l := range layers {
		if l.MaxGroups != nil {
			if err := Limit(*l.MaxGroups, MinMaxGroupsPerPort); err != nil {
				return p, fmt.Errorf("%s: max_groups %d (--max-groups-per-port): %w", what, *l.MaxGroups, err)
			}
			p.MaxGroups = *l.MaxGroups
			break
		}
	}
	for _, l := range layers {
		if a := l.MaxGroupsAction; a != nil {
			switch a.Value {
			case "deny":
			case "replace":
				p.ReplaceOldest = true
			default:
				return p, fmt.Errorf("line %d: %s: max_groups_action %q: must be deny or replace", a.Line, what, a.Value)
			}
			break
		}
	}
	for _, l := range layers {
		if pr := l.Profile; pr != nil {
			prof, ok := profiles[pr.Value]
			if !ok {
				return p, fmt.Errorf("line %d: %s: profile %q is not defined under profiles", pr.Line, what, pr.Value)
			}
			p.Profile = prof
			break
		}
	}
	// Static groups belong to the port that lists them, never inherited.
	for _, sg := range layers[0].StaticGroups {
		g := snoop.StaticGroup{Group: sg.Group.Addr, VLAN: sg.VLAN}
		for _, s := range sg.Sources {
			g.Sources = append(g.Sources, s.Addr)
		}
		p.StaticGroups = append(p.StaticGroups, g)
	}
	return p, nil
}

// DefaultSocket is where the daemon listens for control requests.
const DefaultSocket = "/run/igmpsnoop/igmpsnoop.sock"

// Load reads the configuration file at path (none if path is empty), lays
// the command line's values over it and resolves the result. Errors name
// the file and, where they can, the line.
func Load(path string, o Overrides) (*daemon.Settings, error) {
	f := &fileConfig{}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if f, err = parseConfig(bytes.NewReader(data)); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	o.apply(f)
	s, err := f.resolve()
	if err != nil && path != "" {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return s, err
}

// checkLog refuses a log level or format the logger would.
func checkLog(level, format string) error {
	if _, err := zapcore.ParseLevel(level); err != nil {
		return fmt.Errorf("log_level: %w", err)
	}
	if format != "console" && format != "json" {
		return fmt.Errorf("log_format %q: must be console or json", format)
	}
	return nil
}

// effective renders resolved settings as YAML in the configuration file's
// own terms, for `show config`.
func effective(s *daemon.Settings) string {
	type port struct {
		FastLeave       bool     `yaml:"fast_leave"`
		MaxGroups       int      `yaml:"max_groups"`
		MaxGroupsAction string   `yaml:"max_groups_action"`
		Profile         string   `yaml:"profile,omitempty"`
		Flood           bool     `yaml:"flood"`
		FloodReports    bool     `yaml:"flood_reports"`
		Router          bool     `yaml:"router"`
		Snooping        bool     `yaml:"snooping"`
		RefuseQueries   bool     `yaml:"refuse_queries"`
		NDGuests        bool     `yaml:"nd_guests"`
		StaticGroups    []string `yaml:"static_groups,omitempty"`
	}
	toPort := func(p snoop.PortPolicy) port {
		o := port{FastLeave: p.FastLeave, MaxGroups: p.MaxGroups, MaxGroupsAction: "deny", Flood: p.Flood,
			FloodReports: p.FloodReports, Router: p.Router, Snooping: !p.NoSnooping, RefuseQueries: p.RefuseQueries,
			NDGuests: p.NDGuests}
		if p.ReplaceOldest {
			o.MaxGroupsAction = "replace"
		}
		if p.Profile != nil {
			o.Profile = p.Profile.Name
		}
		for _, g := range p.StaticGroups {
			txt := g.Group.String()
			if len(g.Sources) > 0 {
				txt += fmt.Sprintf(" sources %v", g.Sources)
			}
			o.StaticGroups = append(o.StaticGroups, txt)
		}
		return o
	}
	type bridge struct {
		Name                  string          `yaml:"name"`
		QueryInterval         string          `yaml:"query_interval"`
		QueryResponseInterval string          `yaml:"query_response_interval"`
		Robustness            int             `yaml:"robustness"`
		LastMemberInterval    string          `yaml:"last_member_interval"`
		LastMemberCount       int             `yaml:"last_member_count"`
		MDBRefreshInterval    string          `yaml:"mdb_refresh_interval"`
		Querier               bool            `yaml:"querier"`
		QuerierAddress        string          `yaml:"querier_address,omitempty"`
		IGMPVersion           int             `yaml:"igmp_version"`
		MLDVersion            int             `yaml:"mld_version"`
		AnySource             bool            `yaml:"any_source"`
		HandoverOnExit        bool            `yaml:"handover_on_exit"`
		GroupMetrics          bool            `yaml:"group_metrics"`
		GuardRelay            bool            `yaml:"guard_relay"`
		MaxGroups             string          `yaml:"max_groups"`
		MaxSources            int             `yaml:"max_sources"`
		SSMRanges             []string        `yaml:"ssm_ranges"`
		QuerierPorts          []string        `yaml:"querier_ports,omitempty"`
		NDLifetime            string          `yaml:"nd_lifetime"`
		PortDefaults          port            `yaml:"port_defaults"`
		Ports                 map[string]port `yaml:"ports,omitempty"`
	}
	out := struct {
		Socket         string   `yaml:"socket"`
		LogLevel       string   `yaml:"log_level"`
		LogFormat      string   `yaml:"log_format"`
		MetricsAddress string   `yaml:"metrics_address"`
		Proto          uint8    `yaml:"proto"`
		MDBReplace     string   `yaml:"mdb_replace"`
		Guard          string   `yaml:"guard"`
		Bridges        []bridge `yaml:"bridges"`
	}{Socket: s.Socket, LogLevel: s.LogLevel, LogFormat: s.LogFormat, MetricsAddress: s.MetricsAddress, Proto: s.Proto, MDBReplace: s.MDBReplace.String(), Guard: string(s.Guard)}
	for _, b := range s.Bridges {
		c := b.Engine
		ob := bridge{
			Name: b.Name, QueryInterval: c.QueryInterval.String(), QueryResponseInterval: c.QueryResponseInterval.String(),
			Robustness: c.Robustness, LastMemberInterval: c.LastMemberQueryInterval.String(), LastMemberCount: c.LastMemberQueryCount,
			MDBRefreshInterval: c.MDBRefreshInterval.String(), Querier: c.Querier, IGMPVersion: c.IGMPVersion, MLDVersion: c.MLDVersion,
			AnySource: b.AnySource, HandoverOnExit: b.Handover, GroupMetrics: b.GroupMetrics, GuardRelay: b.GuardRelay, MaxGroups: "3/4 of mcast_hash_max", MaxSources: c.MaxSources, PortDefaults: toPort(c.PortDefault),
		}
		if c.QuerierAddr4.IsValid() {
			ob.QuerierAddress = c.QuerierAddr4.String()
		}
		ob.SSMRanges = []string{} // none is shown as [], not left out
		for _, p := range c.SSMRanges {
			ob.SSMRanges = append(ob.SSMRanges, p.String())
		}
		ob.QuerierPorts = c.QuerierPorts
		ob.NDLifetime = snoop.DefaultNDLifetime.String()
		if c.NDLifetime > 0 {
			ob.NDLifetime = c.NDLifetime.String()
		}
		if b.MaxGroupsSet {
			ob.MaxGroups = fmt.Sprint(c.Limits.MaxKeys)
		}
		names := make([]string, 0, len(c.Ports))
		for n := range c.Ports {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) > 0 {
			ob.Ports = map[string]port{}
		}
		for _, n := range names {
			ob.Ports[n] = toPort(c.Ports[n])
		}
		out.Bridges = append(out.Bridges, ob)
	}
	b, err := yaml.Marshal(out)
	if err != nil {
		return "# cannot render: " + err.Error()
	}
	return string(b)
}
