package agentapi

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

func TestSplitTable(t *testing.T) {
	family := "👨\u200d👩\u200d👧\u200d👦" // 7 code points, 11 UTF-16 units
	flags := "🇫🇷🇩🇪🇯🇵"                  // three flags, 6 regional indicators
	tests := []struct {
		name    string
		content string
		max     int
		unit    string
		fences  bool
		want    []string
	}{
		{"fits: one part, untouched", "hello world", 11, UnitChars, false, []string{"hello world"}},
		{"max 0 disables splitting", "hello world", 0, UnitChars, false, []string{"hello world"}},
		{"paragraph break wins over a later line break",
			"aaaa bbbb\n\ncc\ndd eeee", 16, UnitChars, false,
			[]string{"aaaa bbbb\n\n", "cc\ndd eeee"}},
		{"line break when no paragraph break in the second half",
			"aaaa\n\nbbbbbbbb\ncc dd", 16, UnitChars, false,
			[]string{"aaaa\n\nbbbbbbbb\n", "cc dd"}},
		{"space when no line break", "one two three four five", 10, UnitChars, false,
			[]string{"one two ", "three ", "four five"}},
		{"hard cut when no break", "abcdefghij", 4, UnitChars, false,
			[]string{"abcd", "efgh", "ij"}},
		{"early break is used rather than a hard cut", "ab cdefghijkl", 8, UnitChars, false,
			[]string{"ab ", "cdefghij", "kl"}},
		{"CJK: hard cuts between characters", "漢字仮名交じり文", 3, UnitChars, false,
			[]string{"漢字仮", "名交じ", "り文"}},
		{"combining mark stays with its base (chars)", "ae\u0301e\u0301e\u0301", 2, UnitChars, false,
			[]string{"a", "e\u0301", "e\u0301", "e\u0301"}},
		{"space followed by a combining mark is not a break", "ab \u0301cd ef", 6, UnitChars, false,
			[]string{"ab \u0301cd", " ef"}},
		{"emoji: surrogate pairs are never split (utf16)", "😀😀😀", 3, UnitUTF16, false,
			[]string{"😀", "😀", "😀"}},
		{"emoji count one unit each in chars", "😀😀😀", 2, UnitChars, false,
			[]string{"😀😀", "😀"}},
		{"ZWJ sequence kept whole (utf16)", "hi " + family + " there", 12, UnitUTF16, false,
			[]string{"hi ", family + " ", "there"}},
		{"ZWJ sequence kept whole (chars)", "ab" + family + "cd", 8, UnitChars, false,
			[]string{"ab", family + "c", "d"}},
		{"flags are never split between regional indicators (utf16)", flags, 5, UnitUTF16, false,
			[]string{"🇫🇷", "🇩🇪", "🇯🇵"}},
		{"flags (chars)", flags, 3, UnitChars, false,
			[]string{"🇫🇷", "🇩🇪", "🇯🇵"}},
		{"grapheme longer than max is cut between code points", family, 3, UnitChars, false,
			[]string{"👨\u200d👩", "\u200d👧\u200d", "👦"}},
		{"CR LF is never split", "ab\r\ncd", 3, UnitChars, false,
			[]string{"ab", "\r\n", "cd"}},
		{"code fence closed and reopened with its info string", "intro\n```go\nline1\nline2\nline3\n```\nafter",
			24, UnitChars, true,
			[]string{"intro\n```go\nline1\n```", "```go\nline2\nline3\n```\n", "after"}},
		{"no cut right before a closing fence line", "```go\nline1\nline2\n```\nafter",
			20, UnitChars, true,
			[]string{"```go\nline1\n```", "```go\nline2\n```\n", "after"}},
		{"no empty block when the closing line does not fit", "```go\nline1\nline2\n```\nafter",
			21, UnitChars, true,
			[]string{"```go\nline1\n```", "```go\nline2\n```\nafter"}},
		{"whole fence kept when it fits", "```go\nline1\nline2\n```\nafter",
			22, UnitChars, true,
			[]string{"```go\nline1\nline2\n```\n", "after"}},
		{"no cut right after an opening fence line", "text\n```\n" + strings.Repeat("x", 20) + "\n```",
			24, UnitChars, true,
			[]string{"text\n", "```\n" + strings.Repeat("x", 16) + "\n```", "```\nxxxx\n```"}},
		{"plain dialect: no fence repair", "intro\n```go\nline1\nline2\nline3\n```\nafter",
			24, UnitChars, false,
			[]string{"intro\n```go\nline1\nline2\n", "line3\n```\nafter"}},
		{"longer backtick run is reopened with the same run", "````md\nx\ny\nz\n````\n",
			24, UnitChars, true,
			[]string{"````md\nx\ny\nz\n````\n"}},
		{"fence repair counts toward the limit (utf16)", "```\n😀😀😀😀😀\n```", 16, UnitUTF16, true,
			[]string{"```\n😀😀😀😀\n```", "```\n😀\n```"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Split(tc.content, tc.max, tc.unit, tc.fences)
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
				t.Fatalf("Split(%q, %d, %s, %v)\n got %q\nwant %q", tc.content, tc.max, tc.unit, tc.fences, got, tc.want)
			}
			checkSplit(t, tc.content, tc.max, tc.unit == UnitUTF16, tc.fences)
		})
	}
}

