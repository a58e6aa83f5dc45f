package soak

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// What the soak messages are. loop.test's SPF record authorizes 127.0.0.0/8,
// its MX exists, 127.0.0.1 is in neither DNS blocklist: spamgate accepts
// these. The designed refusals use a sender domain that does not exist
// (550 5.1.8) or publishes a null MX (550 5.7.27).
const (
	heloName   = "client.loop.test"
	goodSender = "soak@loop.test"
	rcptDomain = "example.net"
	recipients = 4 // user0 … user3: four greylisting triplets

	// Of every 50 messages, one is sent from a domain that does not exist
	// and one from a null-MX domain.
	refusalPeriod = 50
	noDomainSlot  = 7
	nullMXSlot    = 32

	perSession  = 5  // messages per SMTP session at most, as a busy MX sees them
	maxAttempts = 30 // after that a message is "deferred-unresolved": a failure
	cmdTimeout  = 90 * time.Second
)

// outcome is where a message ended.
type outcome int

const (
	pending    outcome = iota
	accepted           // 250 after the final dot
	refused            // 5xx
	unresolved         // 4xx or broken connections until maxAttempts
)

// msg is one soak message and its fate.
type msg struct {
	n      int
	id     string // soak-NNNNNN
	from   string
	rcpt   string
	expect string // enhanced code of the designed refusal; "" for a message that must pass

	attempts  int
	ambiguous bool // the final dot was sent and its reply never read: it may be queued
	outcome   outcome
	last      string // the last reply or error
}

func newMsg(n int) *msg {
	m := &msg{n: n, id: fmt.Sprintf("soak-%06d", n), from: goodSender,
		rcpt: fmt.Sprintf("user%d@%s", n%recipients, rcptDomain)}
	switch n % refusalPeriod {
	case noDomainSlot:
		m.from, m.expect = "soak@nosuch.test", "5.1.8"
	case nullMXSlot:
		m.from, m.expect = "soak@nullmx.test", "5.7.27"
	}
	return m
}

// data is the message: header and a ~3 KB body, CRLF, ending with the dot.
func (m *msg) data() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nSubject: soak message %s\r\n", m.from, m.rcpt, m.id)
	fmt.Fprintf(&b, "Message-ID: <%s.%d@loop.test>\r\nDate: %s\r\n", m.id, m.attempts, time.Now().Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
	for i := range 40 {
		fmt.Fprintf(&b, "%s line %02d: the quick brown fox jumps over the lazy dog, %d times.\r\n", m.id, i, i*m.n)
	}
	b.WriteString(".\r\n")
	return []byte(b.String())
}

// attempt is what one try at sending a message gave.
type attempt struct {
	stage   string // connect, greeting, EHLO, MAIL, RCPT, DATA, message
	code    int    // 0 when err is set
	enh     string // enhanced status code
	text    string
	err     error
	dotSent bool
}

func (a attempt) String() string {
	if a.err != nil {
		return fmt.Sprintf("%s: %v", a.stage, a.err)
	}
	return fmt.Sprintf("%s: %d %s", a.stage, a.code, firstLine(a.text))
}

// cause names why an attempt must be retried, for the table.
func (a attempt) cause() string {
	switch {
	case a.err != nil && a.stage == "connect":
		return "connect failed"
	case a.err != nil:
		return "connection broken"
	case strings.Contains(a.text, "Greylisted"):
		return "greylisted (451 4.7.1)"
	case a.enh == "4.4.3":
		return "sender domain: DNS trouble (451 4.4.3)"
	case strings.Contains(a.text, "Service unavailable - try again later"):
		return fmt.Sprintf("milter unavailable: Postfix tempfail (%d %s)", a.code, a.enh)
	}
	return fmt.Sprintf("other: %d %s at %s", a.code, firstLine(a.text), a.stage)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// session is one SMTP connection to Postfix.
type session struct {
	conn net.Conn
	tp   *textproto.Conn
	sent int
}

func dial(addr string) (*session, attempt) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, attempt{stage: "connect", err: err}
	}
	s := &session{conn: c, tp: textproto.NewConn(c)}
	_ = c.SetDeadline(time.Now().Add(cmdTimeout))
	code, text, err := s.tp.ReadResponse(0)
	if err != nil || code != 220 {
		s.close(false)
		return nil, reply("greeting", code, text, err)
	}
	if a := s.cmd("EHLO", "EHLO "+heloName); a.err != nil || a.code != 250 {
		s.close(a.err == nil)
		return nil, a
	}
	return s, attempt{}
}

