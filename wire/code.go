package wire

import (
	"math/bits"
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

// EncodeCode is the inverse of DecodeCode. Durations that the float format
// cannot represent exactly are rounded down, as Linux does
// (igmpv3_exp_field_encode), so a host never waits longer than asked;
// anything at or beyond MaxCode(unit) becomes 0xff, negatives become 0, and
// a non-positive unit yields 0.
func EncodeCode(d, unit time.Duration) uint8 {
	if d <= 0 || unit <= 0 {
		return 0
	}
	v := uint64(d / unit)
	switch {
	case v < 128:
		return uint8(v)
	case v >= maxCodeValue:
		return 0xff
	}
	exp := bits.Len64(v) - 8 // 0..7: the top bit sits at position exp+7
	mant := (v >> (exp + 3)) & 0x0f
	return 0x80 | uint8(exp)<<4 | uint8(mant)
}

// checksum is the Internet checksum (RFC 1071) of b. Summing a region that
// includes a correct checksum field yields 0.
func checksum(b []byte) uint16 {
	var sum uint32
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
