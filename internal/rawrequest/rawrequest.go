// Package rawrequest turns a recorded HTTP request (request line, headers,
// body: what `curl --trace-ascii`, a proxy or a browser's "copy as raw"
// gives) into a plugin forward, the way the connector forwards a request it
// received. `relay-host convert --request` and plugintest.RequestFromFile
// use it, so both see a recorded request exactly as a plugin would.
package rawrequest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/relayhost/relay-host/pluginapi"
)

// ErrTooLarge is the error (wrapped) of a request whose body is over
// pluginapi.MaxBodyBytes.
var ErrTooLarge = errors.New("request body over the plugin body limit")

// Parse reads one raw HTTP/1.x request with net/http and returns it as a
// forward for platform: method, path (with its query), headers and the
// exact body bytes. Header names are lower-cased and listed host first,
// then by name (the values of one name keep their order), without the
// caller's credentials (authorization, proxy-authorization, cookie), which
// a connector never forwards; content-length is the body's. Without a
// Content-Length or chunked encoding, everything after the blank line is
// the body. The request line's target may be a path or an absolute URL.
func Parse(platform string, raw []byte) (pluginapi.Forward, error) {
	br := bufio.NewReader(bytes.NewReader(raw))
	req, err := http.ReadRequest(br)
	if err != nil {
		return pluginapi.Forward{}, fmt.Errorf("not an HTTP request (request line, headers, a blank line, the body): %w", err)
	}
	var body []byte
	if req.ContentLength > 0 || len(req.TransferEncoding) > 0 {
		body, err = io.ReadAll(io.LimitReader(req.Body, pluginapi.MaxBodyBytes+1))
	} else {
		body, err = io.ReadAll(io.LimitReader(br, pluginapi.MaxBodyBytes+1))
	}
	if err != nil {
		return pluginapi.Forward{}, fmt.Errorf("read the request body: %w", err)
	}
	if len(body) > pluginapi.MaxBodyBytes {
		return pluginapi.Forward{}, fmt.Errorf("%w (%d bytes)", ErrTooLarge, pluginapi.MaxBodyBytes)
	}
	path := req.URL.RequestURI()
	return pluginapi.Forward{Platform: platform, Method: req.Method, Path: path,
		Headers: headers(req, len(body)), Body: body}, nil
}

// headers lists a request's headers as a connector forwards them.
func headers(r *http.Request, bodyLen int) []pluginapi.Header {
	names := make([]string, 0, len(r.Header))
	for name := range r.Header {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]pluginapi.Header, 0, len(names)+2)
	if r.Host != "" {
		out = append(out, pluginapi.Header{Name: "host", Value: r.Host})
	}
	for _, name := range names {
		lower := strings.ToLower(name)
		switch lower {
		case "authorization", "proxy-authorization", "cookie", "host", "content-length", "transfer-encoding":
			continue
		}
		for _, v := range r.Header[name] {
			out = append(out, pluginapi.Header{Name: lower, Value: v})
		}
	}
	if bodyLen > 0 {
		out = append(out, pluginapi.Header{Name: "content-length", Value: strconv.Itoa(bodyLen)})
	}
	return out
}

// ParseHeader parses one "Name: value" header line (as curl's -H takes
// it); the name is lower-cased.
func ParseHeader(line string) (pluginapi.Header, error) {
	name, value, ok := strings.Cut(line, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") || strings.ContainsAny(value, "\r\n") {
		return pluginapi.Header{}, fmt.Errorf("header %q: want 'Name: value'", line)
	}
	return pluginapi.Header{Name: strings.ToLower(name), Value: strings.TrimSpace(value)}, nil
}
