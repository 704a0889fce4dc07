package wire

import (
	"math/bits"
	"net/netip"
	"time"
)

// Units of the IGMPv3 coded fields (RFC 3376 §4.1.1, §4.1.7).
const (
	MaxRespUnit       = 100 * time.Millisecond // Max Resp Code counts tenths of a second
	QueryIntervalUnit = time.Second            // QQIC counts seconds
)

// maxCodeValue is the largest value a code can carry: 0xff decodes to
// (0xf|0x10) << (7+3).
const maxCodeValue = 31744

// MaxCode is the longest duration a Max Resp Code or QQIC can express in
// the given unit (3174.4 s for MaxRespUnit, 31744 s for QueryIntervalUnit).
func MaxCode(unit time.Duration) time.Duration { return maxCodeValue * unit }

// DecodeCode decodes an IGMPv3 Max Resp Code or QQIC (RFC 3376 §4.1.1,
// §4.1.7): below 128 the code is the value; from 128 on it is a float with
// a 3-bit exponent and 4-bit mantissa, value = (mant|0x10) << (exp+3).
// The value counts units (MaxRespUnit or QueryIntervalUnit).
func DecodeCode(code uint8, unit time.Duration) time.Duration {
	if code < 128 {
		return time.Duration(code) * unit
	}
	mant := uint32(code & 0x0f)
	exp := uint32(code>>4) & 0x07
	return time.Duration((mant|0x10)<<(exp+3)) * unit
}

// EncodeCode is the inverse of DecodeCode for the values we send: a
// duration the code cannot represent exactly is rounded up to the next
// value it can (sub-unit parts included), so that what a receiver decodes
// is never shorter than d. Unlike Linux (igmpv3_exp_field_encode, which
// rounds down), this keeps the advertised QQIC at or above the query
// interval our own timers use: non-queriers derive their Group Membership
// and Other Querier Present intervals from it (RFC 3376 §8.4, §8.5), and a
// shorter one would age out members and queriers between our queries.
// Anything beyond MaxCode(unit) saturates to 0xff; zero and negative
// durations, and a non-positive unit, yield 0.
func EncodeCode(d, unit time.Duration) uint8 {
	if unit <= 0 {
		return 0
	}
	// Clamped to the largest value, which encodes as 0xff.
	v := min(ceilDiv(max(d, 0), unit), maxCodeValue)
	if v < 128 {
		return uint8(v)
	}
	exp, mant := ceilFloat(v, 4)
	return 0x80 | uint8(exp)<<4 | uint8(mant)
}

// AdvertisedCode is what a receiver decodes from EncodeCode(d, unit): the
// value a query advertises for d, at least d unless saturated at
// MaxCode(unit). The engine runs its own timers on it, so that they match
// what it tells the other routers and hosts.
func AdvertisedCode(d, unit time.Duration) time.Duration {
	return DecodeCode(EncodeCode(d, unit), unit)
}

// ceilDiv is d/unit rounded up, for d >= 0 and positive unit, without the
// overflow of (d+unit-1)/unit.
func ceilDiv(d, unit time.Duration) uint64 {
	v := uint64(d / unit)
	if d%unit != 0 {
		v++
	}
	return v
}

// ceilFloat rounds v up to the float format of the coded fields: an
// implied top bit and an mbits-bit mantissa, shifted left by exp+3 (RFC
// 3376 §4.1.1, RFC 3810 §5.1.3). v must be at least the first float value,
// 1<<(mbits+3), and at most the largest, so exp stays within 0..7.
func ceilFloat(v uint64, mbits int) (exp, mant uint64) {
	exp = uint64(bits.Len64(v) - mbits - 4) // the top bit sits at position exp+mbits+3
	shift := exp + 3
	mant = v >> shift & (1<<mbits - 1)
	if v&(1<<shift-1) != 0 {
		mant++
		if mant == 1<<mbits { // carried into the implied bit
			mant, exp = 0, exp+1
		}
	}
	return exp, mant
}

