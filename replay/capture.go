package replay

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

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
			return nil, fmt.Errorf("replay: %s: too short for a pcap or pcapng capture (%d bytes)", path, len(magic))
		}
		return nil, fmt.Errorf("replay: read %s: %w", path, err)
	}
	m := [4]byte(magic)
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
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("replay: %s: %w", path, err)
	}
	return c, nil
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
