package bridge

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"golang.org/x/sys/unix"
)

// fakeBatch is an MDBBatch on a fake kernel: answer gives the answers to
// one sendmsg's requests, which Receive then returns one per datagram, as
// the kernel sends them.
func fakeBatch(answer func(reqs []netlink.Message) []netlink.Message) *MDBBatch {
	var queue []netlink.Message
	c := nltest.Dial(func(reqs []netlink.Message) ([]netlink.Message, error) {
		if reqs != nil {
			queue = append(queue, answer(reqs)...)
		}
		if len(queue) == 0 {
			return nil, errors.New("no answer")
		}
		m := queue[0]
		queue = queue[1:]
		return []netlink.Message{m}, nil
	})
	return &MDBBatch{c: c}
}

// errorAck is the kernel's NLMSG_ERROR answer to req: errno (0 for an
// ack), the whole request echoed, and text as NLMSGERR_ATTR_MSG if any.
func errorAck(req netlink.Message, errno unix.Errno, text string) netlink.Message {
	data := binary.NativeEndian.AppendUint32(nil, uint32(-int32(errno)))
	echo, err := req.MarshalBinary()
	if err != nil {
		panic(err)
	}
	data = append(data, echo...)
	var flags netlink.HeaderFlags
	if text != "" {
		flags = netlink.AcknowledgeTLVs
		data = append(data, nltest.MustMarshalAttributes([]netlink.Attribute{
			{Type: unix.NLMSGERR_ATTR_MSG, Data: append([]byte(text), 0)},
		})...)
	}
	return netlink.Message{
		Header: netlink.Header{Type: netlink.Error, Flags: flags, Sequence: req.Header.Sequence, PID: nltest.PID},
		Data:   data,
	}
}

func testEntries(n int) []Entry {
	es := make([]Entry, n)
	for i := range es {
		es[i] = Entry{Bridge: 2, Port: 3, Group: netip.AddrFrom4([4]byte{239, 1, 0, byte(i)})}
	}
	return es
}

// TestBatchAnswers: each refusal lands on its own write, with the errno
// and the kernel's text; only the last write of a sendmsg asks for an ack.
func TestBatchAnswers(t *testing.T) {
	b := fakeBatch(func(reqs []netlink.Message) []netlink.Message {
		for i, r := range reqs {
			if acked := r.Header.Flags&netlink.Acknowledge != 0; acked != (i == len(reqs)-1) {
				t.Errorf("request %d of %d: ack %v", i, len(reqs), acked)
			}
		}
		return []netlink.Message{
			errorAck(reqs[1], unix.EINVAL, "IPv4 entry group address is local multicast"),
			errorAck(reqs[2], unix.EINVAL, ""),
			errorAck(reqs[3], unix.E2BIG, ""),
			errorAck(reqs[4], 0, ""),
		}
	})
	es := testEntries(5)
	for i, e := range es {
		queue := b.Replace
		if i == 2 {
			queue = b.Delete
		}
		if err := queue(e); err != nil {
			t.Fatal(err)
		}
	}
	errs := b.Flush()
	if len(errs) != 5 {
		t.Fatalf("%d results for 5 writes", len(errs))
	}
	if errs[0] != nil || errs[4] != nil {
		t.Errorf("accepted writes: %v, %v", errs[0], errs[4])
	}
	if !errors.Is(errs[1], unix.EINVAL) || !hasExtack(errs[1]) || !strings.Contains(errs[1].Error(), "invalid argument: IPv4 entry group address is local multicast") {
		t.Errorf("refusal with text: %v", errs[1])
	}
	if !errors.Is(errs[2], ErrNotFound) || !errors.Is(errs[2], unix.EINVAL) {
		t.Errorf("bare EINVAL to a delete: %v, want ErrNotFound", errs[2])
	}
	if !errors.Is(errs[3], ErrHashMax) || !errors.Is(errs[3], unix.E2BIG) {
		t.Errorf("E2BIG: %v, want ErrHashMax", errs[3])
	}
}

// TestBatchBadAnswers: a truncated error answer, or none at all, fails the
// writes not yet answered; it is never taken for an ack.
func TestBatchBadAnswers(t *testing.T) {
	for name, answer := range map[string]func(reqs []netlink.Message) []netlink.Message{
		"truncated": func(reqs []netlink.Message) []netlink.Message {
			m := errorAck(reqs[len(reqs)-1], 0, "")
			m.Data = m.Data[:2]
			return []netlink.Message{m}
		},
		"none": func([]netlink.Message) []netlink.Message { return nil },
	} {
		b := fakeBatch(answer)
		for _, e := range testEntries(3) {
			if err := b.Replace(e); err != nil {
				t.Fatal(err)
			}
		}
		for i, err := range b.Flush() {
			if err == nil {
				t.Errorf("%s: write %d succeeded", name, i)
			}
		}
	}
}

