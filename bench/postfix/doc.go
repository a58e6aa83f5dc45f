// Package postfix benchmarks spamgate end to end behind a real Postfix:
// Postfix's smtp-source → Postfix smtpd (spamgate as its milter, the floor —
// a milter that negotiates as spamgate does and does nothing else,
// floor_test.go —, a peer, rspamd, as its milter, or no milter at all) →
// Postfix's smtp-sink, everything on loopback, in one run so that the ratios
// compare like with like. spamgate and the floor run over TCP and over a
// unix socket. spamgate runs as a separate process (built from
// cmd/spamgate), the floor as a child of the test binary, and rspamd as its
// own process group (Debian 12's rspamd package, started with a private
// configuration: rspamd_test.go), so that their CPU time and peak RSS can be
// read from /proc.
//
// Run it as root (Postfix's master requires it) after "sh scripts/test-deps.sh bench"
// (which installs rspamd; the benchmark fails without it) with
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 30m ./bench/postfix/
//
// Every scenario sends one message (message_test.go): about 6.7 KB,
// DKIM-signed with RSA 2048 by loop.test, whose DMARC record (p=reject) the
// benchmark adds to the test zone, so that each message costs a milter a
// real signature verification. Each benchmark sends a fixed number of
// messages, whatever b.N says (b.N is only a repeat count). At each concurrency, Postfix alone, the floor and
// spamgate run in alternating rounds (SPAMGATE_BENCH_ROUNDS, default 3), and
// the ratios within a round are reported as medians: the machine drifts
// between runs. SPAMGATE_BENCH_COUNT sets the messages per run at
// concurrency 10 and 50 (default 5000; concurrency 1 sends a tenth of it),
// SPAMGATE_BENCH_PEER_COUNT those of rspamd (default the same; it runs once
// per concurrency), SPAMGATE_BENCH_COLD_COUNT the messages of each cold-DNS
// probe (default 100), SPAMGATE_BENCH_CONC the concurrencies (default
// "1,10,50"). Two memory probes read spamgate's resident set with 200 SMTP
// sessions at once and while one 50 MB message streams through. The
// figures are printed as Markdown tables at the end, ready for
// docs/BENCHMARKS.md. TestRig and TestRigFloorAndUnix (part of go test ./...) run a few
// messages through each set-up to keep the harness working.
package postfix
