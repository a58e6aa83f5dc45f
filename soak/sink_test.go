package soak

import (
	"bufio"
	"bytes"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sink is an SMTP server that Postfix relays to. It keeps no message: it
// records the soak id in each message's Subject and answers 250.
type sink struct {
	Addr string

	ln       net.Listener
	mu       sync.Mutex
	got      map[string]int // id → deliveries
	noID     int            // messages without a soak id
	total    atomic.Int64
	sessions atomic.Int64
	wg       sync.WaitGroup
}

var idPattern = regexp.MustCompile(`\b((?:soak|abort)-\d+)\b`)

func startSink(t *testing.T) *sink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{Addr: ln.Addr().String(), ln: ln, got: make(map[string]int)}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *sink) accept() {
	defer s.wg.Done()
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.sessions.Add(1)
		conns.Add(1)
		go func() {
			defer conns.Done()
			defer c.Close()
			s.serve(c)
		}()
	}
}

// serve speaks just enough ESMTP for Postfix's smtp client, pipelining
// included: replies are flushed whenever no more input is buffered.
func (s *sink) serve(c net.Conn) {
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriter(c)
	reply := func(lines ...string) bool {
		for _, l := range lines {
			w.WriteString(l)
			w.WriteString("\r\n")
		}
		if r.Buffered() > 0 {
			return true
		}
		return w.Flush() == nil
	}
	if !reply("220 sink.soak.test ESMTP") {
		return
	}
	for {
		_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
		line, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(string(bytes.TrimSpace(line)))
		if i := strings.IndexAny(verb, " :"); i >= 0 {
			verb = verb[:i]
		}
		var ok bool
		switch verb {
		case "EHLO":
			ok = reply("250-sink.soak.test", "250-PIPELINING", "250-8BITMIME", "250 SIZE 0")
		case "HELO", "MAIL", "RCPT", "RSET", "NOOP":
			ok = reply("250 2.0.0 Ok")
		case "DATA":
			if !reply("354 End data with <CR><LF>.<CR><LF>") {
				return
			}
			if w.Flush() != nil { // the client waits for 354 before it sends the message
				return
			}
			id, err := readData(r)
			if err != nil {
				return
			}
			s.record(id)
			ok = reply("250 2.0.0 Ok: queued")
		case "QUIT":
			reply("221 2.0.0 Bye")
			_ = w.Flush()
			return
		default:
			ok = reply("502 5.5.2 Command not recognized")
		}
		if !ok {
			return
		}
	}
}

// readData reads a message up to the lone dot and returns the soak id of
// its Subject ("" when there is none).
func readData(r *bufio.Reader) (string, error) {
	var id string
	header := true
	for {
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull { // a long line: the rest follows
			header = header && len(bytes.TrimSpace(line)) > 0
			for err == bufio.ErrBufferFull {
				_, err = r.ReadSlice('\n')
			}
			continue
		}
		if err != nil {
			return "", err
		}
		if bytes.Equal(line, []byte(".\r\n")) || bytes.Equal(line, []byte(".\n")) {
			return id, nil
		}
		if !header {
			continue
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			header = false
			continue
		}
		if id == "" && len(line) > 8 && strings.EqualFold(string(line[:8]), "subject:") {
			if m := idPattern.FindSubmatch(line); m != nil {
				id = string(m[1])
			}
		}
	}
}

func (s *sink) record(id string) {
	s.total.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == "" {
		s.noID++
		return
	}
	s.got[id]++
}

// Deliveries returns how many times id arrived.
func (s *sink) Deliveries(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[id]
}

// Snapshot returns a copy of the counts and the messages without an id.
func (s *sink) Snapshot() (map[string]int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]int, len(s.got))
	for k, v := range s.got {
		m[k] = v
	}
	return m, s.noID
}
