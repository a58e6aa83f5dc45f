package recipients

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"spamgate/internal/slapdtest"
)

// directoryLDIF: alice has two mail values; carol has an alias the way
// Active Directory keeps them, "smtp:" in front, here in description
// (a schema attribute every server has) in place of proxyAddresses.
const directoryLDIF = `dn: uid=alice,dc=example,dc=test
objectClass: inetOrgPerson
uid: alice
cn: Alice
sn: A
mail: alice@example.test
mail: a.smith@example.test

dn: uid=carol,dc=example,dc=test
objectClass: inetOrgPerson
uid: carol
cn: Carol
sn: C
mail: carol@example.test
description: smtp:sales@example.test
`

const testTimeout = 300 * time.Millisecond

// newLDAPValidator is a validator for example.test backed by s only.
func newLDAPValidator(t *testing.T, s *slapdtest.Server, edit func(*LDAPOptions)) *Validator {
	t.Helper()
	o := &LDAPOptions{
		URL: s.URL(), BindDN: s.BindDN(), Password: s.Password(), BaseDN: s.BaseDN(),
		Filter:  "(|(mail=%s)(description=smtp:%s))",
		Timeout: testTimeout,
	}
	if edit != nil {
		edit(o)
	}
	v, err := New(Options{Domains: []string{"example.test"}, LDAP: o}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// queries is how many searches v has sent.
func queries(v *Validator) int64 { return v.dir.queries.Load() }

func TestLDAPLookups(t *testing.T) {
	s := slapdtest.Start(t, directoryLDIF)
	v := newLDAPValidator(t, s, nil)
	alice, carol := "ldap uid=alice,dc=example,dc=test", "ldap uid=carol,dc=example,dc=test"
	for _, c := range []struct {
		addr   string
		status Status
		source string
	}{
		{"alice@example.test", Known, alice},
		{"<Alice@EXAMPLE.test>", Known, alice},
		{"a.smith@example.test", Known, alice},    // the second mail value
		{"sales@example.test", Known, carol},      // the alternate attribute
		{"alice+news@example.test", Known, alice}, // +extension falls back
		{"sales+x@example.test", Known, carol},
		{"bob@example.test", Unknown, ""},
		{"bob+alice@example.test", Unknown, ""},
		// Filter syntax in an address is data, never syntax.
		{"*)(mail=*@example.test", Unknown, ""},
		{"*@example.test", Unknown, ""},
		{"alice*@example.test", Unknown, ""},
		{"a*@example.test", Unknown, ""},
		{`*)(|(mail=*)@example.test`, Unknown, ""},
		{`\2a@example.test`, Unknown, ""},
		{`"alice"@example.test`, Unknown, ""},
		{"alice@example.test)(mail=*", NotOurs, ""},
		{"*", Unknown, ""},
	} {
		r := check(t, v, c.addr)
		if r.Status != c.status || r.Source != c.source {
			t.Errorf("Check(%q) = %+v, want %v %q", c.addr, r, c.status, c.source)
		}
	}
	if err := v.Healthy(context.Background()); err != nil {
		t.Errorf("Healthy: %v", err)
	}
	if n := v.dir.dials.Load(); n != 1 {
		t.Errorf("%d connections for lookups one after another, want 1", n)
	}
}

func TestLDAPConcurrentLookupsShareThePool(t *testing.T) {
	s := slapdtest.Start(t, directoryLDIF)
	v := newLDAPValidator(t, s, func(o *LDAPOptions) { o.PoolSize = 3; o.Timeout = 5 * time.Second })
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			addr, want := fmt.Sprintf("nobody%d@example.test", i), Unknown
			if i%2 == 0 {
				addr, want = fmt.Sprintf("alice+%d@example.test", i), Known
			}
			if r, err := v.Check(context.Background(), addr); err != nil || r.Status != want {
				t.Errorf("Check(%q) = %+v, %v; want %v", addr, r, err, want)
			}
		})
	}
	wg.Wait()
	if n := v.dir.dials.Load(); n < 1 || n > 3 {
		t.Errorf("%d connections with PoolSize 3", n)
	}
}

func TestLDAPNotOursAsksNothing(t *testing.T) {
	s := slapdtest.Start(t, directoryLDIF)
	v := newLDAPValidator(t, s, nil)
	for _, addr := range []string{"alice@example.org", "alice@sub.example.test", "x@[127.0.0.1]", "alice", "@example.test"} {
		r := check(t, v, addr)
		if r.Status == Known {
			t.Errorf("Check(%q) = %+v", addr, r)
		}
	}
	if n := queries(v); n != 0 {
		t.Fatalf("%d LDAP queries for addresses that need none", n)
	}
}

