package daemon

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const tlsMapConfig = `
[tls_policy_map]
enabled = true
listen = "inet:127.0.0.1:0"
mta_sts = true
mta_sts_ca_file = %q
[[tls_policy_map.nexthop]]
nexthop = "[smarthost.example.net]:587"
policy = "secure match=smarthost.example.net"

[[policy.rule]]
recipient = "tls.example"
require_tls = true
min_tls_version = "TLSv1.2"

[[policy.rule]]
recipient = "praxis.example"
require_tls = true
outbound_tls = "secure match=.mx.praxis.example"

[[policy.rule]]
recipient = "alice@person.example"
require_tls = true
`

// stsAddr is where the MTA-STS policy host of sts.test listens: port 443 on
// a loopback address of its own (tests run as root, like the Postfix ones).
const stsAddr = "127.0.0.44:443"

func TestTLSPolicyMap(t *testing.T) {
	caFile := startPolicyHost(t, "mta-sts.sts.test", "version: STSv1\r\nmode: enforce\r\nmx: mx1.sts.test\r\nmx: *.backup.sts.test\r\nmax_age: 86400\r\n")
	r := startRig(t, fmt.Sprintf(tlsMapConfig, caFile))
	addr := r.d.TLSPolicyMapAddr().String()
	tests := []struct{ name, key, want string }{
		{"domain requiring TLS", "tls.example", "OK encrypt protocols=>=TLSv1.2"},
		{"explicit outbound policy", "praxis.example", "OK secure match=.mx.praxis.example"},
		{"address rules do not apply to a next hop", "person.example", "NOTFOUND "},
		{"nexthop entry", "[smarthost.example.net]:587", "OK secure match=smarthost.example.net"},
		{"MTA-STS enforce", "sts.test", "OK secure match=mx1.sts.test:.backup.sts.test servername=hostname"},
		{"no policy anywhere", "plain.test", "NOTFOUND "},
		{"wrong map name", "tls.example", "PERM unknown map other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mapName := "tlspolicy"
			if strings.HasPrefix(tt.want, "PERM") {
				mapName = "other"
			}
			if got := socketmapQuery(t, addr, mapName, tt.key); got != tt.want {
				t.Errorf("%s: got %q, want %q", tt.key, got, tt.want)
			}
		})
	}
}

// socketmapQuery asks like Postfix does: a netstring "NAME KEY", a netstring back.
func socketmapQuery(t *testing.T, addr, name, key string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	req := name + " " + key
	fmt.Fprintf(c, "%d:%s,", len(req), req)
	br := bufio.NewReader(c)
	lenText, err := br.ReadString(':')
	if err != nil {
		t.Fatalf("read reply: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSuffix(lenText, ":"))
	if err != nil {
		t.Fatalf("bad netstring length %q", lenText)
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(br, buf); err != nil || buf[n] != ',' {
		t.Fatalf("bad netstring: %q, %v", buf, err)
	}
	return string(buf[:n])
}

// startPolicyHost serves an MTA-STS policy over HTTPS for host, with a
// certificate from a throwaway CA whose PEM file it returns. The zone of
// the test rig (testdata/dns/integration.zone) points host and its TXT
// record at it.
func startPolicyHost(t *testing.T, host, policy string) string {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "spamgate test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644)

	ln, err := net.Listen("tcp", stsAddr)
	if err != nil {
		t.Fatalf("listen on %s (the test needs root): %v", stsAddr, err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/.well-known/mta-sts.txt" || r.Host != host {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte(policy))
		}),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: key}}},
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return caFile
}
