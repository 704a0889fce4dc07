package lab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// Daemon is an igmpsnoop process running on the lab's switch.
type Daemon struct {
	Bin     string
	Socket  string
	cmd     *exec.Cmd
	out     *SyncBuffer
	exited  chan struct{}
	err     error
	killed  bool
	stopped bool
}

// SyncBuffer is a buffer that several goroutines may write at once, as a
// process's stdout and stderr copiers do.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// StartDaemon runs `bin run --bridge <lab bridge> --socket socket args...`
// in the switch namespace and waits until its control socket answers.
func (l *Lab) StartDaemon(bin, socket string, args ...string) (*Daemon, error) {
	return l.StartDaemonWith(DaemonOptions{}, bin, socket, args...)
}

// DaemonOptions are the extras of StartDaemonWith, for the `lab` demo,
// which runs the daemon for a person rather than a test.
type DaemonOptions struct {
	// Output also gets the daemon's log as it is written (Log keeps its
	// copy either way).
	Output io.Writer
	// Detach puts the daemon in a process group of its own, so a Ctrl-C at
	// the terminal reaches only the caller, which then stops the daemon in
	// order (SIGTERM, so it removes its MDB entries); and the daemon gets
	// SIGTERM if the caller dies without doing so.
	Detach bool
}

// StartDaemonWith is StartDaemon with options.
func (l *Lab) StartDaemonWith(o DaemonOptions, bin, socket string, args ...string) (*Daemon, error) {
	full := append([]string{"netns", "exec", l.Switch, bin, "run", "--bridge", l.Bridge, "--socket", socket}, args...)
	d := &Daemon{Bin: bin, Socket: socket, out: &SyncBuffer{}, exited: make(chan struct{})}
	d.cmd = exec.Command("ip", full...)
	var w io.Writer = d.out
	if o.Output != nil {
		w = io.MultiWriter(d.out, o.Output)
	}
	d.cmd.Stdout, d.cmd.Stderr = w, w
	if o.Detach {
		// `ip netns exec` execs the daemon in place, so both settings
		// reach it.
		d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	}
	started := make(chan error, 1)
	go func() {
		if o.Detach {
			// Pdeathsig fires when the thread that started the child ends,
			// not the process: hold this thread until the daemon exits. It
			// is never unlocked, so it ends with this goroutine.
			runtime.LockOSThread()
		}
		if err := d.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		d.err = d.cmd.Wait()
		close(d.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start daemon: %w", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		var v struct{}
		err := d.Show("groups", &v)
		if err == nil {
			return d, nil
		}
		select {
		case <-d.exited:
			return nil, fmt.Errorf("daemon exited at start (%v): %s", d.err, d.out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.Kill()
			return nil, fmt.Errorf("daemon not answering after 15 s (%v): %s", err, d.out.String())
		}
	}
}

// Show asks the daemon's control socket for what ("groups", "routers",
// ...) and decodes the JSON reply into v. It speaks the socket protocol
// directly, because polling through the CLI is slow; ShowCLI goes
// through the binary.
func (d *Daemon) Show(what string, v any) error {
	c, err := net.DialTimeout("unix", d.Socket, 3*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := fmt.Fprintf(c, "{\"command\":%q}\n", what); err != nil {
		return err
	}
	out, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("show %s: %w: %q", what, err, out)
	}
	return nil
}

// ShowCLI runs `bin show args... --socket S` and returns its output.
func (d *Daemon) ShowCLI(args ...string) (string, error) {
	return Run(d.Bin, append(append([]string{"show"}, args...), "--socket", d.Socket)...)
}

// Log returns what the daemon has logged so far.
func (d *Daemon) Log() string { return d.out.String() }

// Stop sends SIGTERM and waits up to 10 s for a clean exit. It returns
// the exit error, or an error if the daemon had died on its own before.
func (d *Daemon) Stop() error {
	select {
	case <-d.exited:
		if d.killed || d.stopped {
			return nil
		}
		return fmt.Errorf("daemon had exited on its own: %v", d.err)
	default:
	}
	d.stopped = true
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		return d.err
	case <-time.After(10 * time.Second):
		d.Kill()
		return fmt.Errorf("daemon did not stop within 10 s of SIGTERM")
	}
}

// Signal sends sig to the daemon.
func (d *Daemon) Signal(sig os.Signal) error { return d.cmd.Process.Signal(sig) }

// Kill ends the daemon at once (SIGKILL), as a crash would.
func (d *Daemon) Kill() {
	d.killed = true
	_ = d.cmd.Process.Kill()
	<-d.exited
}

// Done is closed when the daemon has exited; Err then tells how.
func (d *Daemon) Done() <-chan struct{} { return d.exited }

// Err is the daemon's exit error once Done is closed (nil before).
func (d *Daemon) Err() error {
	select {
	case <-d.exited:
		return d.err
	default:
		return nil
	}
}

// Exited reports whether the daemon has exited.
func (d *Daemon) Exited() bool {
	select {
	case <-d.exited:
		return true
	default:
		return false
	}
}

// Pid is the daemon's process id: `ip netns exec` execs the daemon in
// place, so it is the process the Daemon started.
func (d *Daemon) Pid() int { return d.cmd.Process.Pid }
