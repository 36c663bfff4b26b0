package main

import (
	"fmt"
	"io"

	"github.com/hashicorp/go-hclog"
)

// logFlags are the shared --log-level and --log-format flags.
type logFlags struct {
	level, format string
}

func (fs *flagSet) logFlags(lf *logFlags, defLevel string) {
	fs.stringVar(&lf.level, "log-level", "RELAY_LOG_LEVEL", defLevel, "log level: trace, debug, info, warn or error (plugins get the same level)")
	fs.stringVar(&lf.format, "log-format", "RELAY_LOG_FORMAT", "text", "log format: text or json")
}

// logger builds the host logger; logs go to w (stderr).
func (lf logFlags) logger(w io.Writer) (hclog.Logger, error) {
	level := hclog.LevelFromString(lf.level)
	if level == hclog.NoLevel {
		return nil, fmt.Errorf("--log-level %q: want trace, debug, info, warn or error", lf.level)
	}
	if lf.format != "text" && lf.format != "json" {
		return nil, fmt.Errorf("--log-format %q: want text or json", lf.format)
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       "relay-host",
		Level:      level,
		Output:     w,
		JSONFormat: lf.format == "json",
	}), nil
}
