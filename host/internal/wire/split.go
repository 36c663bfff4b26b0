package wire

import (
	"bytes"
	"fmt"
)

// Splitter reassembles newline-delimited frames from WebSocket messages with
// a carry buffer (docs/protocol.md, Framing): one message may hold several
// frames, a frame may span messages, and blank or whitespace-only lines are
// skipped. A line longer than the limit is dropped whole (even when it spans
// many messages, never held in memory) and reported once, with its type and
// bufferId when they can be read as it streams past. A Splitter is not safe
// for concurrent use.
type Splitter struct {
	max      int
	buf      []byte
	skipping bool
	dropped  int
	sniff    envelopeSniffer // reads the line being skipped
}

// carryRetain is the carry-buffer capacity kept between frames; a larger
// buffer (left by one big frame) is released so an idle link holds little
// memory.
const carryRetain = 64 << 10

// NewSplitter returns a Splitter that accepts lines up to maxLine bytes
// (MaxFrameBytes when maxLine <= 0).
func NewSplitter(maxLine int) *Splitter {
	if maxLine <= 0 {
		maxLine = MaxFrameBytes
	}
	return &Splitter{max: maxLine}
}

// Buffered returns the number of bytes of the partial line held back.
func (s *Splitter) Buffered() int { return len(s.buf) }

// Feed consumes one WebSocket message (text, or binary taken as UTF-8). For
// each complete non-blank line it calls emit with the line trimmed of
// surrounding whitespace and a nil error; the slice is only valid during the
// call. For each line over the limit it calls emit(nil, err) with a
// *DecodeError of kind BadFrameOversize, carrying the line's type and
// bufferId when they could be read.
func (s *Splitter) Feed(msg []byte, emit func(line []byte, err error)) {
	for len(msg) > 0 {
		i := bytes.IndexByte(msg, '\n')
		if i < 0 {
			if s.skipping {
				s.dropped += len(msg)
				s.sniff.feed(msg)
				return
			}
			if len(s.buf)+len(msg) > s.max {
				s.newSniff(s.buf, msg)
				s.skipping = true
				s.dropped = len(s.buf) + len(msg)
				s.reset()
				return
			}
			s.buf = append(s.buf, msg...)
			return
		}
		part := msg[:i]
		msg = msg[i+1:]
		if s.skipping {
			n := s.dropped + len(part)
			s.sniff.feed(part)
			s.skipping, s.dropped = false, 0
			emit(nil, s.oversize(n))
			continue
		}
		line := part
		if len(s.buf) > 0 {
			if len(s.buf)+len(part) > s.max {
				n := len(s.buf) + len(part)
				s.newSniff(s.buf, part)
				s.reset()
				emit(nil, s.oversize(n))
				continue
			}
			s.buf = append(s.buf, part...)
			line = s.buf
		}
		if len(line) > s.max {
			s.newSniff(line, nil)
			emit(nil, s.oversize(len(line)))
		} else if t := bytes.TrimSpace(line); len(t) > 0 {
			emit(t, nil)
		}
		s.reset()
	}
}

// newSniff starts reading a new oversize line, whose first bytes are a
// then b.
func (s *Splitter) newSniff(a, b []byte) {
	s.sniff = envelopeSniffer{raw: s.sniff.raw[:0]}
	s.sniff.feed(a)
	s.sniff.feed(b)
}

func (s *Splitter) reset() {
	if cap(s.buf) > carryRetain {
		s.buf = nil
		return
	}
	s.buf = s.buf[:0]
}

func (s *Splitter) oversize(n int) error {
	return &DecodeError{Kind: BadFrameOversize, Type: FrameType(s.sniff.typ), BufferID: s.sniff.bufferID,
		Detail: fmt.Sprintf("line of %d bytes exceeds the %d-byte frame limit; skipped", n, s.max)}
}
