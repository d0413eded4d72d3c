# jitbot — see README.md. `make run` starts the bot, `make test` runs every test.
GO      ?= go
SHELL   := bash
BIN     := bin/jitbot
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: build run test test-deps lint fuzz bench clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/jitbot

# Runs the bot with the configuration in the environment (see README).
run: build
	$(BIN) serve

# Installs redis-server and moto_server when missing, then runs every test
# against the real parts, with the race detector.
# The benchmarks run once each too, so that one that no longer holds its
# own checks fails here and not at the next make bench.
# A failing end-to-end test prints the bot's whole log, which buries its
# own messages; the output also goes to bin/test.log, and on failure the
# failing tests' own lines are repeated at the end.
test: test-deps
	@mkdir -p bin
	@echo "$(GO) test -race -count=1 ./..."
	@$(GO) test -race -count=1 ./... 2>&1 | tee bin/test.log; \
	status=$${PIPESTATUS[0]}; \
	if [ $$status -ne 0 ]; then \
		echo; echo "== what the failing tests said (whole output in bin/test.log) =="; \
		grep -E '^[[:space:]]*(--- FAIL|panic:|[^[:space:]]+_test\.go:[0-9]+: )' bin/test.log | cut -c1-600 | tail -n 200; \
		exit $$status; \
	fi
	$(GO) test -count=1 -run='^$$' -bench=. -benchtime=1x ./...

test-deps:
	@scripts/test-deps.sh

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Runs each fuzz target for FUZZTIME (default 30s); new crashers land in testdata/fuzz.
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParseDuration$$' -fuzztime=$(FUZZTIME) ./internal/rules/
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) ./internal/rules/
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) ./internal/command/
	$(GO) test -run='^$$' -fuzz='^FuzzInteraction$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=10s ./internal/slackapp/handlers/
	$(GO) test -run='^$$' -fuzz='^FuzzSubmission$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=10s ./internal/slackapp/handlers/
	$(GO) test -run='^$$' -fuzz='^FuzzParseAnchor$$' -fuzztime=$(FUZZTIME) ./internal/auditlog/
	$(GO) test -run='^$$' -fuzz='^FuzzParseEvent$$' -fuzztime=$(FUZZTIME) ./internal/incidents/
	$(GO) test -run='^$$' -fuzz='^FuzzParseFileRefs$$' -fuzztime=$(FUZZTIME) ./internal/slackfake/
	$(GO) test -run='^$$' -fuzz='^FuzzVerifySignature$$' -fuzztime=$(FUZZTIME) ./internal/incidents/

# Measures the figures of docs/design.md §6 against the real service (real Redis,
# moto, the Slack fake) and writes BENCHMARKS.md and bench/latest.json.
# Takes several minutes; see BENCHMARKS.md for a quick smoke run.
bench: test-deps
	$(GO) run ./cmd/jitbench -out BENCHMARKS.md -json bench/latest.json

clean:
	rm -rf bin
