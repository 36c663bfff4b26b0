package jetstream_test

import (
	"errors"
	"math"
	"testing"

	js "github.com/relayhost/relay-host/host/agent/jetstream"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"1073741824", 1 << 30},
		{"1GiB", 1 << 30},
		{"1gib", 1 << 30},
		{"512MiB", 512 << 20},
		{" 512 MiB ", 512 << 20},
		{"64k", 64 << 10},
		{"64KiB", 64 << 10},
		{"2GB", 2e9},
		{"1.5GiB", 3 << 29},
		{"1.5kb", 1500},
		{"0", 0},
		{"10b", 10},
		{"8TiB", 8 << 40},
		{"9223372036854775807", math.MaxInt64},
	} {
		got, err := js.ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "GiB", "-1", "-1GiB", "1.GiB", "1..5MiB", "one", "1e9", "1 GiBs", "9223372036854775808", "8388608TiB",
		"0x10", "1,000", "1.5.5", "123456789012345678901234567890123"} {
		if got, err := js.ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		} else if se := (*js.SizeError)(nil); !errors.As(err, &se) {
			t.Errorf("ParseSize(%q) error %T, want *SizeError", in, err)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{1 << 30: "1GiB", 512 << 20: "512MiB", 1536: "1536", 3 << 10: "3KiB", 0: "0", 1000: "1000", 2 << 40: "2TiB"} {
		if got := js.FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// FuzzParseSize checks that ParseSize never panics, never returns a negative
// size, and that what it reads is written back by FormatSize to the same
// value.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"1GiB", "512MiB", "1.5GB", "64k", "0", "9223372036854775807", "1.99999999999999999999TiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := js.ParseSize(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d", s, n)
		}
		back, err := js.ParseSize(js.FormatSize(n))
		if err != nil || back != n {
			t.Fatalf("ParseSize(FormatSize(%d) = %q) = %d, %v", n, js.FormatSize(n), back, err)
		}
	})
}
