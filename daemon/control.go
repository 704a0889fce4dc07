package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// controlServer serves the control socket.
type controlServer struct {
	ln  net.Listener
	log *zap.Logger
	d   *daemon
	// authorize vets the peer before any request is answered.
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
	if s.authorize != nil {
		if err := s.authorize(c); err != nil {
			s.log.Debug("control request refused", zap.Error(err))
			_ = json.NewEncoder(c).Encode(Reply{Error: err.Error()})
			return
		}
	}
	reply, err := s.answer(ctx, c, line)
	if err != nil {
		reply = &Reply{Error: err.Error()}
	}
	if reply == nil {
		return // streamed
	}
	if err := json.NewEncoder(c).Encode(reply); err != nil {
		s.log.Debug("control reply not sent", zap.Error(err))
	}
}

// answer decodes a request line and answers it; a nil reply means the
// answer was streamed on c.
func (s *controlServer) answer(ctx context.Context, c net.Conn, line []byte) (*Reply, error) {
	req, err := DecodeRequest(line)
	if err != nil {
		return nil, err
	}
	switch q := req.(type) {
	case EventsRequest:
		s.stream(ctx, c, q)
		return nil, nil
	case daemonRequest:
		r, err := q.serve(ctx, s.d)
		return &r, err
	case bridgeRequest:
		r := q.empty()
		err := s.d.eachLoop(ctx, q.bridge(), func(l *bridgeLoop, now time.Time) { q.answer(l, now, &r) })
		return &r, err
	}
	return nil, fmt.Errorf("%s: no answer", req.Verb())
}

// stream writes events as JSON lines until the reader goes away or the
// daemon stops. A reader too slow for the buffer is told how many it lost.
func (s *controlServer) stream(ctx context.Context, c net.Conn, req EventsRequest) {
	sub, done := s.d.hub.subscribe()
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
				_ = enc.Encode(EventRecord{Time: time.Now(), Event: "events_lost", Detail: fmt.Sprintf("%d events lost: reader too slow", n-lost)})
				lost = n
			}
			if err := enc.Encode(r); err != nil {
				return
			}
		}
	}
}

// listenControl opens the control socket, readable by its owner only. A
// stale socket from a dead daemon is replaced; a live one is an error.
func listenControl(path string) (net.Listener, error) {
	// Its directory (under /run by default) may not exist when run by
	// hand; systemd's RuntimeDirectory= makes it otherwise.
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := socketInUse(path); err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err == nil {
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale control socket: %w", err)
		}
	}
	// The umask keeps the socket private from the moment it exists.
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return ln, nil
}
