package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/config"
	"github.com/igmpsnoop/igmpsnoop/daemon"
	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// runFlags are the flags of `run`. Every flag but --config has a
// configuration file equivalent; given with --config, a flag overrides
// the file's value for every bridge, and --bridge adds bridges to the file's.
type runFlags struct {
	config string
	o      config.Overrides
}

func (r *runFlags) register(fs *pflag.FlagSet) {
	d, o := snoop.DefaultConfig(), &r.o
	fs.StringVar(&r.config, "config", "", "YAML configuration `FILE` (see packaging/igmpsnoop.yaml); flags override it")
	fs.StringArrayVar(&o.Bridges, "bridge", nil, "bridge `NAME` to snoop on (repeatable)")
	fs.Var(opt(&o.Socket, "PATH", config.DefaultSocket, text), "socket", "control socket path (mode 0600)")
	fs.Var(opt(&o.LogLevel, "LEVEL", "info", logLevel), "log-level", "log level: debug, info, warn, error")
	fs.Var(opt(&o.LogFormat, "FORMAT", "console", logFormat), "log-format", "log format: console or json")
	fs.Var(opt(&o.MetricsAddress, "ADDR", "", text), "metrics-address", "serve Prometheus metrics at this address, e.g. 127.0.0.1:9477 (default: off)")
	fs.Var(opt(&o.Proto, "N", strconv.Itoa(bridge.DefaultProto), between(4, 255)), "proto", "rt_protocol number marking our MDB entries (4..255)")
	fs.Var(opt(&o.MDBReplace, "MODE", "auto", mdbReplace), "mdb-replace", "refresh MDB entries with NLM_F_REPLACE and mark them --proto (on; Linux 6.2+), or delete and re-add them unmarked (off); auto probes the kernel")
	fs.Var(opt(&o.Guard, "MODE", string(bridge.GuardAuto), guardMode), "guard", guardHelp)
	durations := []struct {
		dst        **time.Duration
		name, help string
		def        time.Duration
	}{
		{&o.QueryInterval, "query-interval", "query interval (RFC 3376 §8.2)", d.QueryInterval},
		{&o.QueryResponseInterval, "query-response-interval", "query response interval (RFC 3376 §8.3)", d.QueryResponseInterval},
		{&o.LastMemberInterval, "last-member-interval", "last member query interval (RFC 3376 §8.8)", d.LastMemberQueryInterval},
		{&o.MDBRefreshInterval, "mdb-refresh-interval", "least time between rewrites of one MDB entry (default: the query response interval)", 0},
	}
	for _, f := range durations {
		def := ""
		if f.def != 0 {
			def = f.def.String()
		}
		fs.Var(opt(f.dst, "DUR", def, parseDuration), f.name, f.help)
	}
	fs.Var(opt(&o.LastMemberCount, "N", strconv.Itoa(d.LastMemberQueryCount), between(1, 255)), "last-member-count", "last member query count (RFC 3376 §8.9)")
	fs.Var(opt(&o.Robustness, "N", strconv.Itoa(d.Robustness), between(1, 7)), "robustness", "robustness variable (RFC 3376 §8.1)")
	fs.Var(opt(&o.MaxGroups, "N", "", limit(config.MinMaxGroups)), "max-groups", "most groups per bridge (default: 3/4 of the bridge's mcast_hash_max)")
	fs.Var(opt(&o.MaxGroupsPerPort, "N", "", limit(config.MinMaxGroupsPerPort)), "max-groups-per-port", "most groups per port (default: no limit)")
	fs.Var(opt(&o.MaxSources, "N", strconv.Itoa(d.MaxSources), limit(config.MinMaxSources)), "max-sources", "most sources per group and port; beyond it the port gets every source")
	fs.StringArrayVar(&o.FastLeave, "fast-leave", nil, "`PORT` whose leaves take effect at once when no other tracked host wants the group (repeatable)")
	fs.StringArrayVar(&o.StaticRouters, "static-router", nil, "`PORT` that is always a router port: gets all multicast and all reports (repeatable)")
	fs.StringArrayVar(&o.Flood, "flood", nil, "`PORT` that gets all multicast, but no reports (repeatable; RFC 4541 D3)")
	fs.StringArrayVar(&o.NDGuests, "nd-guest", nil, "`PORT` whose guests never send MLD: their addresses are learned from their neighbour discovery and their solicited-node groups kept (repeatable)")
	boolFlag(fs, &o.Querier, "querier", "query when no querier with a lower address is present")
	fs.Var(opt(&o.QuerierAddress, "ADDR", "", querierAddress), "querier-address", "IPv4 source of our IGMP queries (default: the bridge's address, else 0.0.0.0)")
	fs.Var(opt(&o.IGMPVersion, "N", strconv.Itoa(d.IGMPVersion), number), "igmp-version", "IGMP version of our queries (2 or 3)")
	fs.Var(opt(&o.MLDVersion, "N", strconv.Itoa(d.MLDVersion), number), "mld-version", "MLD version of our queries (1 or 2)")
	fs.Var(list(&o.SSMRanges, "PREFIX", multicastPrefix), "ssm-range", "source-specific multicast range, e.g. 232.0.0.0/8 (repeatable; replaces the defaults 232.0.0.0/8 and ff3x::/96): only INCLUDE joins count there (RFC 4604)")
	fs.Var(list(&o.QuerierPorts, "PORT", text), "querier-port", "port whose queries are believed (repeatable; default every port not refusing queries): the others refuse queries, PIM hellos and MRD")
	boolFlag(fs, &o.AnySource, "any-source", "install any-source entries only, ignoring IGMPv3/MLDv2 source lists")
	fs.Var(opt(&o.GuardRelay, "bool", "true", strconv.ParseBool), "guard-relay", "the ports' guards relay joins (IGMP and MLD reports that only join) to the router ports themselves, in the kernel; false: the daemon relays every report")
	fs.Lookup("guard-relay").NoOptDefVal = "true"
	boolFlag(fs, &o.GroupMetrics, "group-metrics", "export igmpsnoop_group_members and igmpsnoop_group_hosts: a series per group and bridge, as many as the group limit (--max-groups) allows")
	boolFlag(fs, &o.Handover, "handover", "at exit, leave our MDB entries to the kernel's snooping instead of removing them (no gap in forwarding; a restart adopts them)")
}

