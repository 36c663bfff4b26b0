package plugintest_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/relayhost/relay-host/pluginapi"
	"github.com/relayhost/relay-host/pluginapi/plugintest"
)

// hello turns a plain-text body into one text event.
type hello struct{}

func (hello) Info() pluginapi.Info {
	return pluginapi.Info{Name: "hello", Version: "0.1.0", Platforms: []string{"hello"}}
}

func (hello) HandleForward(_ context.Context, f pluginapi.Forward) pluginapi.Result {
	text := strings.TrimSpace(string(f.Body))
	if text == "" {
		return pluginapi.Drop("empty body: nothing to say")
	}
	src := pluginapi.SessionSource{Platform: "hello", ChatID: "lobby", ChatType: pluginapi.ChatTypeGroup, UserID: "visitor", Profile: f.Profile}
	return pluginapi.Handle(pluginapi.MessageEvent{Text: text, MessageType: pluginapi.MessageTypeText, Source: src, SessionKey: pluginapi.SessionKey(src)})
}

// ExampleNew runs a plugin in-process, through the same gRPC code relay-host
// uses. In a plugin's tests, t is the test's *testing.T:
//
//	func TestHello(t *testing.T) {
//		h := plugintest.New(t, hello{})
//		...
//	}
func ExampleNew() {
	t := newExampleT()
	defer t.cleanup()

	h := plugintest.New(t, hello{})
	res := h.Body(t, "hello", []byte("hi there\n"))
	fmt.Println(res.Disposition, res.Events[0].Text, res.Events[0].SessionKey)
	res = h.Body(t, "hello", nil)
	fmt.Println(res.Disposition, res.Reason)
	// Output:
	// handled hi there agent:main:hello:group:lobby:visitor
	// dropped empty body: nothing to say
}

// exampleT stands in for the *testing.T an example does not have: it
// implements the testing.TB methods plugintest calls.
type exampleT struct {
	testing.TB // not set: any other method panics
	cleanups   []func()
}

func newExampleT() *exampleT { return &exampleT{} }

func (t *exampleT) Helper()                   {}
func (t *exampleT) Log(args ...any)           {} // the plugin's log; an example prints only its output
func (t *exampleT) Cleanup(f func())          { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) Fatalf(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...); os.Exit(1) }

func (t *exampleT) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}
