# relay-host build entry point. `make build` puts relay-host in bin/ and the
# bundled plugins in bin/plugins/, where bin/relay-host finds them with no
# flags.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
PLUGINS  := discord twilio
FUZZTIME ?= 10000x
# Where a plugin author may work: the SDK, the bundled plugins and the
# examples must build there (see the cross target).
CROSS    := darwin/arm64 windows/amd64

.PHONY: all build cross demo test test-race fuzz bench generate clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/relay-host ./cmd/relay-host
	@mkdir -p bin/plugins
	@for p in $(PLUGINS); do \
		$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/plugins/relay-plugin-$$p ./plugins/$$p || exit 1; \
	done
	@chmod go-w bin/plugins bin/plugins/relay-plugin-*  # relay-host refuses plugins others may write (umask 002)

# The README's first command: build, then show the whole flow on loopback.
demo: build
	./bin/relay-host dev --demo

# The README's second command, and what CI runs: the cross-compile check,
# vet, the whole suite with the race detector, then each fuzz target for a
# bounded time.
test: cross
	$(GO) vet ./...
	$(GO) test -race -count=1 -parallel 4 ./...
	$(MAKE) fuzz

# The author-facing packages (pluginapi and everything under it) and every
# bundled and example plugin, built for each of CROSS: a plugin author on a
# Mac or on Windows can build a plugin. Building is the check; nothing runs.
cross:
	@for t in $(CROSS); do \
		echo "cross-compile for $$t: ./pluginapi/... ./plugins/... ./examples/..."; \
		GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) build ./pluginapi/... ./plugins/... ./examples/... || exit 1; \
	done

# Every fuzz target in the module, each for FUZZTIME (the seed corpora in
# testdata/ always run as part of `go test`).
fuzz:
	./scripts/fuzz-all $(FUZZTIME)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

generate:
	$(GO) generate ./...

clean:
	rm -rf bin
