// Package mtarig holds the helpers the Postfix load harnesses (bench/postfix,
// the end-to-end benchmark, and soak, the long run with faults) share to run
// spamgate as a separate process behind a real Postfix: spamgate's
// configuration with every check on, building and starting the binary and
// waiting until it is ready, Postfix's tuning and milter settings, the test
// DNS server, process groups, and CPU and memory read from /proc.
//
// Everything listens on loopback only. It is test support: the functions
// fail the test (testing.TB) rather than return errors where a rig cannot
// be set up.
package mtarig