// TestEncodeReplace: the message carries the bridge, the entry, and its
// attributes in nests flagged NLA_F_NESTED.
func TestEncodeReplace(t *testing.T) {
	e := Entry{Bridge: 2, Port: 3, Group: netip.MustParseAddr("232.1.1.1"), Mode: ModeInclude,
		Sources: []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.1")}}
	r, err := replaceReq(e)
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := r.encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Type != unix.RTM_NEWMDB || m.Header.Flags != netlink.Request|netlink.Create|netlink.Replace {
		t.Errorf("header %+v", m.Header)
	}
	if m.Data[0] != unix.AF_BRIDGE || binary.NativeEndian.Uint32(m.Data[4:8]) != 2 {
		t.Errorf("br_port_msg % x", m.Data[:8])
	}
	var (
		entry   []byte
		mode    = -1
		proto   = -1
		sources []netip.Addr
		nested  = map[string]bool{}
	)
	err = decode(m.Data[brPortMsgLen:], func(ad *netlink.AttributeDecoder) error {
		switch ad.Type() {
		case mdbaSetEntry:
			entry = ad.Bytes()
		case mdbaSetAttrs:
			nested["MDBA_SET_ENTRY_ATTRS"] = ad.TypeFlags()&netlink.Nested != 0
			ad.Nested(func(ad *netlink.AttributeDecoder) error {
				for ad.Next() {
					switch ad.Type() {
					case mdbeAttrGroupMode:
						mode = int(ad.Uint8())
					case mdbeAttrRTProt:
						proto = int(ad.Uint8())
					case mdbeAttrSrcList:
						nested["MDBE_ATTR_SRC_LIST"] = ad.TypeFlags()&netlink.Nested != 0
						ad.Nested(func(ad *netlink.AttributeDecoder) error {
							for ad.Next() {
								nested["MDBE_SRC_LIST_ENTRY"] = ad.TypeFlags()&netlink.Nested != 0
								ad.Nested(func(ad *netlink.AttributeDecoder) error {
									for ad.Next() {
										a, _ := netip.AddrFromSlice(ad.Bytes())
										sources = append(sources, a)
									}
									return nil
								})
							}
							return nil
						})
					}
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := e.marshal()
	if string(entry) != string(want) {
		t.Errorf("MDBA_SET_ENTRY % x, want % x", entry, want)
	}
	if mode != int(ModeInclude) || proto != DefaultProto || len(sources) != 2 || sources[0] != e.Sources[0] {
		t.Errorf("mode %d proto %d sources %v", mode, proto, sources)
	}
	for typ, ok := range nested {
		if !ok {
			t.Errorf("nest %s without NLA_F_NESTED", typ)
		}
	}
	if len(nested) != 3 {
		t.Errorf("nests %v, want 3", nested)
	}
}

// entryInfo builds a dump message of bridge br with one entry info.
func entryInfo(br int, e Entry, attrs []netlink.Attribute) []byte {
	info, err := e.marshal()
	if err != nil {
		panic(err)
	}
	info = append(info, nltest.MustMarshalAttributes(attrs)...)
	nest := func(typ uint16, data []byte) []byte {
		return nltest.MustMarshalAttributes([]netlink.Attribute{{Type: typ | netlink.Nested, Data: data}})
	}
	msg := binary.NativeEndian.AppendUint32([]byte{unix.AF_BRIDGE, 0, 0, 0}, uint32(br))
	return append(msg, nest(mdbaMDB, nest(mdbaMDBEntry, nltest.MustMarshalAttributes([]netlink.Attribute{{Type: mdbaEntryInfo, Data: info}})))...)
}

// TestParseMDBMessage: a dumped entry with its attributes, another
// bridge's message skipped, and malformed messages refused.
func TestParseMDBMessage(t *testing.T) {
	e := Entry{Bridge: 2, Port: 3, Group: netip.MustParseAddr("232.1.1.1")}
	srcEntry := func(a string) netlink.Attribute {
		return netlink.Attribute{Type: mdbaSrcListEntry | netlink.Nested, Data: nltest.MustMarshalAttributes([]netlink.Attribute{
			{Type: mdbaSrcAttrAddress, Data: netip.MustParseAddr(a).AsSlice()}})}
	}
	attrs := []netlink.Attribute{
		{Type: mdbaEattrTimer, Data: binary.NativeEndian.AppendUint32(nil, 2600)},
		{Type: mdbaEattrRTProt, Data: []byte{DefaultProto}},
		{Type: mdbaEattrGroupMode, Data: []byte{uint8(ModeInclude)}},
		{Type: mdbaEattrSrcList | netlink.Nested, Data: nltest.MustMarshalAttributes([]netlink.Attribute{srcEntry("10.0.0.2"), srcEntry("10.0.0.1")})},
	}
	es, _, err := parseMDBMessage(entryInfo(2, e, attrs), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 {
		t.Fatalf("%d entries", len(es))
	}
	got := es[0]
	if got.Port != 3 || got.Group != e.Group || got.Proto != DefaultProto || got.Mode != ModeInclude || got.Timer.Seconds() != 26 ||
		len(got.Sources) != 2 || got.Sources[0] != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("parsed %+v", got)
	}
	if es, _, err := parseMDBMessage(entryInfo(2, e, attrs), 5); err != nil || len(es) != 0 {
		t.Errorf("another bridge's message: %v, %v", es, err)
	}
	bad := map[string][]byte{
		"short header": {unix.AF_BRIDGE, 0, 0},
		"short timer":  entryInfo(2, e, []netlink.Attribute{{Type: mdbaEattrTimer, Data: []byte{1, 2}}}),
	}
	// An entry info shorter than struct br_mdb_entry, in well-formed nests.
	short := entryInfo(2, e, nil)
	binary.NativeEndian.PutUint16(short[brPortMsgLen:], uint16(len(short)-brPortMsgLen-4))
	binary.NativeEndian.PutUint16(short[brPortMsgLen+4:], uint16(len(short)-brPortMsgLen-8))
	binary.NativeEndian.PutUint16(short[brPortMsgLen+8:], uint16(len(short)-brPortMsgLen-12))
	bad["short entry info"] = short[:len(short)-4]
	for name, msg := range bad {
		_, _, err := parseMDBMessage(msg, 2)
		t.Logf("%s: %v", name, err)
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