// settings loads the configuration file (if any) with the flags laid over
// it. Reload calls it again.
func (r *runFlags) settings() (*daemon.Settings, error) {
	if r.config == "" && len(r.o.Bridges) == 0 {
		return nil, errors.New("--bridge or --config is required")
	}
	return config.Load(r.config, r.o)
}

func runCommand(stderr io.Writer) *cobra.Command {
	var r runFlags
	cmd := &cobra.Command{Use: "run", Short: "snoop IGMP and MLD on bridges and program their MDB (needs root)", Args: noArgs}
	r.register(cmd.Flags())
	cmd.RunE = func(*cobra.Command, []string) error {
		set, err := r.settings()
		if err != nil {
			return usageError{fmt.Errorf("run: %w", err)}
		}
		log, err := newLogger(set.LogLevel, set.LogFormat)
		if err != nil {
			return err
		}
		defer log.Sync() //nolint:errcheck // nothing to do about a failed flush at exit
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		var load func() (*daemon.Settings, error)
		if r.config != "" { // without a file, a reload has nothing to re-read
			load = r.settings
		}
		names := make([]string, 0, len(set.Bridges))
		for _, b := range set.Bridges {
			names = append(names, b.Name)
		}
		log.Info("starting", zap.String("version", versionString()), zap.Strings("bridges", names), zap.String("config", r.config))
		return runDaemon(ctx, log, set, load)
	}
	return cmd
}

// newLogger builds the daemon's logger; config.Load has checked the level
// and format.
func newLogger(level, format string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	c := zap.NewProductionConfig()
	if format == "console" {
		c = zap.NewDevelopmentConfig()
		c.Development = false
		c.DisableStacktrace = true
	}
	c.Level = zap.NewAtomicLevelAt(lvl)
	c.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	return c.Build()
}

