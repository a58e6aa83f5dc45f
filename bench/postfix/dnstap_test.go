package postfix

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// dnsTap is a DNS forwarder that records when each question arrives and when
// its answer came back, so that the cold-DNS probe can show which lookups of a
// message overlap and which wait for one another. It adds well under a
// millisecond to an answer that takes 50.
type dnsTap struct {
	Addr     string
	upstream string

	mu  sync.Mutex
	log []tapEntry
}

type tapEntry struct {
	at, done time.Time
	question string // "name TYPE"
}

func startTap(tb testing.TB, upstream string) *dnsTap {
	tb.Helper()
	var pc net.PacketConn
	var ln net.Listener
	for attempt := 0; ln == nil; attempt++ { // a port free on both UDP and TCP
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			tb.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err != nil {
			pc.Close()
			if attempt == 20 {
				tb.Fatal(err)
			}
		}
	}
	t := &dnsTap{Addr: pc.LocalAddr().String(), upstream: upstream}
	for _, srv := range []*dns.Server{
		{PacketConn: pc, Handler: dns.HandlerFunc(t.serve)},
		{Listener: ln, Handler: dns.HandlerFunc(t.serve)},
	} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		tb.Cleanup(func() { _ = srv.Shutdown() })
	}
	return t
}

func (t *dnsTap) serve(w dns.ResponseWriter, req *dns.Msg) {
	at := time.Now()
	c := &dns.Client{Net: w.LocalAddr().Network(), Timeout: 5 * time.Second, UDPSize: dns.MaxMsgSize}
	resp, _, err := c.Exchange(req, t.upstream)
	if err != nil {
		resp = new(dns.Msg)
		resp.SetRcode(req, dns.RcodeServerFailure)
	}
	q := "?"
	if len(req.Question) > 0 {
		q = req.Question[0].Name + " " + dns.TypeToString[req.Question[0].Qtype]
	}
	t.mu.Lock()
	t.log = append(t.log, tapEntry{at: at, done: time.Now(), question: q})
	t.mu.Unlock()
	_ = w.WriteMsg(resp)
}

// Mark returns the position to read the log from later.
func (t *dnsTap) Mark() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.log)
}

// lastMessage describes the lookups of the last message since mark: those
// asked from shortly before the last question for first (a lookup every
// message makes in its first wave) on, in arrival order, with times relative
// to the first of them.
func (t *dnsTap) lastMessage(mark int, first string) string {
	t.mu.Lock()
	entries := append([]tapEntry(nil), t.log[mark:]...)
	t.mu.Unlock()
	slices.SortFunc(entries, func(a, b tapEntry) int { return a.at.Compare(b.at) })
	var from time.Time
	for _, e := range entries {
		if e.question == first {
			from = e.at.Add(-10 * time.Millisecond) // its wave's other questions may come first
		}
	}
	if from.IsZero() {
		return fmt.Sprintf("(no question %q seen)\n", first)
	}
	i, _ := slices.BinarySearchFunc(entries, from, func(e tapEntry, t time.Time) int { return e.at.Compare(t) })
	entries = entries[i:]
	var b strings.Builder
	fmt.Fprintln(&b, "| question | asked at | answered at |")
	fmt.Fprintln(&b, "| --- | --- | --- |")
	t0 := entries[0].at
	for _, e := range entries {
		fmt.Fprintf(&b, "| `%s` | +%.0f ms | +%.0f ms |\n", e.question,
			float64(e.at.Sub(t0).Microseconds())/1000, float64(e.done.Sub(t0).Microseconds())/1000)
	}
	return b.String()
}