// MLDMaxRespUnit is the unit of the MLD Maximum Response Code (RFC 3810
// §5.1.3, RFC 2710 §3.4): milliseconds.
const MLDMaxRespUnit = time.Millisecond

// maxMLDCodeValue is the largest MLDv2 Maximum Response Code value: 0xffff
// decodes to (0xfff|0x1000) << (7+3) ms.
const maxMLDCodeValue = 8387584

// MaxMLDMaxResp is the longest response delay an MLDv2 query can carry,
// 8387.584 s.
const MaxMLDMaxResp = maxMLDCodeValue * MLDMaxRespUnit

// Limits of the linear fields of the older versions.
const (
	// MaxRespV2 is the longest IGMPv2 Max Response Time: 255 tenths of a
	// second (RFC 2236 §2.2).
	MaxRespV2 = 255 * MaxRespUnit
	// MaxRespMLDv1 is the longest MLDv1 Maximum Response Delay: 65535
	// milliseconds (RFC 2710 §3.4).
	MaxRespMLDv1 = 0xffff * MLDMaxRespUnit
)

// DecodeMLDCode decodes an MLDv2 Maximum Response Code (RFC 3810 §5.1.3):
// below 32768 it counts milliseconds; from 32768 on it is a float with a
// 3-bit exponent and a 12-bit mantissa, (mant|0x1000) << (exp+3) ms.
func DecodeMLDCode(code uint16) time.Duration {
	if code < 32768 {
		return time.Duration(code) * MLDMaxRespUnit
	}
	mant := uint32(code & 0x0fff)
	exp := uint32(code>>12) & 0x07
	return time.Duration((mant|0x1000)<<(exp+3)) * MLDMaxRespUnit
}

// EncodeMLDCode is the inverse of DecodeMLDCode for the values we send.
// Like EncodeCode it rounds up what the code cannot represent, sub-
// millisecond parts included, so a listener never decodes a shorter delay
// than d; it saturates at MaxMLDMaxResp (0xffff) and encodes zero and
// negative durations as 0.
func EncodeMLDCode(d time.Duration) uint16 {
	// Clamped to the largest value, which encodes as 0xffff.
	v := min(ceilDiv(max(d, 0), MLDMaxRespUnit), maxMLDCodeValue)
	if v < 32768 {
		return uint16(v)
	}
	exp, mant := ceilFloat(v, 12)
	return 0x8000 | uint16(exp)<<12 | uint16(mant)
}

// AdvertisedMLDCode is what a listener decodes from EncodeMLDCode(d): at
// least d unless saturated at MaxMLDMaxResp.
func AdvertisedMLDCode(d time.Duration) time.Duration {
	return DecodeMLDCode(EncodeMLDCode(d))
}

// Checksum is the Internet checksum (RFC 1071) of b. Summing a region that
// includes a correct checksum field yields 0.
func Checksum(b []byte) uint16 { return fold(sum16(0, b)) }

// Checksum6 is the checksum of an upper-layer message p of IPv6 protocol
// proto (ICMPv6, PIM) from src to dst, which covers the IPv6 pseudo-header
// (RFC 8200 §8.1). Like Checksum, it is 0 over a message whose checksum
// field is correct.
func Checksum6(src, dst netip.Addr, proto uint8, p []byte) uint16 {
	s, d := src.As16(), dst.As16()
	sum := sum16(0, s[:])
	sum = sum16(sum, d[:])
	sum += uint64(len(p)>>16) + uint64(len(p)&0xffff) + uint64(proto)
	return fold(sum16(sum, p))
}

// sum16 adds b to a one's complement sum as big-endian 16-bit words; an odd
// final byte is padded with zero. Only the last part summed may be odd.
func sum16(sum uint64, b []byte) uint64 {
	for len(b) >= 2 {
		sum += uint64(b[0])<<8 | uint64(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	return sum
}

// fold folds a sum to 16 bits and complements it.
func fold(sum uint64) uint16 {
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
