package wire

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// recordFamily is what IGMPv3 and MLDv2 group records differ in; their
// layout is otherwise the same (RFC 3376 §4.2.4, RFC 3810 §5.2.4).
type recordFamily struct {
	name      string                // "IPv4" or "IPv6"
	alen      int                   // address length
	multicast func(netip.Addr) bool // a valid group
	family    func(netip.Addr) bool // a valid source
	// room is the longest message that fits after the IP headers in one
	// packet, whose length field is 16 bits. Every report and query is a
	// whole number of 32-bit words, and so is room: the longest one fits
	// exactly.
	room     int
	queryLen int // a v3 query without sources (RFC 3376 §4.1, RFC 3810 §5.1)
}

var (
	igmpRecords = recordFamily{name: "IPv4", alen: 4, multicast: isMulticastAddr, family: netip.Addr.Is4, room: (maxIPLen - ipHeaderLen) &^ 3, queryLen: 12}
	mldRecords  = recordFamily{name: "IPv6", alen: 16, multicast: isMulticast6, family: netip.Addr.Is6, room: (maxIPv6Plen - hopByHopLen) &^ 3, queryLen: mldV2QueryMinLen}
)

// recordsLen checks a report's records and returns the length of the
// message that carries them: an 8-byte header, then the records. Bounded
// by room, the record and source counts fit their 16-bit fields.
func recordsLen(recs []GroupRecord, f recordFamily) (int, error) {
	n := 8
	for i, rec := range recs {
		if rec.Type < ModeIsInclude || rec.Type > BlockOldSources {
			return 0, fmt.Errorf("record %d: unknown record type %d: %w", i, rec.Type, ErrInvalid)
		}
		if !f.multicast(rec.Group) {
			return 0, fmt.Errorf("record %d: group %v is not an %s multicast address: %w", i, rec.Group, f.name, ErrInvalid)
		}
		n += 4 + f.alen*(1+len(rec.Sources))
		if n > f.room {
			return 0, fmt.Errorf("records do not fit in one packet: %w", ErrInvalid)
		}
		for _, s := range rec.Sources {
			if !f.family(s) {
				return 0, fmt.Errorf("record %d: source %v is not %s: %w", i, s, f.name, ErrInvalid)
			}
		}
	}
	return n, nil
}

// putRecords writes the record count and the records (checked by
// recordsLen) into the message p, after its 8-byte header's first half.
func putRecords(p []byte, recs []GroupRecord) {
	binary.BigEndian.PutUint16(p[6:8], uint16(len(recs)))
	off := 8
	for _, rec := range recs {
		p[off] = uint8(rec.Type)
		binary.BigEndian.PutUint16(p[off+2:], uint16(len(rec.Sources)))
		off += 4
		off += putAddr(p[off:], rec.Group)
		for _, s := range rec.Sources {
			off += putAddr(p[off:], s)
		}
	}
}

// putAddr writes a's 4 or 16 bytes at the start of p and returns how many.
func putAddr(p []byte, a netip.Addr) int {
	if a.Is4() {
		b := a.As4()
		return copy(p, b[:])
	}
	b := a.As16()
	return copy(p, b[:])
}

// checkV3Query checks what IGMPv3 and MLDv2 queries share: the query
// interval's range, and sources only on a group-specific query, of the
// family's kind, no more than fit in one packet.
func checkV3Query(q Query, general bool, f recordFamily) error {
	if q.QueryInterval < 0 || q.QueryInterval > MaxCode(QueryIntervalUnit) {
		return fmt.Errorf("query: query interval %v outside 0-%v: %w", q.QueryInterval, MaxCode(QueryIntervalUnit), ErrInvalid)
	}
	if general && len(q.Sources) > 0 {
		return fmt.Errorf("query: a general query cannot list sources: %w", ErrInvalid)
	}
	if most := (f.room - f.queryLen) / f.alen; len(q.Sources) > most {
		return fmt.Errorf("query: %d sources do not fit in one packet (at most %d): %w", len(q.Sources), most, ErrInvalid)
	}
	for _, s := range q.Sources {
		if !f.family(s) {
			return fmt.Errorf("query: source %v is not %s: %w", s, f.name, ErrInvalid)
		}
	}
	return nil
}

// putV3QueryTail writes what follows the group in an IGMPv3 or MLDv2 query
// into p: S flag and QRV (one saturated past 7 is sent as 0, RFC 3376
// §4.1.6), QQIC, the source count and the sources.
func putV3QueryTail(p []byte, q Query) {
	qrv := q.QRV
	if qrv > 7 {
		qrv = 0
	}
	if q.SuppressRouterSide {
		qrv |= 0x08
	}
	p[0], p[1] = qrv, EncodeCode(q.QueryInterval, QueryIntervalUnit)
	binary.BigEndian.PutUint16(p[2:4], uint16(len(q.Sources)))
	off := 4
	for _, s := range q.Sources {
		off += putAddr(p[off:], s)
	}
}
