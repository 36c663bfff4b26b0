// Command sdkplugin is a plugin for the host's tests of the SDK 1.0
// capabilities: it takes configuration (settings greeting, refuse, hang,
// unhealthy; secret token), does egress and answers health checks. Its
// name, platforms and version are set at build time (-ldflags "-X
// main.name=… -X main.platforms=a,b -X main.version=…").
//
// A forward's body chooses what it does: "secret" answers the token's
// length (never the token), "pid" its process id, anything else
// "<greeting> <body> (v<version>)".
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/relayhost/relay-host/pluginapi"
)

var (
	name      = "sdk"
	platforms = "sdk"
	version   = "1"
)

type settings struct {
	Greeting  string `json:"greeting"`
	Refuse    bool   `json:"refuse"`
	Hang      bool   `json:"hang"`
	Unhealthy bool   `json:"unhealthy"`
}

type conf struct {
	settings
	token string
}

type sdkPlugin struct{ cur atomic.Pointer[conf] }

func (*sdkPlugin) Info() pluginapi.Info {
	return pluginapi.Info{Name: name, Version: version, Platforms: strings.Split(platforms, ","),
		Config: &pluginapi.ConfigSchema{
			Settings: []pluginapi.SettingSpec{
				{Name: "greeting", Type: pluginapi.SettingString, Required: true},
				{Name: "refuse", Type: pluginapi.SettingBool},
				{Name: "hang", Type: pluginapi.SettingBool},
				{Name: "unhealthy", Type: pluginapi.SettingBool},
			},
			Secrets: []pluginapi.SecretSpec{{Name: "token"}},
		}}
}

func (p *sdkPlugin) Configure(ctx context.Context, c pluginapi.Config) error {
	var s settings
	if err := c.Decode(&s); err != nil {
		return err
	}
	if s.Hang {
		<-ctx.Done()
		return ctx.Err()
	}
	if s.Refuse {
		return errors.New("refusing this configuration as told")
	}
	token, _ := c.Secret("token")
	p.cur.Store(&conf{settings: s, token: token})
	return nil
}

func (p *sdkPlugin) HandleForward(ctx context.Context, f pluginapi.Forward) pluginapi.Result {
	c := p.cur.Load()
	if c == nil {
		return pluginapi.Reject("not configured")
	}
	pluginapi.LoggerFrom(ctx).Info("forward seen")
	var text string
	switch string(f.Body) {
	case "secret":
		text = fmt.Sprintf("token of %d bytes", len(c.token))
	case "pid":
		text = fmt.Sprint(os.Getpid())
	default:
		text = fmt.Sprintf("%s %s (v%s)", c.Greeting, f.Body, version)
	}
	src := pluginapi.SessionSource{Platform: f.Platform, ChatType: pluginapi.ChatTypeDM, ChatID: "c1", DeliveredViaUpstreamRelay: true}
	return pluginapi.Handle(pluginapi.MessageEvent{Text: text, MessageType: pluginapi.MessageTypeText, Source: src, SessionKey: pluginapi.SessionKey(src)})
}

func (p *sdkPlugin) HandleAction(ctx context.Context, a pluginapi.Action) pluginapi.ActionResult {
	switch a.String("content") {
	case "hang":
		<-ctx.Done()
		return pluginapi.ActionFailed("", "gave up: %v", ctx.Err())
	case "slow":
		time.Sleep(50 * time.Millisecond)
	}
	return pluginapi.ActionSent(fmt.Sprintf("%s:%s:%s", a.Op, a.String("chat_id"), version))
}

func (p *sdkPlugin) CheckHealth(context.Context) error {
	if c := p.cur.Load(); c != nil && c.Unhealthy {
		return errors.New("told to be unhealthy")
	}
	return nil
}

func main() { pluginapi.Serve(&sdkPlugin{}) }
