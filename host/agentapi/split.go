package agentapi

import (
	"strings"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// Length units of a destination's max_message_length.
const (
	// UnitChars counts Unicode code points.
	UnitChars = "chars"
	// UnitUTF16 counts UTF-16 code units: a code point outside the Basic
	// Multilingual Plane (most emoji) counts 2.
	UnitUTF16 = "utf16"
)

// minFenceTicks is the shortest backtick run that opens a code fence
// (CommonMark: at least three).
const minFenceTicks = 3

// Split splits content into parts that each fit in max units of unit
// (UnitChars or UnitUTF16; anything else counts code points). Content that
// fits is returned as the only part; max <= 0 disables splitting.
//
// Each part breaks at the last paragraph break ("\n\n") in its window, else
// the last line break, else the last space or tab, preferring a break in the
// second half of the window (so a part is never needlessly short); when the
// second half has none, the latest break of any kind is used; else the cut is
// hard. The break characters end the earlier part. A cut is always a grapheme
// cluster boundary (UAX #29), so it never falls inside a surrogate pair, a
// combining sequence, an emoji ZWJ sequence or a flag. The one exception: a
// single grapheme cluster longer than the room in a part is cut between its
// code points, since it cannot be sent whole; and a code point that is itself
// longer than max (a non-BMP character with max 1 in UTF-16) is sent whole in
// a part that then exceeds max.
//
// With fences (the destination's markdown has code blocks), a part that ends
// inside a ``` block gets a closing fence line, and the next part starts with
// a line reopening it with the same backtick run and info string; these added
// lines count toward max. A fence whose reopening and closing lines would take
// more than half of max is left unrepaired. Apart from those added lines, the
// parts joined give back content exactly.
func Split(content string, max int, unit string, fences bool) []string {
	ps := splitParts(content, max, unit == UnitUTF16, fences)
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.prefix + p.body + p.suffix
	}
	return out
}

// FitsOnePart reports that content is within max, so that Split returns it
// whole, without building the parts. (Split may also return as one part
// content that is not within max: a single code point longer than max.)
func FitsOnePart(content string, max int, unit string) bool {
	return max <= 0 || len(content) <= max || unitsOf(content, unit == UnitUTF16) <= max
}

// part is one piece of a split: the added reopening fence line, a slice of
// the content, and the added closing fence line.
type part struct {
	prefix, body, suffix string
}

// fence is the code-fence state at a position: whether a ``` block is open,
// the length of its backtick run, and its info string.
type fence struct {
	open  bool
	ticks int
	info  string
}

// reopen returns the line that reopens f in the next part.
func (f fence) reopen() string {
	return strings.Repeat("`", f.ticks) + f.info + "\n"
}

// closing returns the line that closes f at the end of body.
func (f fence) closing(body string) string {
	if strings.HasSuffix(body, "\n") {
		return strings.Repeat("`", f.ticks)
	}
	return "\n" + strings.Repeat("`", f.ticks)
}

// splitter holds one Split call's input and settings.
type splitter struct {
	s      string
	max    int
	u16    bool
	fences bool
	// inside is the end of the oversized grapheme cluster the last cut
	// fell in (0 when it fell on a boundary).
	inside int
}

func splitParts(s string, max int, u16, fences bool) []part {
	if max <= 0 || len(s) <= max || unitsOf(s, u16) <= max { // FitsOnePart
		// A byte never holds more than one unit, so len(s) <= max fits.
		return []part{{body: s}}
	}
	sp := splitter{s: s, max: max, u16: u16, fences: fences}
	var parts []part
	var st fence
	for pos := 0; pos < len(s); {
		prefix := ""
		if sp.repairable(st) {
			prefix = st.reopen()
		}
		room := max - unitsOf(prefix, u16)
		w := sp.scan(pos, room, st)
		if w.end {
			parts = append(parts, part{prefix: prefix, body: s[pos:]})
			break
		}
		c := w.choose(room)
		p := sp.cut(pos, prefix, c)
		// The closing line may not fit in the room left: shrink the window
		// by the overflow and choose again until it does (each round moves
		// the cut back; the first code point is always taken).
		for over := sp.size(p) - max; over > 0 && room > 1; over = sp.size(p) - max {
			room = maxInt(minInt(room-1, c.units-over), 1)
			w = sp.scan(pos, room, st)
			c = w.choose(room)
			p = sp.cut(pos, prefix, c)
		}
		parts = append(parts, p)
		pos, st = c.at, c.st
		sp.inside = 0
		if c == w.hard && w.hardInside > 0 {
			sp.inside = w.hardInside
		}
	}
	return parts
}