// optional is a flag that sets *dst only when given, so that otherwise
// the configuration file's value stands. typ is the placeholder help
// shows (DUR, N, ADDR), text the default it shows.
type optional[T any] struct {
	dst       **T
	typ, text string
	parse     func(string) (T, error)
}

func opt[T any](dst **T, typ, def string, parse func(string) (T, error)) *optional[T] {
	return &optional[T]{dst: dst, typ: typ, text: def, parse: parse}
}

func (o *optional[T]) Set(s string) error {
	v, err := o.parse(s)
	if err != nil {
		return err
	}
	*o.dst, o.text = &v, s
	return nil
}

func (o *optional[T]) String() string { return o.text }
func (o *optional[T]) Type() string   { return o.typ }

// list is a repeatable optional flag: each use adds an element.
func list[T any](dst **[]T, typ string, parse func(string) (T, error)) *optional[[]T] {
	return opt(dst, typ, "", func(s string) ([]T, error) {
		v, err := parse(s)
		if err != nil {
			return nil, err
		}
		var prev []T
		if *dst != nil {
			prev = **dst
		}
		return append(prev, v), nil
	})
}

func boolFlag(fs *pflag.FlagSet, dst **bool, name, help string) {
	fs.Var(opt(dst, "bool", "false", strconv.ParseBool), name, help)
	fs.Lookup(name).NoOptDefVal = "true"
}

func text(s string) (string, error) { return s, nil }

func number(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, errors.New("not a whole number")
	}
	return n, nil
}

// between parses a whole number in lo..hi.
func between(lo, hi int) func(string) (int, error) {
	return func(s string) (int, error) {
		n, err := number(s)
		if err == nil && (n < lo || n > hi) {
			err = fmt.Errorf("must be %d..%d", lo, hi)
		}
		return n, err
	}
}

// limit parses a limit, refusing values below min (config.Limit).
func limit(min int) func(string) (int, error) {
	return func(s string) (int, error) {
		n, err := number(s)
		if err == nil {
			err = config.Limit(n, min)
		}
		return n, err
	}
}

// querierAddress parses the source of our IGMP queries: a unicast IPv4
// address.
func querierAddress(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, errors.New("not an IPv4 address")
	}
	return a, config.QuerierAddress(a)
}

func logLevel(s string) (string, error) {
	_, err := zapcore.ParseLevel(s)
	return s, err
}

func mdbReplace(s string) (string, error) {
	_, err := daemon.ParseMDBReplace(s)
	return s, err
}

func logFormat(s string) (string, error) {
	if s != "console" && s != "json" {
		return "", errors.New("must be console or json")
	}
	return s, nil
}

func multicastPrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().IsMulticast() {
		return netip.Prefix{}, errors.New("not a multicast prefix (e.g. 232.0.0.0/8, ff3e::/96)")
	}
	return p.Masked(), nil
}

// parseDuration is time.ParseDuration, telling a number without its unit.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			return 0, fmt.Errorf("needs a unit, e.g. %ss", s)
		}
		return 0, errors.New("not a duration (e.g. 5s, 2m, 500ms)")
	}
	return d, nil
}

// value is a flag read by parse, so that its errors say what is wrong;
// typ is the placeholder help shows.
type value[T comparable] struct {
	dst   *T
	typ   string
	parse func(string) (T, error)
}

func (v value[T]) Set(s string) error {
	x, err := v.parse(s)
	if err != nil {
		return err
	}
	*v.dst = x
	return nil
}

// String is the default help shows: none for the zero value.
func (v value[T]) String() string {
	var zero T
	if *v.dst == zero {
		return ""
	}
	return fmt.Sprint(*v.dst)
}

func (v value[T]) Type() string { return v.typ }

func duration(dst *time.Duration) value[time.Duration] {
	return value[time.Duration]{dst, "DUR", parseDuration}
}

func integer(dst *int) value[int] { return value[int]{dst, "N", number} }