func reply(stage string, code int, text string, err error) attempt {
	a := attempt{stage: stage, code: code, text: text, err: err}
	if err != nil { // with expectCode 0, only a network or protocol error
		a.code = 0
		return a
	}
	a.enh, _, _ = strings.Cut(text, " ")
	return a
}

func (s *session) cmd(stage, line string) attempt {
	_ = s.conn.SetDeadline(time.Now().Add(cmdTimeout))
	if err := s.tp.PrintfLine("%s", line); err != nil {
		return attempt{stage: stage, err: err}
	}
	code, text, err := s.tp.ReadResponse(0)
	return reply(stage, code, text, err)
}

// close ends the session, politely when quit is set and the connection
// works.
func (s *session) close(quit bool) {
	if quit {
		_ = s.conn.SetDeadline(time.Now().Add(5 * time.Second))
		if s.tp.PrintfLine("QUIT") == nil {
			_, _, _ = s.tp.ReadResponse(221)
		}
	}
	s.conn.Close()
}

// send tries m once on s. The session may go on only when ok is true.
func (s *session) send(m *msg) (a attempt, ok bool) {
	if a = s.cmd("MAIL", "MAIL FROM:<"+m.from+">"); a.err != nil || a.code != 250 {
		return a, false
	}
	if a = s.cmd("RCPT", "RCPT TO:<"+m.rcpt+">"); a.err != nil || a.code != 250 {
		return a, false
	}
	if a = s.cmd("DATA", "DATA"); a.err != nil || a.code != 354 {
		return a, false
	}
	_ = s.conn.SetDeadline(time.Now().Add(cmdTimeout))
	if _, err := s.tp.W.Write(m.data()); err != nil {
		return attempt{stage: "message", err: err}, false
	}
	if err := s.tp.W.Flush(); err != nil {
		return attempt{stage: "message", err: err, dotSent: true}, false
	}
	code, text, err := s.tp.ReadResponse(0)
	a = reply("message", code, text, err)
	a.dotSent = true
	return a, a.err == nil && a.code == 250
}

// ---- the load ----

// load is the client side of the soak: CONC workers taking messages from a
// queue of fresh ones and one of retries, until every message has ended.
type load struct {
	addr  string
	msgs  []*msg
	fresh chan *msg
	retry chan *msg
	done  chan struct{}
	left  atomic.Int64 // messages not yet ended
	ended atomic.Int64

	mu     sync.Mutex
	events []retryEvent   // every retried attempt
	causes map[string]int // retried attempts by cause
	counts map[outcome]int
	errs   []string // unexpected refusals, unresolved messages: failures
}

type retryEvent struct {
	at    time.Time
	cause string
	eg    string // the attempt, for examples
}

func newLoad(addr string, count int) *load {
	l := &load{addr: addr, msgs: make([]*msg, count), fresh: make(chan *msg, count),
		retry: make(chan *msg, count), done: make(chan struct{}), counts: map[outcome]int{},
		causes: map[string]int{}}
	for i := range l.msgs {
		l.msgs[i] = newMsg(i)
		l.fresh <- l.msgs[i]
	}
	close(l.fresh)
	l.left.Store(int64(count))
	if count == 0 {
		close(l.done)
	}
	return l
}

// run starts conc workers; they return once every message has ended.
func (l *load) run(conc int) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.worker()
		}()
	}
	return &wg
}

func (l *load) worker() {
	var s *session
	defer func() {
		if s != nil {
			s.close(true)
		}
	}()
	fresh := l.fresh
	for {
		var m *msg
		select { // retries first: they are older
		case m = <-l.retry:
		default:
			select {
			case m = <-l.retry:
			case fm, ok := <-fresh:
				if !ok {
					fresh = nil
					continue
				}
				m = fm
			case <-l.done:
				return
			}
		}
		m.attempts++
		var a attempt
		ok := false
		if s == nil {
			s, a = dial(l.addr)
		}
		if s != nil {
			a, ok = s.send(m)
			if ok {
				if s.sent++; s.sent >= perSession {
					s.close(true)
					s = nil
				}
			} else {
				// After any trouble start afresh: a session whose milter
				// failed goes on tempfailing.
				s.close(a.err == nil)
				s = nil
			}
		}
		l.settle(m, a, ok)
	}
}