// cut returns the part from pos to the candidate c, with its added lines.
func (sp *splitter) cut(pos int, prefix string, c candidate) part {
	p := part{prefix: prefix, body: sp.s[pos:c.at]}
	if sp.repairable(c.st) {
		p.suffix = c.st.closing(p.body)
	}
	return p
}

// size returns the length of a part in units.
func (sp *splitter) size(p part) int {
	return unitsOf(p.prefix, sp.u16) + unitsOf(p.body, sp.u16) + unitsOf(p.suffix, sp.u16)
}

func minInt(a, b int) int {
	if a < b {
		return a
	}
	return b
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// repairable reports whether an open fence f is closed and reopened across a
// cut: fences are on, and its two added lines take at most half of max.
func (sp *splitter) repairable(f fence) bool {
	if !sp.fences || !f.open {
		return false
	}
	return unitsOf(f.info, sp.u16)+2*f.ticks+2 <= sp.max/2
}

// candidate is a possible cut: its byte offset, the units before it in the
// window, and the fence state there.
type candidate struct {
	ok    bool
	at    int
	units int
	st    fence
}

// recent keeps the two latest candidates of one kind, so that the latest can
// be withdrawn when the line after it turns out to close a fence.
type recent struct{ last, prev candidate }

func (r *recent) put(c candidate) { r.prev, r.last = r.last, c }

// withdraw drops the latest candidate if it sits at offset at.
func (r *recent) withdraw(at int) {
	if r.last.ok && r.last.at == at {
		r.last, r.prev = r.prev, candidate{}
	}
}

// window is what one scan found: the latest break candidates of each kind,
// the hard cut, and whether the content's end was reached within the room.
type window struct {
	end               bool
	para, line, space recent
	hard              candidate
	// any is the latest position that fits, even inside a fence line; the
	// cut of last resort.
	any candidate
	// hardInside is the end of the grapheme cluster the hard cut falls in,
	// when the cut had to split one that is longer than the room.
	hardInside int
}

// choose picks the cut of a window whose room is room units: the last
// paragraph break, line break or space in the window's second half, in that
// order of preference, else the latest break anywhere, else the hard cut.
func (w *window) choose(room int) candidate {
	half := room / 2
	kinds := [...]candidate{w.para.last, w.line.last, w.space.last}
	for _, c := range kinds {
		if c.ok && c.units >= half {
			return c
		}
	}
	best := candidate{}
	for _, c := range kinds {
		if c.ok && (!best.ok || c.at > best.at) {
			best = c
		}
	}
	if best.ok {
		return best
	}
	if w.hard.ok {
		return w.hard
	}
	return w.any
}

// scan walks the grapheme clusters from pos while they fit in room units,
// starting in fence state st (the state before the line that starts at pos,
// if one does), and records the break candidates. Breaks are not taken
// inside or right after a line that opens a fence (the part would end in an
// empty code block), nor right before a line that closes one (the next part
// would start with one), and hard cuts not inside a fence line.
func (sp *splitter) scan(pos, room int, st fence) window {
	s := sp.s
	var w window
	units := 0
	prevNL := false
	inOpener, inFenceLine := false, false
	i := pos
	for i < len(s) {
		if sp.fences && (i == 0 || s[i-1] == '\n') {
			was := st.open
			st = fenceStep(s, i, st)
			inOpener = st.open && !was
			inFenceLine = st.open != was
			if was && !st.open && i > pos {
				w.para.withdraw(i)
				w.line.withdraw(i)
			}
		}
		if runASCII[s[i]] && i >= sp.inside {
			// A run of ASCII bytes other than CR and LF: each is a cluster
			// of one unit, so the run is taken in one step, as far as the
			// room goes, noting its last space or tab. The run's last byte
			// is left to the general path when a non-ASCII byte follows (a
			// combining mark may extend it).
			limit := i + room - units
			j, space := i, -1
			for j < len(s) && j < limit && runASCII[s[j]] {
				if s[j] == ' ' || s[j] == '\t' {
					space = j
				}
				j++
			}
			full := j == limit && j < len(s)
			if j < len(s) && s[j] >= utf8.RuneSelf {
				j--
				full = false
			}
			if n := j - i; n > 0 {
				if space >= i && space < j && !inOpener {
					w.space.put(candidate{ok: true, at: space + 1, units: units + space + 1 - i, st: st})
				}
				units += n
				i = j
				c := candidate{ok: true, at: i, units: units, st: st}
				w.any = c
				if !inFenceLine {
					w.hard = c
				}
				prevNL = false
				if !full {
					continue
				}
			}
			if full {
				break
			}
		}
		end := sp.nextCluster(i)
		n := 1
		if end-i > 1 || s[i] >= utf8.RuneSelf {
			n = unitsOf(s[i:end], sp.u16)
		}
		if units+n > room {
			break
		}
		units += n
		c := candidate{ok: true, at: end, units: units, st: st}
		cl := s[i:end]
		nl := cl == "\n" || cl == "\r\n"
		switch {
		case nl:
			if prevNL && !inOpener {
				w.para.put(c)
			}
			if !inOpener {
				w.line.put(c)
			}
			prevNL = true
		case cl == " " || cl == "\t":
			if !inOpener {
				w.space.put(c)
			}
			prevNL = false
		default:
			prevNL = false
		}
		w.any = c
		if !inFenceLine || (nl && !inOpener) {
			w.hard = c
		}
		i = end
	}
	if i == len(s) {
		w.end = true
		return w
	}
	if !w.any.ok {
		// The first grapheme cluster alone is longer than the room: cut it
		// between code points, taking at least one.
		end := sp.nextCluster(i)
		j, units := i, 0
		for j < end {
			r, size := utf8.DecodeRuneInString(s[j:end])
			n := 1
			if sp.u16 && r >= 0x10000 {
				n = 2
			}
			if j > i && units+n > room {
				break
			}
			units += n
			j += size
		}
		w.hard = candidate{ok: true, at: j, units: units, st: st}
		w.any = w.hard
		if j < end {
			w.hardInside = end
		}
	}
	return w
}

// runASCII marks the ASCII bytes that are a grapheme cluster of their own
// next to any other ASCII byte and are not a line break: everything below
// 0x80 but line feed and carriage return (CR LF is one cluster).
var runASCII = func() (t [256]bool) {
	for c := range utf8.RuneSelf {
		t[c] = c != '\n' && c != '\r'
	}
	return t
}()

// nextCluster returns the end of the grapheme cluster that starts at i, or,
// when i is inside an oversized cluster an earlier part had to cut, the end
// of that cluster.
func (sp *splitter) nextCluster(i int) int {
	if i < sp.inside {
		return sp.inside
	}
	return nextCluster(sp.s, i)
}

// nextCluster returns the end offset of the grapheme cluster that starts at
// i. Two ASCII bytes are always separate clusters except CR LF, so ASCII text
// takes a fast path; anything else asks uniseg. Starting uniseg afresh at a
// cluster boundary is exact: no rule of UAX #29 looks back across one.
func nextCluster(s string, i int) int {
	c := s[i]
	size := 1
	if c < utf8.RuneSelf {
		if i+1 == len(s) {
			return i + 1
		}
		if n := s[i+1]; n < utf8.RuneSelf {
			if c == '\r' && n == '\n' {
				return i + 2
			}
			return i + 1
		}
	} else {
		var r rune
		r, size = utf8.DecodeRuneInString(s[i:])
		if !plainRune(r) {
			size = 0
		}
	}
	if size > 0 {
		// A plain character (or an ASCII one other than CR) followed by
		// an ASCII or plain character is a cluster of its own.
		if i+size == len(s) {
			return i + size
		}
		if n := s[i+size]; n < utf8.RuneSelf {
			if c >= utf8.RuneSelf {
				return i + size
			}
		} else if r, _ := utf8.DecodeRuneInString(s[i+size:]); plainRune(r) {
			return i + size
		}
	}
	cl, _, _, _ := uniseg.FirstGraphemeClusterInString(s[i:], -1)
	return i + len(cl)
}

// plainRune reports whether r is in one of the common ranges of characters
// that never join a grapheme cluster with a neighbour that is ASCII or
// plain too: no Prepend, Extend, SpacingMark, ZWJ, regional indicator or
// Hangul jamo among them (Latin, Greek, Cyrillic, general punctuation,
// kana, CJK ideographs, Hangul syllables, emoji without modifiers).
// TestPlainRunesMatchUniseg checks every one of them against uniseg.
func plainRune(r rune) bool {
	switch {
	case r < 0x80:
		return false
	case r < 0x300: // Latin-1, Latin Extended-A/B, IPA, spacing modifiers
		return true
	case r < 0x370:
		return false // combining diacritical marks
	case r <= 0x482: // Greek, Cyrillic
		return true
	case r < 0x48A:
		return false // Cyrillic combining marks
	case r <= 0x52F:
		return true
	case r >= 0x2010 && r <= 0x2027: // dashes, quotes, bullets, ellipsis
		return true
	case r >= 0x3041 && r <= 0x3096, r >= 0x30A1 && r <= 0x30FA: // kana
		return true
	case r >= 0x4E00 && r <= 0x9FFF: // CJK unified ideographs
		return true
	case r >= 0xAC00 && r <= 0xD7A3: // Hangul syllables
		return true
	case r >= 0xFF01 && r <= 0xFF5E: // fullwidth ASCII
		return true
	case r >= 0x1F300 && r <= 0x1F3FA, r >= 0x1F400 && r <= 0x1F64F, r >= 0x1F680 && r <= 0x1F6FF:
		return true // pictographs and emoticons, without the skin tone modifiers
	}
	return false
}

// fenceStep applies the line that starts at offset i to the fence state: an
// opening line (up to three spaces, three or more backticks, an info string
// without backticks) opens a block; a closing line (at least as many
// backticks, nothing else but spaces) closes it.
func fenceStep(s string, i int, st fence) fence {
	j := i
	for k := 0; k < 3 && j < len(s) && s[j] == ' '; k++ {
		j++
	}
	if j+minFenceTicks > len(s) || s[j] != '`' || s[j+1] != '`' || s[j+2] != '`' {
		return st
	}
	ticks := 0
	for j < len(s) && s[j] == '`' {
		ticks++
		j++
	}
	rest := s[j:]
	if k := strings.IndexByte(rest, '\n'); k >= 0 {
		rest = rest[:k]
	}
	info := strings.TrimSpace(rest)
	if st.open {
		if ticks >= st.ticks && info == "" {
			return fence{}
		}
		return st
	}
	if strings.IndexByte(info, '`') >= 0 {
		return st
	}
	return fence{open: true, ticks: ticks, info: info}
}

// unitsOf returns the length of s in code points, or in UTF-16 code units
// when u16 is set. An invalid byte counts as one unit (it is sent as U+FFFD).
func unitsOf(s string, u16 bool) int {
	if !u16 {
		return utf8.RuneCountInString(s)
	}
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		n++
		if r >= 0x10000 {
			n++
		}
		i += size
	}
	return n
}