func TestSplitLongFenceMessage(t *testing.T) {
	var b strings.Builder
	b.WriteString("Here is the file:\n\n```python\n")
	for i := range 300 {
		fmt.Fprintf(&b, "print('line %d — ünïcödé 😀')\n", i)
	}
	b.WriteString("```\n\nThat is all.")
	for _, unit := range []string{UnitChars, UnitUTF16} {
		parts := Split(b.String(), 2000, unit, true)
		if len(parts) < 3 {
			t.Fatalf("%s: %d parts, want several", unit, len(parts))
		}
		for i, p := range parts {
			if i > 0 && i < len(parts)-1 && !strings.HasPrefix(p, "```python\n") {
				t.Errorf("%s: part %d does not reopen the fence: %q", unit, i, p[:20])
			}
			if i < len(parts)-1 && !strings.HasSuffix(p, "\n```") {
				t.Errorf("%s: part %d does not close the fence: %q", unit, i, p[len(p)-20:])
			}
		}
		checkSplit(t, b.String(), 2000, unit == UnitUTF16, true)
	}
}

// checkSplit checks every property Split promises on one input:
//   - the bodies joined give back the content exactly;
//   - no body is empty, and content that fits is one untouched part;
//   - each part (prefix+body+suffix) fits in max, except a lone code point
//     longer than max (UTF-16, max 1);
//   - every cut is a code point boundary and a grapheme cluster boundary,
//     unless the cluster it falls in is longer than the room of the part
//     before it (max less that part's added lines);
//   - a part's prefix is exactly the reopening line of the fence open at its
//     start, and its suffix exactly the closing line of the fence open at its
//     end, when fences are on and the fence is repairable; otherwise both
//     are empty.
func checkSplit(t *testing.T, s string, max int, u16, fences bool) {
	t.Helper()
	ps := splitParts(s, max, u16, fences)
	var joined strings.Builder
	for _, p := range ps {
		joined.WriteString(p.body)
	}
	if joined.String() != s {
		t.Fatalf("bodies joined differ from the input\n got %q\nwant %q", joined.String(), s)
	}
	unit := UnitChars
	if u16 {
		unit = UnitUTF16
	}
	if FitsOnePart(s, max, unit) && len(ps) != 1 {
		t.Fatalf("FitsOnePart, but Split made %d parts of %q (max %d)", len(ps), s, max)
	}
	if max <= 0 || unitsOf(s, u16) <= max {
		if len(ps) != 1 || ps[0].prefix != "" || ps[0].suffix != "" {
			t.Fatalf("content that fits was split: %q", ps)
		}
		return
	}
	// The grapheme cluster each byte belongs to, by uniseg from the start.
	clusterOf := make([][2]int, len(s))
	g := uniseg.NewGraphemes(s)
	for g.Next() {
		from, to := g.Positions()
		for k := from; k < to; k++ {
			clusterOf[k] = [2]int{from, to}
		}
	}
	sp := splitter{s: s, max: max, u16: u16, fences: fences}
	o := fenceOracle{s: s}
	fenceAt := o.at
	off := 0
	for i, p := range ps {
		if p.body == "" {
			t.Fatalf("part %d has an empty body", i)
		}
		total := unitsOf(p.prefix, u16) + unitsOf(p.body, u16) + unitsOf(p.suffix, u16)
		if total > max {
			r, size := utf8.DecodeRuneInString(p.body)
			if !(u16 && max == 1 && size == len(p.body) && r >= 0x10000) {
				t.Fatalf("part %d is %d units, max %d: %q", i, total, max, p.prefix+p.body+p.suffix)
			}
		}
		wantPrefix := ""
		if st := fenceAt(off); i > 0 && sp.repairable(st) {
			wantPrefix = st.reopen()
		}
		if p.prefix != wantPrefix {
			t.Fatalf("part %d prefix %q, want %q", i, p.prefix, wantPrefix)
		}
		off += len(p.body)
		wantSuffix := ""
		if st := fenceAt(off); i < len(ps)-1 && sp.repairable(st) {
			wantSuffix = st.closing(p.body)
		}
		if p.suffix != wantSuffix {
			t.Fatalf("part %d suffix %q, want %q", i, p.suffix, wantSuffix)
		}
		if off == len(s) {
			break
		}
		if utf8.ValidString(s) && !utf8.RuneStart(s[off]) {
			t.Fatalf("cut after part %d at byte %d splits a code point", i, off)
		}
		if c := clusterOf[off]; c[0] != off {
			room := max - unitsOf(p.prefix, u16) - unitsOf(p.suffix, u16)
			if unitsOf(s[c[0]:c[1]], u16) <= room {
				t.Fatalf("cut after part %d at byte %d is inside the grapheme %q, which fits in %d units",
					i, off, s[c[0]:c[1]], room)
			}
		}
	}
}

