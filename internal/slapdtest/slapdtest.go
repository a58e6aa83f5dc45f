// Package slapdtest runs a real, throwaway slapd (Debian's OpenLDAP) for
// tests: its cn=config and data are built with slapadd in a temp dir, it
// listens only on ldap://127.0.0.1:FREEPORT/, the test waits until a bind
// works, and it is killed when the test ends. It fails the test, never
// skips it, when slapd is missing: a skipped test looks like a passed one
// in CI.
package slapdtest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"spamgate/internal/proctest"
	"spamgate/internal/testcert"
)

// Absolute paths on purpose: /usr/sbin is not on every test runner's PATH.
const (
	Slapd     = "/usr/sbin/slapd"
	Slapadd   = "/usr/sbin/slapadd"
	SchemaDir = "/etc/ldap/schema"
)

// Suffix is the one database's naming context; AdminDN is its rootdn.
const (
	Suffix  = "dc=example,dc=test"
	AdminDN = "cn=admin," + Suffix
)

const installHint = "run scripts/test-deps.sh as root (make deps), or: apt-get update && " +
	"DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slapd ldap-utils"

// TwoMailboxes is a directory of two mailboxes, alice@example.test and
// bob@example.test, for tests of recipient validation.
const TwoMailboxes = `dn: uid=alice,dc=example,dc=test
objectClass: inetOrgPerson
uid: alice
cn: Alice
sn: A
mail: alice@example.test

dn: uid=bob,dc=example,dc=test
objectClass: inetOrgPerson
uid: bob
cn: Bob
sn: B
mail: bob@example.test
`

// Server is a throwaway slapd. It runs as the test's user (root in CI):
// dropping privileges would need the temp dir to be readable by openldap.
type Server struct {
	// Port, Addr, Kill (as a crash would: MDB survives it), Restart (same
	// port, same data), Pause, Resume.
	proctest.Server
	t        testing.TB
	dir      string
	password string
	tls      *tlsFiles // nil: no StartTLS
}

// Start builds a server whose database holds ldif (LDIF entries under
// Suffix; the suffix entry itself is added when ldif lacks it) and starts
// it.
func Start(t testing.TB, ldif string) *Server {
	t.Helper()
	return start(t, ldif, false)
}

// StartTLS is Start with a self-signed certificate for 127.0.0.1, so that
// clients can use the StartTLS operation; CAFile is the certificate.
func StartTLS(t testing.TB, ldif string) *Server {
	t.Helper()
	return start(t, ldif, true)
}

func start(t testing.TB, ldif string, withTLS bool) *Server {
	t.Helper()
	for _, bin := range []string{Slapd, Slapadd} {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("slapd is needed for these tests: %v; %s", err, installHint)
		}
	}
	s := &Server{t: t, dir: t.TempDir(), password: randomPassword(t)}
	if withTLS {
		s.tls = &tlsFiles{cert: filepath.Join(s.dir, "cert.pem"), key: filepath.Join(s.dir, "key.pem")}
		if err := testcert.WriteSelfSigned(s.tls.cert, s.tls.key, "127.0.0.1"); err != nil {
			t.Fatalf("slapdtest: %v", err)
		}
	}
	if err := build(s.dir, s.password, ldif, s.tls); err != nil {
		t.Fatalf("slapdtest: %v", err)
	}
	t.Cleanup(s.showLog)
	if err := s.Run(t, "slapd", s.launch); err != nil {
		t.Fatalf("slapdtest: %v", err)
	}
	return s
}

func randomPassword(t testing.TB) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("slapdtest: password: %v", err)
	}
	return hex.EncodeToString(b)
}

// showLog shows the server's log when the test failed.
func (s *Server) showLog() {
	if s.t.Failed() {
		s.t.Logf("slapd log (%s):\n%s", s.logPath(), s.log())
	}
}

// launch runs slapd on port and waits until a bind works.
func (s *Server) launch(port int) (*proctest.Process, error) {
	// -d keeps slapd in the foreground; "stats" logs one line per
	// operation, which is what one wants to read when a test fails.
	p, err := proctest.Start([]string{Slapd, "-d", "stats", "-F", filepath.Join(s.dir, "config"), "-h", s.URL() + "/"}, s.logPath())
	if err != nil {
		return nil, fmt.Errorf("slapd: %w", err)
	}
	if err := p.WaitReady(10*time.Second, 10*time.Millisecond, s.tryBind); err != nil {
		return nil, fmt.Errorf("slapd on port %d: %w:\n%s", port, err, s.log())
	}
	return p, nil
}

func (s *Server) tryBind() error {
	c, err := ldap.DialURL(s.URL(), ldap.DialWithDialer(&net.Dialer{Timeout: 200 * time.Millisecond}))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetTimeout(time.Second)
	return c.Bind(AdminDN, s.password)
}

func (s *Server) logPath() string { return filepath.Join(s.dir, "slapd.log") }

func (s *Server) log() string {
	b, _ := os.ReadFile(s.logPath())
	return string(b)
}

// URL is "ldap://127.0.0.1:PORT".
func (s *Server) URL() string { return "ldap://" + s.Addr() }

// BindDN is the rootdn, which may read and write everything.
func (s *Server) BindDN() string { return AdminDN }

// Password is the rootdn's password, random per server.
func (s *Server) Password() string { return s.password }

// BaseDN is the database's suffix.
func (s *Server) BaseDN() string { return Suffix }

// Dir is the server's temp dir (config, db, slapd.log).
func (s *Server) Dir() string { return s.dir }

// CAFile is the server's self-signed certificate, to trust it; "" without TLS.
func (s *Server) CAFile() string {
	if s.tls == nil {
		return ""
	}
	return s.tls.cert
}

// Conn is a connection bound as the rootdn, for changing data during a
// test; it is closed when the test ends.
func (s *Server) Conn() *ldap.Conn {
	s.t.Helper()
	c, err := ldap.DialURL(s.URL())
	if err != nil {
		s.t.Fatalf("slapdtest: dial %s: %v", s.URL(), err)
	}
	s.t.Cleanup(func() { _ = c.Close() })
	c.SetTimeout(5 * time.Second)
	if err := c.Bind(AdminDN, s.password); err != nil {
		s.t.Fatalf("slapdtest: bind as %s: %v", AdminDN, err)
	}
	return c
}
