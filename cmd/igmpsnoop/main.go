package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// DefaultSocket is where the daemon listens for `show` requests.
const DefaultSocket = "/run/igmpsnoop/igmpsnoop.sock"

// version and commit are set at build time with -ldflags "-X main.version=...".
var (
	version = "dev"
	commit  = "unknown"
)

const usage = `usage: igmpsnoop <command> [flags]

commands:
  run           snoop IGMP and MLD on bridges and program their MDB (needs root)
  show groups   print the memberships a running daemon has learned
  show ports    print each port's state, settings, group count and counters
  show routers  print the router ports
  show querier  print the querier of each protocol and its timers
  show stats    print message, refusal and ignore counters, per port too
  show config   print the configuration in force
  events        stream joins, leaves, expiries, limits, router and querier changes
  reload        re-read the configuration file (as SIGHUP does)
  check         compare the kernel's MDB with what the daemon learned, and repair
  lab           demo: build a namespaced lab, run the daemon in it and show
                hosts joining and leaving, packet by packet (needs root)
  replay FILE   replay a capture (pcap/pcapng) through the engine, offline
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
	case "reload":
		err = cmdReload(args[1:], stdout, stderr)
	case "check":
		err = cmdCheck(args[1:], stdout, stderr)
	case "events":
		err = cmdEvents(args[1:], stdout, stderr)
	case "lab":
		err = cmdLab(args[1:], stdout, stderr)
	case "replay":
		err = cmdReplay(args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, versionString())
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
	flags, err := parseRun(args, stderr)
	if err != nil {
		return err
	}
	_, set, err := flags.settings()
	if err != nil {
		return err
	}
	log, err := newLogger(set.LogLevel, set.LogFormat)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // nothing to do about a failed flush at exit
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	names := make([]string, 0, len(set.Bridges))
	for _, b := range set.Bridges {
		names = append(names, b.Name)
	}
	log.Info("starting", zap.String("version", versionString()), zap.Strings("bridges", names), zap.String("config", flags.config))
	return runDaemon(ctx, log, flags, set)
}

// showObjects are what `show` can print.
var showObjects = []string{"groups", "ports", "routers", "querier", "stats", "config"}

func cmdShow(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usageError{fmt.Errorf("show: what? %s", strings.Join(showObjects, ", "))}
	}
	what := args[0]
	if !slices.Contains(showObjects, what) {
		return usageError{fmt.Errorf("show: unknown object %q (%s)", what, strings.Join(showObjects, ", "))}
	}
	fs := flag.NewFlagSet("show "+what, flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", DefaultSocket, "control socket of the daemon")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the daemon")
	req := Request{Command: what}
	fs.StringVar(&req.Bridge, "bridge", "", "only this bridge")
	if what == "groups" {
		fs.StringVar(&req.Port, "port", "", "only this port")
		fs.StringVar(&req.Group, "group", "", "only this group, or the groups in this prefix (e.g. 239.1.0.0/16)")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if req.Group != "" {
		if _, err := parsePrefixOrAddr(req.Group); err != nil {
			return usageError{fmt.Errorf("show groups: --group %q: not an address or prefix", req.Group)}
		}
	}
	resp, err := request(*socket, req, *timeout)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := stdout.Write(append(resp.raw, '\n'))
		return err
	}
	return printTable(stdout, what, resp)
}

// cmdReload asks the daemon to re-read its configuration file.
func cmdReload(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", DefaultSocket, "control socket of the daemon")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := request(*socket, Request{Command: "reload"}, 30*time.Second); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "reloaded")
	return nil
}

// cmdCheck runs the MDB consistency check now and prints what it found.
func cmdCheck(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", DefaultSocket, "control socket of the daemon")
	asJSON := fs.Bool("json", false, "print JSON")
	req := Request{Command: "check"}
	fs.StringVar(&req.Bridge, "bridge", "", "only this bridge")
	if err := fs.Parse(args); err != nil {
		return err
	}
	r, err := request(*socket, req, 30*time.Second)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := stdout.Write(append(r.raw, '\n'))
		return err
	}
	bad := false
	for _, c := range r.Checks {
		state := "consistent"
		if !c.Consistent() {
			state, bad = "DIFFERED", true
		}
		fmt.Fprintf(stdout, "%s: %d entries, %d missing, %d extra, %d different, %d kernel-learned, %d repaired\n",
			state, c.Entries, c.Missing, c.Extra, c.Different, c.Kernel, c.Repaired)
		if c.Error != "" {
			fmt.Fprintf(stdout, "  error: %s\n", c.Error)
		}
	}
	if bad {
		return errors.New("the MDB differed from the table (now repaired)")
	}
	return nil
}

// cmdEvents streams the daemon's events until interrupted.
func cmdEvents(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", DefaultSocket, "control socket of the daemon")
	asJSON := fs.Bool("json", false, "print one JSON object per event")
	req := Request{Command: "events"}
	fs.StringVar(&req.Bridge, "bridge", "", "only this bridge")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := dial(*socket, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		c.Close()
	}()
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return fmt.Errorf("send request: %w", err)
	}
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		if *asJSON {
			fmt.Fprintln(stdout, sc.Text())
			continue
		}
		var r eventRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("daemon sent %q: %w", sc.Text(), err)
		}
		fmt.Fprintln(stdout, r.text())
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	return errors.New("events: the daemon closed the stream")
}