// fenceOracle is an independent, simple statement of the fence rule: the
// state at an offset is the state after every line that starts before it.
// Offsets must be asked in increasing order.
type fenceOracle struct {
	s     string
	next  int // start of the next line to apply
	st    fence
	ended bool
}

func (o *fenceOracle) at(off int) fence {
	for !o.ended && o.next < off {
		line := o.s[o.next:]
		if k := strings.IndexByte(line, '\n'); k >= 0 {
			line = line[:k]
			o.next += k + 1
		} else {
			o.ended = true
		}
		trimmed := line
		for k := 0; k < 3 && strings.HasPrefix(trimmed, " "); k++ {
			trimmed = trimmed[1:]
		}
		ticks := len(trimmed) - len(strings.TrimLeft(trimmed, "`"))
		if ticks < 3 {
			continue
		}
		info := strings.TrimSpace(trimmed[ticks:])
		switch {
		case o.st.open && ticks >= o.st.ticks && info == "":
			o.st = fence{}
		case !o.st.open && !strings.Contains(info, "`"):
			o.st = fence{open: true, ticks: ticks, info: info}
		}
	}
	return o.st
}

func FuzzSplit(f *testing.F) {
	f.Add("hello world, this is a longer message\n\nwith paragraphs", 10, false, true)
	f.Add("```go\nfunc main() {}\n```\ntext after the fence", 20, false, true)
	f.Add("👨\u200d👩\u200d👧\u200d👦🇫🇷🇩🇪e\u0301漢字", 3, true, false)
	f.Add("a\r\n\r\nb c\td", 2, true, true)
	f.Add("\xff\xfe invalid \xc3", 4, false, false)
	f.Fuzz(func(t *testing.T, s string, max int, u16, fences bool) {
		if max > 1<<20 || max < -1 {
			max %= 1 << 20
		}
		checkSplit(t, s, max, u16, fences)
	})
}

// BenchmarkSplit measures Split on realistic agent output: prose with
// paragraphs, a code block, emoji and some non-Latin text, cut for a 2000
// code point (Discord-like) and a 4096 UTF-16 unit (Telegram-like) limit.
func BenchmarkSplit(b *testing.B) {
	var sb strings.Builder
	for sb.Len() < 1<<20 {
		sb.WriteString("The quick brown fox jumps over the lazy dog, then writes a summary of what it found. ")
		sb.WriteString("Résumé: naïve café owners 😀 serve 漢字 tea.\n")
		sb.WriteString("Another line of ordinary text that an agent would send back to a chat.\n\n")
		sb.WriteString("```go\nfunc main() {\n\tfmt.Println(\"hello, world\")\n}\n```\n\n")
	}
	text := sb.String()
	for _, c := range []struct {
		name string
		max  int
		unit string
	}{{"chars2000", 2000, UnitChars}, {"utf16_4096", 4096, UnitUTF16}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				if len(Split(text, c.max, c.unit, true)) < 2 {
					b.Fatal("no split")
				}
			}
		})
	}
}

// TestPlainRunesMatchUniseg checks the fast path of nextCluster against
// uniseg for plain characters next to every kind of neighbour that may join
// a cluster (combining marks, ZWJ, variation selectors, skin tones, kana
// voicing marks, Hangul jamo, regional indicators, spacing marks, prepend
// characters, CR, LF) and next to plain and ASCII characters.
func TestPlainRunesMatchUniseg(t *testing.T) {
	followers := []rune{'a', ' ', '\r', '\n', 0x0301, 0x0483, 0x200D, 0x200C, 0xFE0F, 0x1F3FB, 0x3099, 0x309A,
		0x1100, 0x1161, 0x11A8, 0xD7B0, 0x1F1E6, 0x0903, 0x0600, 0x0E33, 0x1F600, 0x4E00, 0xAC00, 0x00E9, 0xFF9E, 0x2028}
	var plain []rune
	for r := rune(0x80); r <= 0x1FFFF; r++ {
		if plainRune(r) {
			plain = append(plain, r)
		}
	}
	if len(plain) < 30000 {
		t.Fatalf("only %d plain runes", len(plain))
	}
	check := func(s string) {
		cl, _, _, _ := uniseg.FirstGraphemeClusterInString(s, -1)
		if got := nextCluster(s, 0); got != len(cl) {
			t.Fatalf("nextCluster(%q) = %d, uniseg's first cluster is %q (%d bytes)", s, got, cl, len(cl))
		}
	}
	// Every plain character against the neighbours that decide most
	// boundaries, and every 8th against all of them (all in -short mode:
	// every 64th).
	key := []rune{'a', 0x0301, 0x200D, 0xFE0F}
	every := 8
	if testing.Short() {
		every = 64
	}
	for k, r := range plain {
		fs := key
		if k%every == 0 {
			fs = followers
		}
		for _, f := range fs {
			check(string(r) + string(f) + "x")
			check(string(f) + string(r) + "x")
		}
		check(string(r))
		check("a" + string(r))
	}
}
