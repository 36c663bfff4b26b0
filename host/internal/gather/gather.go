// Package gather provides a net.Conn wrapper that can gather writes and send
// them in one syscall, and that bounds every write by a timeout. The relay
// transport and the load connector put it under their WebSocket
// connections: frames written back to back (acks and replies of many
// forwards at once, or a burst of forwards) then cost one write instead of
// one each, while each frame is still its own WebSocket message.
package gather

import (
	"net"
	"sync"
	"time"
)

// flushAt bounds the bytes gathered: past it, they are sent even while
// held. 64 KiB is a few dozen typical frames, enough for one write to carry
// a burst, and small enough that the buffer never needs to grow.
const flushAt = 64 << 10

// Conn is a net.Conn whose writes can be held and sent together. It is safe
// for concurrent use.
type Conn struct {
	net.Conn
	timeout time.Duration

	mu   sync.Mutex
	held bool
	buf  []byte
	err  error // the first write error; every later write fails with it
}

// New wraps c; every write to c is bounded by timeout (0: no bound).
func New(c net.Conn, timeout time.Duration) *Conn {
	return &Conn{Conn: c, timeout: timeout}
}

// Write sends p, or adds it to the held bytes.
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if !c.held {
		return c.writeLocked(p)
	}
	if len(c.buf)+len(p) > flushAt {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > flushAt {
			return c.writeLocked(p)
		}
	}
	if c.buf == nil {
		c.buf = make([]byte, 0, flushAt)
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

// flushLocked sends the gathered bytes.
func (c *Conn) flushLocked() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.writeLocked(c.buf)
	c.buf = c.buf[:0]
	return err
}

func (c *Conn) writeLocked(p []byte) (int, error) {
	if c.timeout > 0 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	}
	n, err := c.Conn.Write(p)
	if err != nil {
		c.err = err
	}
	return n, err
}

// Hold makes writes gather until Release.
func (c *Conn) Hold() {
	c.mu.Lock()
	c.held = true
	c.mu.Unlock()
}

// Release sends what was gathered, in one write, and stops gathering. Its
// error is the write's: every write gathered since Hold is then lost, as
// it would be with a connection that broke after a write returned.
func (c *Conn) Release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = false
	if c.err != nil {
		c.buf = c.buf[:0]
		return c.err
	}
	return c.flushLocked()
}

// Held returns the number of bytes gathered and not yet sent.
func (c *Conn) Held() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.buf)
}

// Listener wraps every connection accepted by a net.Listener in a Conn.
type Listener struct {
	net.Listener
	// Timeout bounds every write of the accepted connections.
	Timeout time.Duration
}

// Accept implements net.Listener.
func (l Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return New(c, l.Timeout), nil
}