func TestTableIsAskedBeforeLDAP(t *testing.T) {
	s := slapdtest.Start(t, directoryLDIF)
	table := tableFile(t, "postmaster@example.test\n")
	v, err := New(Options{Domains: []string{"example.test"}, Table: table, LDAP: &LDAPOptions{
		URL: s.URL(), BindDN: s.BindDN(), Password: s.Password(), BaseDN: s.BaseDN(), Timeout: testTimeout,
	}}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if r := wantStatus(t, v, "postmaster@example.test", Known); r.Source != "table "+table+":1" {
		t.Fatalf("source %q", r.Source)
	}
	if n := queries(v); n != 0 {
		t.Fatalf("%d LDAP queries for an address in the table", n)
	}
	wantStatus(t, v, "alice@example.test", Known)
}

func TestLDAPPositiveCacheOutlivesTheServer(t *testing.T) {
	s := slapdtest.Start(t, directoryLDIF)
	v := newLDAPValidator(t, s, nil)
	if r := wantStatus(t, v, "alice@example.test", Known); r.Cached {
		t.Fatal("first answer claims to be cached")
	}
	if n := queries(v); n != 1 {
		t.Fatalf("%d queries, want 1", n)
	}
	s.Kill()
	if r := wantStatus(t, v, "alice@example.test", Known); !r.Cached {
		t.Fatal("second answer not from the cache")
	}
	if r := wantStatus(t, v, "alice+x@example.test", Known); !r.Cached {
		t.Fatal("+extension answer not from the cache")
	}
	wantUnavailable(t, v, "carol@example.test")
}

func TestLDAPNegativeCache(t *testing.T) {
	s := slapdtest.Start(t, directoryLDIF)
	v := newLDAPValidator(t, s, func(o *LDAPOptions) { o.NegativeTTL = 300 * time.Millisecond })
	if r := wantStatus(t, v, "dave@example.test", Unknown); r.Cached {
		t.Fatal("first answer claims to be cached")
	}
	add := ldap.NewAddRequest("uid=dave,dc=example,dc=test", nil)
	add.Attribute("objectClass", []string{"inetOrgPerson"})
	add.Attribute("uid", []string{"dave"})
	add.Attribute("cn", []string{"Dave"})
	add.Attribute("sn", []string{"D"})
	add.Attribute("mail", []string{"dave@example.test"})
	if err := s.Conn().Add(add); err != nil {
		t.Fatal(err)
	}
	if r := wantStatus(t, v, "dave@example.test", Unknown); !r.Cached {
		t.Fatal("second answer not from the cache")
	}
	if n := queries(v); n != 1 {
		t.Fatalf("%d queries, want 1", n)
	}
	eventually(t, "the negative entry to expire", func() bool {
		return check(t, v, "dave@example.test").Status == Known
	})
}

// wantUnavailable checks that Check fails with ErrUnavailable within the
// lookup timeout, and returns the error.
func wantUnavailable(t *testing.T, v *Validator, addr string) error {
	t.Helper()
	start := time.Now()
	r, err := v.Check(context.Background(), addr)
	// Generous: a loaded CI machine is slow, and a hang would take seconds.
	if took := time.Since(start); took > testTimeout+time.Second {
		t.Errorf("Check(%q) took %v, timeout %v", addr, took, testTimeout)
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Check(%q) = %+v, %v; want ErrUnavailable", addr, r, err)
	}
	return err
}

func TestLDAPOutageAndRecovery(t *testing.T) {
	s := slapdtest.Start(t, directoryLDIF)
	v := newLDAPValidator(t, s, nil)
	wantStatus(t, v, "alice@example.test", Known)

	s.Kill() // connection refused, and the pooled connection is dead
	t.Log(wantUnavailable(t, v, "carol@example.test"))
	if err := v.Healthy(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Healthy with the server down: %v", err)
	}
	s.Restart()
	wantStatus(t, v, "carol@example.test", Known)
	if err := v.Healthy(context.Background()); err != nil {
		t.Fatalf("Healthy after restart: %v", err)
	}

	s.Pause() // hung: connects, but nothing answers
	err := wantUnavailable(t, v, "sales@example.test")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not say it timed out", err)
	}
	s.Resume()
	wantStatus(t, v, "sales@example.test", Known)
}

func TestLDAPCancelEndsTheWait(t *testing.T) {
	s := slapdtest.Start(t, directoryLDIF)
	v := newLDAPValidator(t, s, func(o *LDAPOptions) { o.Timeout = 10 * time.Second })
	wantStatus(t, v, "alice@example.test", Known) // a pooled connection to hang on
	s.Pause()
	defer s.Resume()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := v.Check(ctx, "carol@example.test")
	if took := time.Since(start); took > time.Second {
		t.Errorf("Check took %v after its ctx ended", took)
	}
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Check: %v, want ErrUnavailable and DeadlineExceeded", err)
	}
}

func TestLDAPWrongPassword(t *testing.T) {
	s := slapdtest.Start(t, directoryLDIF)
	v := newLDAPValidator(t, s, func(o *LDAPOptions) { o.Password = "wrong" })
	err := wantUnavailable(t, v, "alice@example.test")
	for _, want := range []string{"bind as \"cn=admin,dc=example,dc=test\"", "Invalid Credentials", s.URL()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if err := v.Healthy(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Healthy with a wrong password: %v", err)
	}
}

func TestLDAPMissingBaseDN(t *testing.T) {
	s := slapdtest.Start(t, directoryLDIF)
	v := newLDAPValidator(t, s, func(o *LDAPOptions) { o.BaseDN = "ou=gone,dc=example,dc=test" })
	// No such object is a broken configuration, not an unknown user: tempfail.
	t.Log(wantUnavailable(t, v, "alice@example.test"))
	if err := v.Healthy(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Healthy with a missing base DN: %v", err)
	}
}

func TestLDAPStartTLS(t *testing.T) {
	s := slapdtest.StartTLS(t, directoryLDIF)
	v := newLDAPValidator(t, s, func(o *LDAPOptions) { o.StartTLS, o.CAFile = true, s.CAFile() })
	wantStatus(t, v, "alice@example.test", Known)

	untrusted := newLDAPValidator(t, s, func(o *LDAPOptions) { o.StartTLS = true })
	err := wantUnavailable(t, untrusted, "alice@example.test")
	if !strings.Contains(err.Error(), "StartTLS") || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("error %q does not say the certificate was not trusted", err)
	}
}
