package jetstream

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// MaxSizeLen caps the text ParseSize reads: "1023.999TiB" is 11
// characters; 32 leaves room for spaces and long decimals and stops a
// runaway value early.
const MaxSizeLen = 32

// sizeUnits are the suffixes ParseSize takes, longest first within each
// family so that "KiB" is not read as "B". Binary units (KiB, MiB, GiB,
// TiB, and the single letters K, M, G, T as nats-server's own configuration
// reads them) are powers of 1024; decimal units (KB, MB, GB, TB) powers of
// 1000.
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"b", 1},
}

// SizeError is a size ParseSize cannot read.
type SizeError struct {
	Text   string
	Reason string
}

func (e *SizeError) Error() string { return fmt.Sprintf("size %q: %s", e.Text, e.Reason) }

// ParseSize reads a byte count such as 1073741824, 512MiB, 1GiB, 1.5GB or
// 64k (the value of --nats-max-bytes): a non-negative number, optionally
// with a fractional part, then optionally a unit (case-insensitive, spaces
// allowed between). The result is rounded down to a whole byte and must
// fit in an int64.
func ParseSize(s string) (int64, error) {
	if len(s) > MaxSizeLen {
		return 0, &SizeError{Text: s[:MaxSizeLen] + "…", Reason: "too long"}
	}
	text := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range sizeUnits {
		if num, ok := strings.CutSuffix(text, u.suffix); ok {
			text, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	if text == "" || !(text[0] >= '0' && text[0] <= '9') {
		return 0, &SizeError{Text: s, Reason: "want a number of bytes, optionally with a unit: 512MiB, 1GiB, 2GB"}
	}
	whole, frac, hasFrac := strings.Cut(text, ".")
	n, err := strconv.ParseUint(whole, 10, 63)
	if err != nil {
		return 0, &SizeError{Text: s, Reason: "not a number of bytes"}
	}
	if n > uint64(math.MaxInt64/mult) {
		return 0, &SizeError{Text: s, Reason: "too large"}
	}
	total := int64(n) * mult
	if hasFrac {
		if frac == "" || strings.TrimLeft(frac, "0123456789") != "" {
			return 0, &SizeError{Text: s, Reason: "not a number of bytes"}
		}
		f, err := strconv.ParseFloat("0."+frac, 64)
		if err != nil {
			return 0, &SizeError{Text: s, Reason: "not a number of bytes"}
		}
		part := int64(f * float64(mult)) // ≤ mult (a long fraction rounds to 1): no overflow on its own
		if total > math.MaxInt64-part {
			return 0, &SizeError{Text: s, Reason: "too large"}
		}
		total += part
	}
	return total, nil
}

// FormatSize writes n the way ParseSize reads it back exactly: with the
// largest binary unit that divides it, else in bytes.
func FormatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
