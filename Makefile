# spamgate build, run and test entry points. POSIX make; recipes are plain sh.

GO = go

.PHONY: all deps test build run bench fuzz deb

all: test

# Debian packages the integration tests need (Postfix, Redis, OpenLDAP); fast when present.
deps:
	sh scripts/test-deps.sh

# Every test: vet, gofmt, then all packages with the race detector (including the
# end-to-end test through a real Postfix).
test: deps
	$(GO) vet ./...
	@files=$$(gofmt -l .); if [ -n "$$files" ]; then echo "gofmt needed:"; echo "$$files"; exit 1; fi
	$(GO) test -race -count=1 ./...

build:
	$(GO) build -o bin/spamgate ./cmd/spamgate

# Debian package in dist/ (dpkg-deb only): static release binary, systemd unit,
# conffile, maintainer scripts from packaging/. scripts/build-deb.sh says more.
deb: build
	sh scripts/build-deb.sh

# Run spamgate on its built-in defaults: milter on inet:127.0.0.1:8891, no Redis needed.
run: build
	./bin/spamgate serve

# Benchmarks print figures; they assert nothing about time (docs/BENCHMARKS.md).
bench:
	$(GO) test -run '^$$' -bench . -benchtime 3000x ./bench/
	$(GO) test -run '^$$' -bench . -benchmem ./dkim/ ./policy/ ./policyredis/ ./greylist/
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./bench/postfix/

# A short run of every fuzz target (go test runs their seed corpora in `make test`).
fuzz:
	for p in ./authres ./config ./dnsbl ./spf ./dnsx ./policy ./iprev ./greylist ./recipients ./spamc; do \
		for f in $$($(GO) test -list 'Fuzz.*' $$p | grep ^Fuzz); do \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 20s $$p || exit 1; \
		done; \
	done
