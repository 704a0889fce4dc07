package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// DefaultSocket is where the daemon listens for `show` requests.
const DefaultSocket = "/run/igmpsnoop.sock"

// version and commit are set at build time with -ldflags "-X main.version=...".
var (
	version = "dev"
	commit  = "unknown"
)

const usage = `usage: igmpsnoop <command> [flags]

commands:
  run           snoop IGMP on a bridge and program its MDB (needs root)
  show groups   print the memberships a running daemon has learned
  show routers  print the router ports
  show querier  print the querier heard on the LAN
  show stats    print message, refusal and ignore counters
  version       print the version

Run 'igmpsnoop <command> -h' for the flags of a command.
`

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(args[1:], stderr)
	case "show":
		err = cmdShow(args[1:], stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "igmpsnoop %s (commit %s)\n", version, commit)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "igmpsnoop: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "igmpsnoop: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

// usageError marks errors in the command line, which exit with status 2.
type usageError struct{ error }

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// runOptions are the flags of `run`.
type runOptions struct {
	bridge        string
	socket        string
	logLevel      string
	logFormat     string
	proto         uint
	fastLeave     stringList
	staticRouters stringList
	floodPorts    stringList
	querierAddr   string
	anySource     bool
	cfg           snoop.Config
}

func parseRun(args []string, stderr io.Writer) (runOptions, error) {
	o := runOptions{cfg: snoop.DefaultConfig()}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bridge, "bridge", "", "bridge to snoop on (required)")
	fs.StringVar(&o.socket, "socket", DefaultSocket, "control socket path (mode 0600)")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&o.logFormat, "log-format", "console", "log format: console or json")
	fs.UintVar(&o.proto, "proto", 77, "rt_protocol number marking our MDB entries (4..255)")
	fs.DurationVar(&o.cfg.QueryInterval, "query-interval", o.cfg.QueryInterval, "query interval (RFC 3376 §8.2)")
	fs.DurationVar(&o.cfg.QueryResponseInterval, "query-response-interval", o.cfg.QueryResponseInterval, "query response interval (RFC 3376 §8.3)")
	fs.DurationVar(&o.cfg.LastMemberQueryInterval, "last-member-interval", o.cfg.LastMemberQueryInterval, "last member query interval (RFC 3376 §8.8)")
	fs.IntVar(&o.cfg.LastMemberQueryCount, "last-member-count", o.cfg.LastMemberQueryCount, "last member query count (RFC 3376 §8.9)")
	fs.IntVar(&o.cfg.Robustness, "robustness", o.cfg.Robustness, "robustness variable (RFC 3376 §8.1)")
	fs.DurationVar(&o.cfg.MDBRefreshInterval, "mdb-refresh-interval", 0, "least time between rewrites of one MDB entry (default: the query response interval)")
	fs.IntVar(&o.cfg.Limits.MaxKeys, "max-groups", 0, "most groups on the bridge (default: 3/4 of the bridge's mcast_hash_max)")
	fs.IntVar(&o.cfg.Limits.MaxPerPort, "max-groups-per-port", 1024, "most groups per port (0: no limit)")
	fs.Var(&o.fastLeave, "fast-leave", "port whose leaves take effect at once when no other tracked host wants the group (repeatable)")
	fs.Var(&o.staticRouters, "static-router", "port that is always a router port: gets all multicast and all reports (repeatable)")
	fs.Var(&o.floodPorts, "flood", "port that gets all multicast, but no reports (repeatable; RFC 4541 D3)")
	fs.BoolVar(&o.cfg.Querier, "querier", false, "query when no querier with a lower address is present")
	fs.StringVar(&o.querierAddr, "querier-address", "", "IPv4 source of our IGMP queries (default: the bridge's address, else 0.0.0.0)")
	fs.IntVar(&o.cfg.IGMPVersion, "igmp-version", o.cfg.IGMPVersion, "IGMP version of our queries (2 or 3)")
	fs.IntVar(&o.cfg.MLDVersion, "mld-version", o.cfg.MLDVersion, "MLD version of our queries (1 or 2)")
	fs.BoolVar(&o.anySource, "any-source", false, "install any-source entries only, ignoring IGMPv3/MLDv2 source lists")
	fs.IntVar(&o.cfg.MaxSources, "max-sources", o.cfg.MaxSources, "most sources per group and port; beyond it the port gets every source")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, usageError{fmt.Errorf("run: unexpected argument %q", fs.Arg(0))}
	}
	if o.bridge == "" {
		return o, usageError{errors.New("run: --bridge is required")}
	}
	if o.proto < 4 || o.proto > 255 {
		return o, usageError{fmt.Errorf("run: --proto %d: must be 4..255 (the kernel reserves 0..3)", o.proto)}
	}
	if o.cfg.MDBRefreshInterval == 0 {
		o.cfg.MDBRefreshInterval = o.cfg.QueryResponseInterval
	}
	o.cfg.Bridge = o.bridge
	o.cfg.FastLeave = set(o.fastLeave)
	o.cfg.StaticRouters = set(o.staticRouters)
	if o.querierAddr != "" {
		a, err := netip.ParseAddr(o.querierAddr)
		if err != nil || !a.Is4() {
			return o, usageError{fmt.Errorf("run: --querier-address %q: not an IPv4 address", o.querierAddr)}
		}
		o.cfg.QuerierAddr4 = a
	}
	if err := o.cfg.Validate(); err != nil {
		return o, usageError{fmt.Errorf("run: %w", err)}
	}
	return o, nil
}

func set(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func newLogger(level, format string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, usageError{fmt.Errorf("--log-level: %w", err)}
	}
	var c zap.Config
	switch format {
	case "json":
		c = zap.NewProductionConfig()
	case "console":
		c = zap.NewDevelopmentConfig()
		c.Development = false
		c.DisableStacktrace = true
	default:
		return nil, usageError{fmt.Errorf("--log-format %q: must be console or json", format)}
	}
	c.Level = zap.NewAtomicLevelAt(lvl)
	c.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	return c.Build()
}

func cmdRun(args []string, stderr io.Writer) error {
	o, err := parseRun(args, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // nothing to do about a failed flush at exit
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log.Info("starting", zap.String("version", version), zap.String("bridge", o.bridge),
		zap.Duration("group_membership_interval", o.cfg.GroupMembershipInterval()),
		zap.Duration("last_member_query_time", o.cfg.LastMemberQueryTime()))
	return runDaemon(ctx, log, o)
}

func cmdShow(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{errors.New("show: what? groups, routers, querier or stats")}
	}
	what := args[0]
	fs := flag.NewFlagSet("show "+what, flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", DefaultSocket, "control socket of the daemon")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the daemon")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch what {
	case "groups", "routers", "querier", "stats":
	default:
		return usageError{fmt.Errorf("show: unknown object %q (groups, routers, querier, stats)", what)}
	}
	resp, err := request(*socket, Request{Command: what}, *timeout)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := stdout.Write(append(resp.raw, '\n'))
		return err
	}
	return printTable(stdout, what, resp)
}
