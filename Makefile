# workermand — build, test, lint, bench.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# The commit's date, not the clock's: the same commit builds the same binary.
BUILD_DATE ?= $(shell git log -1 --format=%cI 2>/dev/null)
LDFLAGS  := -X github.com/workermand/workermand/internal/cliapp.Version=$(VERSION) -X github.com/workermand/workermand/internal/cliapp.BuildDate=$(BUILD_DATE)
# The fuzz smoke run (CI) shares FUZZBUDGET seconds evenly among the fuzz
# targets, so more targets do not lengthen it; each gets at least a second.
# FUZZTIME (e.g. 30s) gives every target that much instead.
FUZZBUDGET ?= 60
FUZZTIME ?=

PREFIX ?= /usr/local

.PHONY: build install man run test test-race test-norace test-race-binary verify-unit fuzz-smoke lint bench clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/workermand ./cmd/workermand

# The man pages, one per command, from the cobra tree (internal/tools/mangen).
man:
	$(GO) run -ldflags "$(LDFLAGS)" ./internal/tools/mangen -o man

# A layout Debian's tools and a local admin both expect: the binary, the man
# pages, shell completions, the systemd unit (naming this binary), and the
# example config as documentation only: a live /etc/workermand/workermand.toml
# would replace the embedded demo. DESTDIR stages a package.
SHARE := $(DESTDIR)$(PREFIX)/share
install: build man
	install -D -m 0755 bin/workermand $(DESTDIR)$(PREFIX)/bin/workermand
	install -d $(SHARE)/man/man1
	install -m 0644 man/*.1 $(SHARE)/man/man1/
	install -d $(SHARE)/bash-completion/completions $(SHARE)/zsh/vendor-completions $(SHARE)/fish/vendor_completions.d
	bin/workermand completion bash > $(SHARE)/bash-completion/completions/workermand
	bin/workermand completion zsh > $(SHARE)/zsh/vendor-completions/_workermand
	bin/workermand completion fish > $(SHARE)/fish/vendor_completions.d/workermand.fish
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed 's|/usr/bin/workermand|$(PREFIX)/bin/workermand|g' systemd/workermand.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/workermand.service
	install -D -m 0644 configs/workermand.example.toml $(SHARE)/doc/workermand/examples/workermand.example.toml

# The README's main job: the embedded demo, a chat at http://127.0.0.1:8080/
# and a text echo on 127.0.0.1:2347.
run: build
	./bin/workermand start

# vet, the suite with -race, the suite again without it (the allocation tests
# only build there, since the race runtime allocates, and race builds poison
# message buffers through private copies, so only this pass runs the loop's
# production buffer path), and a short run of every fuzzer. Each stage's
# time is printed: CI has 20 minutes on 2 cores.
TEST_STAGES := lint test-race test-norace test-race-binary verify-unit fuzz-smoke
test:
	@t0=$$(date +%s); for s in $(TEST_STAGES); do \
		t=$$(date +%s); \
		if ! $(MAKE) --no-print-directory $$s; then echo "stage $$s: failed after $$(($$(date +%s) - t)) s"; exit 1; fi; \
		echo "stage $$s: $$(($$(date +%s) - t)) s"; \
	done; echo "stages total: $$(($$(date +%s) - t0)) s"

# The integration tests (test/) are left to test-race-binary: their process
# only drives sockets and runs none of the daemon's code (it imports just
# logtest's pure function), so under -race here they would race-check the
# harness alone, against daemons built without -race.
test-race:
	@pkgs=$$($(GO) list ./...) && pkgs=$$(echo "$$pkgs" | grep -v '/test$$') && \
		echo "$(GO) test -race -shuffle=on -count=1 -timeout 10m <every package but test/>" && \
		$(GO) test -race -shuffle=on -count=1 -timeout 10m $$pkgs

test-norace:
	$(GO) test -shuffle=on -count=1 -timeout 10m ./...

# The daemon's integration tests once more, against binaries built with -race:
# a data race reported by a master or a child fails the test. The harness is
# built with -race too, as test-race would have. The examples' tests are left
# out: they are user programs over the public API, whose concurrency the
# workerman package's own tests already run under -race, and building them
# all with -race costs CI about a minute.
test-race-binary:
	WORKERMAND_RACE_BINARY=1 $(GO) test -race -count=1 -timeout 10m -skip '^TestExample' ./test/

# systemd-analyze verify on the shipped unit, with the built binary in place.
verify-unit: build
	./systemd/verify.sh bin/workermand

# A failing fuzzer that wrote no crasher into testdata/fuzz gets two more
# tries: the engine may time out a worker on a loaded machine, and Go 1.26's
# coordinator may report its own -fuzztime deadline as "context deadline
# exceeded" (go.dev/issue/75804; seen here once in 27 targets), whatever the
# duration. A real finding is a file there and fails at once, with the
# fuzzer's output.
fuzz-smoke:
	@set -e; files=$$(grep -rl --include='*_test.go' '^func Fuzz' .); \
	n=$$(cat $$files | grep -c '^func Fuzz'); \
	each="$(FUZZTIME)"; [ -n "$$each" ] || each="$$(( $(FUZZBUDGET) * 1000 / n > 1000 ? $(FUZZBUDGET) * 1000 / n : 1000 ))ms"; \
	echo "fuzz: $$n targets, $$each each"; \
	for f in $$files; do \
		pkg=$$(dirname $$f); \
		for t in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | cut -d' ' -f2); do \
			echo "fuzz $$pkg $$t ($$each)"; \
			for try in 1 2 3; do \
				if (cd $$pkg && $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $$each . >/tmp/fuzz-$$t.log 2>&1); then break; fi; \
				tail -20 /tmp/fuzz-$$t.log; \
				if [ $$try = 3 ] || [ -n "$$(git status --porcelain -- $$pkg/testdata/fuzz/$$t)" ]; then \
					echo "fuzz $$t failed: rerun with: (cd $$pkg && $(GO) test -run '^$$' -fuzz '^$$t$$' .)"; exit 1; \
				fi; \
				echo "fuzz $$t: no crasher written; trying again"; \
			done; \
		done; \
	done

# gofmt, vet (of bench/ and examples/ too, modules of their own: examples/
# builds as a user's program would, through a replace), and a build for
# macOS, which must fail with internal/linuxonly's one error (workermand
# needs Linux) and nothing else: a Linux-only package without the guard
# would bury that under undefined names.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd bench && $(GO) vet ./...
	cd examples && $(GO) vet ./...
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
	rm -rf bin man
