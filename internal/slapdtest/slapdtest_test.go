package slapdtest

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

const alice = `dn: uid=alice,dc=example,dc=test
objectClass: inetOrgPerson
uid: alice
cn: Alice
sn: A
mail: alice@example.test
`

func search(t *testing.T, c *ldap.Conn, filter string) int {
	t.Helper()
	res, err := c.Search(ldap.NewSearchRequest(Suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, filter, []string{"1.1"}, nil))
	if err != nil {
		t.Fatalf("search %s: %v", filter, err)
	}
	return len(res.Entries)
}

// TestDataSurvivesRestart checks the loaded data, a kill and a restart on
// the same port with the same data.
func TestDataSurvivesRestart(t *testing.T) {
	s := Start(t, alice)
	if n := search(t, s.Conn(), "(mail=alice@example.test)"); n != 1 {
		t.Fatalf("found %d entries, want 1", n)
	}
	port := s.Port()
	s.Kill()
	if _, err := ldap.DialURL(s.URL()); err == nil {
		t.Fatal("dial after Kill worked")
	}
	s.Restart()
	if s.Port() != port {
		t.Fatalf("port %d after restart, was %d", s.Port(), port)
	}
	if n := search(t, s.Conn(), "(uid=alice)"); n != 1 {
		t.Fatalf("after restart found %d entries, want 1", n)
	}
}

func TestWrongPasswordFails(t *testing.T) {
	s := Start(t, "")
	c, err := ldap.DialURL(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Bind(s.BindDN(), s.Password()+"x"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Fatalf("bind with a wrong password: %v, want invalid credentials", err)
	}
}

func TestStartTLS(t *testing.T) {
	s := StartTLS(t, alice)
	pem, err := os.ReadFile(s.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c, err := ldap.DialURL(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	if err := c.Bind(s.BindDN(), s.Password()); err != nil {
		t.Fatalf("bind over TLS: %v", err)
	}
	if n := search(t, c, "(mail=alice@example.test)"); n != 1 {
		t.Fatalf("found %d entries, want 1", n)
	}
}
