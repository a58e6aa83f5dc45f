package mtasts

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		name   string
		text   string
		mode   string
		mx     []string
		maxAge time.Duration
	}{
		{"RFC 8461 3.2 example, CRLF", "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n",
			"enforce", []string{"mail.example.com", "*.example.net", "backupmx.example.com"}, 604800 * time.Second},
		{"LF, no final newline", "version: STSv1\nmode: testing\nmx: mx.example.org\nmax_age: 86400",
			"testing", []string{"mx.example.org"}, 86400 * time.Second},
		{"none without mx", "version: STSv1\nmode: none\nmax_age: 0\n", "none", nil, 0},
		{"any order, no space after colon", "max_age:31557600\nmx:MX.Example.ORG\nmode:enforce\nversion:STSv1\n",
			"enforce", []string{"mx.example.org"}, MaxMaxAge},
		{"whitespace around values", "version:  STSv1 \t\nmode:\tenforce\nmx: mx.example.org  \nmax_age: 60 \n",
			"enforce", []string{"mx.example.org"}, time.Minute},
		{"unknown keys ignored", "version: STSv1\nmode: enforce\nfuture_key: some value: with colon\nx.y-z: \nmx: a.example\nmax_age: 1\n",
			"enforce", []string{"a.example"}, time.Second},
		{"blank lines tolerated", "\nversion: STSv1\n\r\nmode: enforce\n  \nmx: a.example\nmax_age: 10\n\n",
			"enforce", []string{"a.example"}, 10 * time.Second},
		{"leading zeros in max_age", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 0000000010\n",
			"enforce", []string{"a.example"}, 10 * time.Second},
		{"single-label and digit mx", "version: STSv1\nmode: enforce\nmx: localhost\nmx: 1mx.example\nmax_age: 10\n",
			"enforce", []string{"localhost", "1mx.example"}, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePolicy([]byte(tt.text))
			if err != nil {
				t.Fatal(err)
			}
			if p.Version != "STSv1" || p.Mode != tt.mode || !slices.Equal(p.MX, tt.mx) || p.MaxAge != tt.maxAge {
				t.Errorf("got %+v, want mode %s mx %q max_age %v", p, tt.mode, tt.mx, tt.maxAge)
			}
		})
	}
}

func TestParsePolicyErrors(t *testing.T) {
	const ok = "version: STSv1\nmode: enforce\nmx: mx.example.org\nmax_age: 86400\n"
	tests := []struct{ name, text, want string }{
		{"empty", "", "no version"},
		{"no version", "mode: enforce\nmx: a.example\nmax_age: 1\n", "no version"},
		{"no mode", "version: STSv1\nmx: a.example\nmax_age: 1\n", "no mode"},
		{"no max_age", "version: STSv1\nmode: enforce\nmx: a.example\n", "no max_age"},
		{"enforce without mx", "version: STSv1\nmode: enforce\nmax_age: 1\n", "no mx"},
		{"testing without mx", "version: STSv1\nmode: testing\nmax_age: 1\n", "no mx"},
		{"version STSv2", strings.Replace(ok, "STSv1", "STSv2", 1), "version"},
		{"version case", strings.Replace(ok, "STSv1", "stsv1", 1), "version"},
		{"mode case", strings.Replace(ok, "enforce", "Enforce", 1), "mode"},
		{"mode unknown", strings.Replace(ok, "enforce", "report", 1), "mode"},
		{"key case", strings.Replace(ok, "mode", "Mode", 1), "no mode"},
		{"max_age too big", strings.Replace(ok, "86400", "31557601", 1), "exceeds"},
		{"max_age 11 digits", strings.Replace(ok, "86400", "00000000001", 1), "digits"},
		{"max_age negative", strings.Replace(ok, "86400", "-1", 1), "digits"},
		{"max_age empty", strings.Replace(ok, "86400", "", 1), "digits"},
		{"max_age unit", strings.Replace(ok, "86400", "1d", 1), "digits"},
		{"version twice", ok + "version: STSv1\n", "twice"},
		{"mode twice", ok + "mode: testing\n", "twice"},
		{"max_age twice", ok + "max_age: 1\n", "twice"},
		{"wildcard inside", strings.Replace(ok, "mx.example.org", "mx.*.example.org", 1), "invalid mx"},
		{"wildcard alone", strings.Replace(ok, "mx.example.org", "*", 1), "invalid mx"},
		{"wildcard partial", strings.Replace(ok, "mx.example.org", "*mx.example.org", 1), "invalid mx"},
		{"wildcard twice", strings.Replace(ok, "mx.example.org", "*.*.example.org", 1), "invalid mx"},
		{"mx trailing dot", strings.Replace(ok, "mx.example.org", "mx.example.org.", 1), "invalid mx"},
		{"mx empty label", strings.Replace(ok, "mx.example.org", "mx..example.org", 1), "invalid mx"},
		{"mx hyphen", strings.Replace(ok, "mx.example.org", "-mx.example.org", 1), "invalid mx"},
		{"mx underscore", strings.Replace(ok, "mx.example.org", "m_x.example.org", 1), "invalid mx"},
		{"mx U-label", strings.Replace(ok, "mx.example.org", "mx.bücher.example", 1), "invalid mx"},
		{"mx two names", strings.Replace(ok, "mx.example.org", "a.example b.example", 1), "invalid mx"},
		{"mx label too long", strings.Replace(ok, "mx.example.org", strings.Repeat("a", 64)+".example", 1), "invalid mx"},
		{"mx empty", strings.Replace(ok, "mx.example.org", "", 1), "invalid mx"},
		{"no colon", ok + "garbage\n", "no ':'"},
		{"space before colon", ok + "mode : enforce\n", "invalid key"},
		{"leading space", ok + " mx: a.example\n", "invalid key"},
		{"HTML", "<html><body>Not here</body></html>\n", "no ':'"},
		{"key too long", ok + strings.Repeat("k", 33) + ": v\n", "invalid key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePolicy([]byte(tt.text))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParsePolicy = %+v, %v; want error with %q", p, err, tt.want)
			}
		})
	}
}

