# workermand — build, test, lint, bench.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X github.com/workermand/workermand/cli.Version=$(VERSION)
# Seconds each fuzz target gets in the smoke run (CI).
FUZZTIME ?= 5s

.PHONY: build run test test-race test-norace test-race-binary verify-unit fuzz-smoke lint bench clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/workermand ./cmd/workermand

# The README's main job: the embedded demo, a text echo server on :2347.
run: build
	./bin/workermand start

# vet, the suite with -race, the suite again without it (the allocation tests
# only build there, since the race runtime allocates, and race builds poison
# message buffers through private copies, so only this pass runs the loop's
# production buffer path), and a short run of every fuzzer.
test: lint test-race test-norace test-race-binary verify-unit fuzz-smoke

test-race:
	$(GO) test -race -shuffle=on -count=1 -timeout 10m ./...

test-norace:
	$(GO) test -shuffle=on -count=1 -timeout 10m ./...

# The daemon's integration tests once more, against binaries built with -race:
# a data race reported by a master or a child fails the test.
test-race-binary:
	WORKERMAND_RACE_BINARY=1 $(GO) test -count=1 -timeout 10m ./test/

# systemd-analyze verify on the shipped unit, with the built binary in place.
verify-unit: build
	./systemd/verify.sh bin/workermand

# A failing fuzzer that wrote no crasher into testdata/fuzz (the engine timed
# out a worker on a loaded machine) gets one more try; a real finding is a
# file there and fails at once, with the fuzzer's output.
fuzz-smoke:
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
		pkg=$$(dirname $$f); \
		for t in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | cut -d' ' -f2); do \
			echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
			for try in 1 2; do \
				if (cd $$pkg && $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) . >/tmp/fuzz-$$t.log 2>&1); then break; fi; \
				tail -20 /tmp/fuzz-$$t.log; \
				if [ $$try = 2 ] || [ -n "$$(git status --porcelain -- $$pkg/testdata/fuzz/$$t)" ]; then \
					echo "fuzz $$t failed: rerun with: (cd $$pkg && $(GO) test -run '^$$' -fuzz '^$$t$$' .)"; exit 1; \
				fi; \
				echo "fuzz $$t: no crasher written; trying once more"; \
			done; \
		done; \
	done

# gofmt, vet, and a build for macOS, which must fail with internal/linuxonly's
# one error (workermand needs Linux) and nothing else: a Linux-only package
# without the guard would bury that under undefined names.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd bench && $(GO) vet ./...
	@out=$$(GOOS=darwin GOARCH=arm64 $(GO) build ./... 2>&1); \
	if [ -z "$$out" ] || echo "$$out" | grep -v '^#' | grep -qv 'undefined: workermand_runs_on_Linux_only__its_event_loop_is_epoll$$'; then \
		echo "GOOS=darwin go build ./... should fail with internal/linuxonly's error alone; it gave:"; echo "$${out:-nothing}"; exit 1; \
	fi

# Micro-benchmarks of the hot paths; the event loop against gnet and a
# goroutine-per-connection server under the same load generator; the daemon's
# start, reload, status and failed requests during reloads; what it costs
# at rest and per idle connection.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...
	cd bench && $(GO) run ./cmd/benchrun -workermand ../bin/workermand
	cd bench && $(GO) run ./cmd/daemonbench -workermand ../bin/workermand
	cd bench && $(GO) run ./cmd/idlebench -workermand ../bin/workermand
	cd bench && $(GO) run ./cmd/httpbench -workermand ../bin/workermand
	cd bench && $(GO) run ./cmd/wsbench -workermand ../bin/workermand

clean:
	rm -rf bin
