package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/igmpsnoop/igmpsnoop/config"
	"github.com/igmpsnoop/igmpsnoop/daemon"
)

// client talks to a running daemon over its control socket: a request on
// one line, a Reply (or, for events, EventRecords) a line each.
type client struct {
	socket  string
	timeout time.Duration
	json    bool // print the daemon's JSON as it is
}

// newClient adds --socket to fs, and --json unless jsonHelp is empty;
// timeout is how long to wait for the daemon.
func newClient(fs *pflag.FlagSet, timeout time.Duration, jsonHelp string) *client {
	c := &client{timeout: timeout}
	fs.StringVar(&c.socket, "socket", config.DefaultSocket, "the daemon's control socket `PATH`")
	if jsonHelp != "" {
		fs.BoolVar(&c.json, "json", false, jsonHelp)
	}
	return c
}

// dial connects and sends req.
func (c *client) dial(req daemon.Request) (net.Conn, error) {
	line, err := daemon.EncodeRequest(req)
	if err != nil {
		return nil, err
	}
	conn, err := net.DialTimeout("unix", c.socket, c.timeout)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no daemon at %s (is igmpsnoop running? see --socket): %w", c.socket, err)
		}
		return nil, fmt.Errorf("connect to daemon at %s: %w", c.socket, err)
	}
	if _, err := conn.Write(append(line, '\n')); err != nil {
		conn.Close()
		return nil, fmt.Errorf("send %s request: %w", req.Verb(), err)
	}
	return conn, nil
}

// ask sends req and returns the daemon's reply, decoded and as received.
func (c *client) ask(req daemon.Request) (*daemon.Reply, []byte, error) {
	conn, err := c.dial(req)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(c.timeout))
	raw, err := bufio.NewReader(io.LimitReader(conn, 64<<20)).ReadBytes('\n')
	if err != nil && (!errors.Is(err, io.EOF) || len(raw) == 0) {
		return nil, nil, fmt.Errorf("read reply: %w", err)
	}
	raw = bytes.TrimSpace(raw)
	var r daemon.Reply
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, nil, fmt.Errorf("decode reply: %w", err)
	}
	if r.Error != "" {
		return nil, nil, fmt.Errorf("daemon: %s", r.Error)
	}
	return &r, raw, nil
}

// query sends req and prints the reply: as received with --json, else
// with render.
func (c *client) query(stdout io.Writer, req daemon.Request, render func(io.Writer, *daemon.Reply) error) error {
	r, raw, err := c.ask(req)
	if err != nil {
		return err
	}
	if c.json {
		_, err := stdout.Write(append(raw, '\n'))
		return err
	}
	return render(stdout, r)
}

// reloadCommand asks the daemon to re-read its configuration file.
func reloadCommand(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "reload", Short: "re-read the configuration file (as SIGHUP does)", Args: noArgs}
	c := newClient(cmd.Flags(), 30*time.Second, "")
	cmd.RunE = func(*cobra.Command, []string) error {
		return c.query(stdout, daemon.ReloadRequest{}, func(w io.Writer, _ *daemon.Reply) error {
			_, err := fmt.Fprintln(w, "reloaded")
			return err
		})
	}
	return cmd
}

// checkCommand runs the MDB consistency check now and prints what it found.
func checkCommand(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "check", Short: "compare the kernel's MDB with what the daemon learned, and repair", Args: noArgs}
	c := newClient(cmd.Flags(), 30*time.Second, "print JSON")
	bridge := bridgeFlag(cmd.Flags())
	cmd.RunE = func(*cobra.Command, []string) error {
		return c.query(stdout, daemon.CheckRequest{Bridge: *bridge}, printChecks)
	}
	return cmd
}

// printChecks prints each bridge's check, failing if one differed. Every
// line starts with the bridge's name, so several bridges' results can be
// told apart (and grepped).
func printChecks(w io.Writer, r *daemon.Reply) error {
	bad := false
	for _, ch := range r.Checks {
		state := "consistent"
		if !ch.Consistent() {
			state, bad = "DIFFERED", true
		}
		fmt.Fprintf(w, "%s: %s: %d entries, %d missing, %d extra, %d different, %d kernel-learned, %d repaired\n",
			ch.Bridge, state, ch.Entries, ch.Missing, ch.Extra, ch.Different, ch.Kernel, ch.Repaired)
		if ch.Error != "" {
			fmt.Fprintf(w, "%s: error: %s\n", ch.Bridge, ch.Error)
		}
	}
	if bad {
		return errors.New("the MDB differed from the table (now repaired)")
	}
	return nil
}

// eventsCommand streams the daemon's events until interrupted.
func eventsCommand(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "events", Short: "stream joins, leaves, expiries, limits, router and querier changes", Args: noArgs}
	c := newClient(cmd.Flags(), 5*time.Second, "print one JSON object per event")
	bridge := bridgeFlag(cmd.Flags())
	cmd.RunE = func(*cobra.Command, []string) error {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return c.events(ctx, daemon.EventsRequest{Bridge: *bridge}, stdout)
	}
	return cmd
}

// events prints the stream until ctx ends or the daemon closes it.
func (c *client) events(ctx context.Context, req daemon.EventsRequest, stdout io.Writer) error {
	conn, err := c.dial(req)
	if err != nil {
		return err
	}
	defer conn.Close()
	stopClose := context.AfterFunc(ctx, func() { conn.Close() })
	defer stopClose()
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		// A refused request is answered with a Reply carrying its error.
		var r struct {
			daemon.EventRecord
			Error string `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("daemon sent %q: %w", sc.Text(), err)
		}
		switch {
		case r.Error != "":
			return fmt.Errorf("daemon: %s", r.Error)
		case c.json:
			fmt.Fprintln(stdout, sc.Text())
		default:
			fmt.Fprintln(stdout, r.EventRecord.Text())
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	return errors.New("events: the daemon closed the stream")
}