func TestMatches(t *testing.T) {
	p := &Policy{MX: []string{"mail.example.com", "*.example.net"}}
	tests := []struct {
		mx   string
		want bool
	}{
		{"mail.example.com", true},
		{"MAIL.Example.COM.", true},
		{"mx1.example.net", true},
		{"example.net", false},
		{"a.mx1.example.net", false},
		{".example.net", false},
		{"mail.example.com.evil", false},
		{"xmail.example.com", false},
	}
	for _, tt := range tests {
		if got := p.Matches(tt.mx); got != tt.want {
			t.Errorf("Matches(%q) = %v, want %v", tt.mx, got, tt.want)
		}
	}
}

func TestPostfixPolicy(t *testing.T) {
	tests := []struct {
		name string
		p    *Policy
		want string
	}{
		{"enforce", &Policy{Mode: ModeEnforce, MX: []string{"mx1.example.net", "*.example.net"}},
			"secure match=mx1.example.net:.example.net servername=hostname"},
		{"duplicates", &Policy{Mode: ModeEnforce, MX: []string{"a.example", "a.example", "*.b.example"}},
			"secure match=a.example:.b.example servername=hostname"},
		{"testing", &Policy{Mode: ModeTesting, MX: []string{"a.example"}}, ""},
		{"none", &Policy{Mode: ModeNone}, ""},
		{"nil", nil, ""},
	}
	for _, tt := range tests {
		if got := tt.p.PostfixPolicy(); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// FuzzParsePolicy: ParsePolicy never panics, and what it accepts obeys RFC 8461 3.2.
func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{
		"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n",
		"version: STSv1\nmode: none\nmax_age: 0",
		"version: STSv1\nmode: testing\nmx: a\nmax_age: 31557600\nx: y\n",
		"mode:enforce\nversion:STSv1\nmx:*.*.a\nmax_age:99999999999\n",
		"\n\r\n:\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		p, err := ParsePolicy(text)
		if err != nil {
			return
		}
		if p.Version != "STSv1" || p.MaxAge < 0 || p.MaxAge > MaxMaxAge {
			t.Fatalf("accepted %+v", p)
		}
		if p.Mode != ModeEnforce && p.Mode != ModeTesting && p.Mode != ModeNone {
			t.Fatalf("accepted mode %q", p.Mode)
		}
		if len(p.MX) == 0 && p.Mode != ModeNone {
			t.Fatalf("accepted mode %s without mx", p.Mode)
		}
		for _, mx := range p.MX {
			if !validPattern(mx) || strings.ToLower(mx) != mx || strings.Count(mx, "*") > 1 {
				t.Fatalf("accepted mx %q", mx)
			}
		}
		pp := p.PostfixPolicy()
		if strings.ContainsAny(pp, "*\r\n\t,") || (pp == "") != (p.Mode != ModeEnforce) {
			t.Fatalf("PostfixPolicy %q of %+v", pp, p)
		}
	})
}
