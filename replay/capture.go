package replay

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// capture reads frames from a pcap or pcapng file.
type capture struct {
	path   string
	format string // "pcap" or "pcapng"
	f      *os.File
	pcap   *pcapgo.Reader
	ng     *pcapgo.NgReader
}

// pcap and pcapng magic numbers, as the first four bytes of the file.
var (
	pcapMagics = [][4]byte{
		{0xd4, 0xc3, 0xb2, 0xa1}, {0xa1, 0xb2, 0xc3, 0xd4}, // microseconds, little and big endian
		{0x4d, 0x3c, 0xb2, 0xa1}, {0xa1, 0xb2, 0x3c, 0x4d}, // nanoseconds
	}
	pcapngMagic = [4]byte{0x0a, 0x0d, 0x0d, 0x0a} // section header block type
)

// openCapture opens a pcap or pcapng file, telling them apart by their
// magic, and checks that it holds Ethernet frames.
func openCapture(path string) (*capture, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	c := &capture{path: path, f: f}
	br := bufio.NewReader(f)
	magic, err := br.Peek(4)
	if err != nil {
		f.Close()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("replay: %s: too short for a pcap or pcapng capture (%s)", path, plural(len(magic), "byte"))
		}
		return nil, fmt.Errorf("replay: read %s: %w", path, err)
	}
	m := [4]byte(magic)
	if err := checkHeader(br, m); err != nil {
		f.Close()
		return nil, fmt.Errorf("replay: %s: %w", path, err)
	}
	switch {
	case slices.Contains(pcapMagics, m):
		c.format = "pcap"
		c.pcap, err = pcapgo.NewReader(br)
		if err == nil && c.pcap.LinkType() != layers.LinkTypeEthernet {
			err = fmt.Errorf("link type %v (%d), not Ethernet: replay reads Ethernet captures only (take them on a bridge port or the bridge, not with tcpdump -i any)",
				c.pcap.LinkType(), uint32(c.pcap.LinkType()))
		}
	case m == pcapngMagic:
		c.format = "pcapng"
		// Mixed link types are read so that a frame of another interface
		// gets an error naming it instead of being skipped unseen.
		c.ng, err = pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
	default:
		err = fmt.Errorf("not a pcap or pcapng capture (magic % x)", magic)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		// Past the header checkHeader measured: a pcapng section of an
		// unknown version, skipped, that the file cuts short.
		err = fmt.Errorf("capture file cut short inside its header: %w", err)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("replay: %s: %w", path, err)
	}
	return c, nil
}

// Header sizes: a pcap file header, and the least a pcapng section
// header block takes (type, length, byte-order magic, version, section
// length, trailing length).
const (
	pcapHeaderLen   = 24
	pcapngHeaderMin = 28
)

// checkHeader tells a file cut inside its header as such, with how much
// of it there is: the readers say only "unexpected EOF".
func checkHeader(br *bufio.Reader, magic [4]byte) error {
	want := pcapHeaderLen
	if magic == pcapngMagic {
		want = pcapngHeaderMin
		// The block's length, in the byte order its magic gives.
		if b, err := br.Peek(12); err == nil {
			var order binary.ByteOrder = binary.LittleEndian
			if binary.BigEndian.Uint32(b[8:12]) == 0x1a2b3c4d {
				order = binary.BigEndian
			}
			if n := int(order.Uint32(b[4:8])); n > want && n <= br.Size() {
				want = n
			}
		}
	} else if !slices.Contains(pcapMagics, magic) {
		return nil // not a capture: the caller says so
	}
	have, _ := br.Peek(want)
	if len(have) < want {
		return fmt.Errorf("capture file cut short inside its header (%d of %s)", len(have), plural(want, "byte"))
	}
	return nil
}

func (c *capture) close() { c.f.Close() }

// next returns the next frame, or io.EOF at the clean end of the file.
func (c *capture) next() (data []byte, ci gopacket.CaptureInfo, err error) {
	// The readers parse untrusted bytes: should one of them panic on a
	// corrupt file, that is an unreadable frame, not a crash.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("capture reader failed: %v", p)
		}
	}()
	if c.pcap != nil {
		return c.pcap.ReadPacketData()
	}
	data, ci, err = c.ng.ReadPacketData()
	if err != nil {
		return nil, ci, err
	}
	if len(ci.AncillaryData) > 0 {
		if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok && lt != layers.LinkTypeEthernet {
			return nil, ci, fmt.Errorf("interface %d has link type %v (%d), not Ethernet: replay reads Ethernet captures only",
				ci.InterfaceIndex, lt, uint32(lt))
		}
	}
	return data, ci, nil
}

// span reads a capture's timestamps ahead of the replay: from the first
// frame to the latest one, as the replay's clock will run. It reads only
// regular files (a pipe can be read once), and stops quietly at the first
// unreadable frame, which the replay itself reports.
func span(ctx context.Context, path string) (time.Duration, bool) {
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
		return 0, false
	}
	c, err := openCapture(path)
	if err != nil {
		return 0, false
	}
	defer c.close()
	var first, last time.Time
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return 0, false
		}
		_, ci, err := c.next()
		if err != nil {
			break
		}
		ts := ci.Timestamp
		if n == 0 {
			first, last = frameTime(ts), frameTime(ts)
		}
		if ts.After(last) {
			last = ts
		}
	}
	return last.Sub(first), true
}

// frameTime is the replay's time for the first frame: pcapng simple packet
// blocks carry none.
func frameTime(ts time.Time) time.Time {
	if ts.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return ts
}