// settle records the attempt's result: an end, or a retry after a backoff.
func (l *load) settle(m *msg, a attempt, ok bool) {
	m.last = a.String()
	if a.dotSent && a.err != nil {
		m.ambiguous = true
	}
	switch {
	case ok:
		l.end(m, accepted)
		if m.expect != "" {
			l.fail(fmt.Sprintf("%s (sender %s) was accepted; want a %s refusal", m.id, m.from, m.expect))
		}
		return
	case a.err == nil && a.code >= 500:
		l.end(m, refused)
		if m.expect == "" || a.enh != m.expect {
			l.fail(fmt.Sprintf("%s (sender %s) refused unexpectedly: %v", m.id, m.from, a))
		}
		return
	case a.err == nil && a.code < 400: // 2xx/3xx where another code belongs
		l.end(m, unresolved)
		l.fail(fmt.Sprintf("%s: unexpected reply %v", m.id, a))
		return
	}
	l.mu.Lock()
	l.events = append(l.events, retryEvent{at: time.Now(), cause: a.cause(), eg: a.String()})
	l.causes[a.cause()]++
	l.mu.Unlock()
	if m.attempts >= maxAttempts {
		l.end(m, unresolved)
		l.fail(fmt.Sprintf("%s deferred-unresolved after %d attempts, last: %s", m.id, m.attempts, m.last))
		return
	}
	// Back off: greylisting wants a second at least; otherwise grow from
	// 100 ms to 3 s, with jitter so that the workers do not march together.
	d := min(100*time.Millisecond<<min(m.attempts-1, 5), 3*time.Second)
	if strings.HasPrefix(a.cause(), "greylisted") {
		d = max(d, 1100*time.Millisecond)
	}
	d += rand.N(d / 4)
	time.AfterFunc(d, func() { l.retry <- m })
}

// retried counts the retried attempts so far whose cause starts with prefix.
func (l *load) retried(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for c, k := range l.causes {
		if strings.HasPrefix(c, prefix) {
			n += k
		}
	}
	return n
}

func (l *load) end(m *msg, o outcome) {
	m.outcome = o
	l.mu.Lock()
	l.counts[o]++
	l.mu.Unlock()
	l.ended.Add(1)
	if l.left.Add(-1) == 0 {
		close(l.done)
	}
}

func (l *load) fail(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, s)
}

// ---- a client that gives up in the middle of DATA ----

// aborter keeps opening sessions that stop halfway through the message and
// close the connection. Postfix must not queue these: their ids (abort-N)
// must never reach the sink.
type aborter struct {
	addr    string
	stop    chan struct{}
	wg      sync.WaitGroup
	tried   atomic.Int64
	aborted atomic.Int64 // sessions cut after 354 and part of the message
}

func startAborter(addr string, every time.Duration) *aborter {
	a := &aborter{addr: addr, stop: make(chan struct{})}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for n := 0; ; n++ {
			select {
			case <-a.stop:
				return
			case <-t.C:
			}
			a.tried.Add(1)
			if a.once(n) {
				a.aborted.Add(1)
			}
		}
	}()
	return a
}

func (a *aborter) once(n int) bool {
	s, at := dial(a.addr)
	if at.err != nil || s == nil {
		return false
	}
	defer s.conn.Close()
	m := &msg{n: n, id: fmt.Sprintf("abort-%06d", n), from: goodSender, rcpt: "user0@" + rcptDomain}
	for _, c := range [][2]string{{"MAIL", "MAIL FROM:<" + m.from + ">"}, {"RCPT", "RCPT TO:<" + m.rcpt + ">"}} {
		if r := s.cmd(c[0], c[1]); r.err != nil || r.code != 250 {
			return false
		}
	}
	if r := s.cmd("DATA", "DATA"); r.err != nil || r.code != 354 {
		return false
	}
	d := m.data()
	_, _ = s.conn.Write(d[:len(d)/2])
	return true // the deferred Close cuts the connection mid-message
}

func (a *aborter) Stop() {
	close(a.stop)
	a.wg.Wait()
}
