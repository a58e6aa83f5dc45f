package greylist

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"spamgate/internal/redistest"
)

// The store over TLS, against a redis-server with tls-port and a test
// CA: with the right CA it greylists; a misconfiguration is an error of
// Probe (the start fails, naming it), while a server that is down is only
// "down" (on_store_error applies, the start goes on).
func TestRedisTLS(t *testing.T) {
	t.Parallel()
	tlsSrv := redistest.StartTLS(t)
	plain := redistest.Start(t)
	wrongCA := redistest.WrongCA(t)
	deadPort := redistest.FreePort(t)

	tests := []struct {
		name     string
		o        RedisOptions
		wantErr  []string // Probe's error: a misconfiguration
		wantDown bool     // Probe's down: an outage
	}{
		{"right CA", RedisOptions{Addresses: []string{tlsSrv.Addr()}, TLS: true, TLSCAFile: tlsSrv.CAFile}, nil, false},
		{"wrong CA", RedisOptions{Addresses: []string{tlsSrv.Addr()}, TLS: true, TLSCAFile: wrongCA},
			[]string{"greylist redis store at " + tlsSrv.Addr(), "not signed by a CA in " + wrongCA, "tls_ca_file"}, false},
		{"system CAs", RedisOptions{Addresses: []string{tlsSrv.Addr()}, TLS: true},
			[]string{"not signed by a CA in the system's CAs"}, false},
		// A plain-text server reads the handshake as an unfinished inline
		// command and says nothing: it cannot be told from a hung one.
		{"TLS to a plain-text server", RedisOptions{Addresses: []string{plain.Addr()}, TLS: true, TLSCAFile: tlsSrv.CAFile}, nil, true},
		{"TLS server down", RedisOptions{Addresses: []string{"127.0.0.1:" + strconv.Itoa(deadPort)}, TLS: true, TLSCAFile: tlsSrv.CAFile}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Generous, for a loaded machine (the system CAs are read on the
			// first handshake); the outage cases wait for all of it.
			tt.o.KeyPrefix, tt.o.Timeout = testPrefix(t), 2*time.Second
			if tt.wantDown {
				tt.o.Timeout = 300 * time.Millisecond
			}
			s := newRedis(t, tt.o)
			ctx := context.Background()
			down, err := s.Probe(ctx)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("Probe: no error (down %v)", down)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("Probe error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil || (down != nil) != tt.wantDown {
				t.Fatalf("Probe = down %v, err %v; want down %v", down, err, tt.wantDown)
			}
			if tt.wantDown {
				if tt.o.TLS && strings.Contains(down.Error(), "deadline") && !strings.Contains(down.Error(), "does not speak TLS") {
					t.Errorf("a timeout over TLS without the hint: %v", down)
				}
				return
			}
			p := Params{Delay: time.Second}.WithDefaults()
			k := MakeKey(Request{Client: netip.MustParseAddr("192.0.2.7"), Sender: "a@b.example", Rcpt: "c@d.example"}, p)
			if d, err := s.Check(ctx, k, p); err != nil || d.Reason != ReasonNew {
				t.Fatalf("Check over TLS = %+v, %v", d, err)
			}
			if n, err := tlsSrv.Client().DBSize(ctx).Result(); err != nil || n == 0 {
				t.Errorf("keys on the TLS server: %d, %v", n, err)
			}
		})
	}
}
