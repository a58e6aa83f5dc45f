// Package postfixtest runs real, throwaway Postfix instances for integration tests: a
// private Postfix per test (Start), Postfix's smtp-sink as the next hop that records what
// arrives (StartSink), and a small SMTP client that reports every reply (Send).
//
// Everything listens on 127.0.0.1 only, on ports drawn at random, under private
// directories, so tests may run in parallel and leave nothing behind. The tests must run
// as root (Postfix's master requires it) on a machine prepared with scripts/test-deps.sh;
// Require fails a test, with the install command, where that was not done.
//
// # How an instance runs
//
// Each instance has its own config_directory, queue_directory and data_directory under
// one directory (see config.go for main.cf and master.cf). Start makes the queue
// directories itself, with the owners and modes of Postfix's postfix-files, and runs
// "master -c DIR -d" as a child of the test process in a process group of its own; no
// postfix(1) command, no postfix-script, no system-wide registration
// (alternate_config_directories only matters to the set-gid postdrop and postqueue, which
// the rig does not use). What makes that fast and reliable, learned the hard way:
//
//   - Postfix does not trust a main.cf changed in the last second or two and sleeps in
//     300 ms steps until it is older; Start backdates the files it writes (1.9 s -> 25 ms).
//   - Readiness is read from /proc (master holds a listening socket on the port), not
//     probed with a connection: a probe would reach smtpd and through it the milter.
//   - There is no syslog daemon: logs go to maillog_file through postlogd, which needs
//     the postlog service in master.cf and the file under maillog_file_prefixes.
//   - Errors in main.cf kill master before it knows where to log, and Postfix writes to
//     stderr only when that is a terminal; on a failed start the rig runs
//     "postfix check" under script(1) to show the error.
//   - Stop is SIGKILL to the whole group: a SIGTERM can leave master blocked for good in
//     sendto(2) to the postlog socket of the postlogd it has just killed.
//   - master's children stay zombies for a second or more after it dies (init reaps them
//     slowly in these containers), so "is the group gone" is read from /proc, not kill(0).
//   - smtpd runs as the postfix user: a unix-socket milter needs a directory that user can
//     traverse (SocketDir) and a socket it may write to (mode 0666).
//   - A client on 127.0.0.1 is on Postfix's own inet_interfaces and would count as local
//     (local_header_rewrite_clients), getting Message-Id/Date headers added and header
//     addresses rewritten; the rig turns that off so messages arrive as sent.
//
// # What the tests showed about milters on Postfix 3.7 (Debian 12)
//
//   - Postfix offers milter protocol 6 (milter_protocol default); go-milter v0.5.0 answers
//     version 2 and Postfix accepts the downgrade without a warning, so the default
//     milter_protocol works and need not be lowered.
//   - Macros arrive per stage, as milter_*_macros say. By default {tls_version}, {cipher}
//     and {cipher_bits} come only with HELO/EHLO. Postfix sends a macro packet at every
//     EHLO: empty before STARTTLS, with the TLS macros after it (the client's second EHLO
//     is a second Helo callback). In a cleartext session the macros are absent, not empty.
//     {tls_version} uses OpenSSL's names ("TLSv1.3", not Go's "TLS 1.3").
//   - go-milter replaces its macro map at every macro packet, so a handler that needs the
//     TLS state at RCPT must keep what it saw at HELO, or the admin adds {tls_version} to
//     milter_rcpt_macros (then it arrives at RCPT too).
//   - Without rDNS (smtpd_peername_lookup = no here) the Connect host is "[127.0.0.1]"
//     and the "_" macro reads "unknown [127.0.0.1]".
//   - NewResponseStr('y', "550 5.7.10 ...") at RCPT refuses that recipient only; the
//     client gets the text unchanged, and the message goes on for the others.
//   - With milter_default_action at its default (tempfail) a milter that cannot be reached
//     lets the greeting and EHLO pass and makes MAIL FROM (and what follows) fail with
//     "451 4.7.1 Service unavailable - try again later".
package postfixtest
