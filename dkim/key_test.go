package dkim

import (
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	rsaKey, rsaPEM, err := GenerateKey("rsa")
	if err != nil {
		t.Fatal(err)
	}
	_, edPEM, err := GenerateKey("ed25519")
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey.(*rsa.PrivateKey))})

	tests := []struct {
		name    string
		data    []byte
		mode    os.FileMode
		wantErr string
	}{
		{"pkcs8 rsa", rsaPEM, 0o600, ""},
		{"pkcs8 ed25519", edPEM, 0o400, ""},
		{"pkcs1 rsa", pkcs1, 0o600, ""},
		{"world readable", rsaPEM, 0o644, "accessible by group or others (mode 0644); run chmod 600"},
		{"group readable", edPEM, 0o640, "accessible by group or others"},
		{"not pem", []byte("hello"), 0o600, "no PEM block"},
		{"certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), 0o600, "unsupported PEM block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))
			if err := os.WriteFile(path, tt.data, tt.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(path, tt.mode) // the umask may have narrowed it
			k, err := LoadKey(path, "example.org", "sel")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || k.Domain != "example.org" || k.Selector != "sel" || k.Signer == nil {
				t.Fatalf("LoadKey: %+v, %v", k, err)
			}
		})
	}
	if _, err := LoadKey(filepath.Join(dir, "missing"), "example.org", "sel"); err == nil {
		t.Fatal("missing file loaded")
	}
}

func TestDNSRecord(t *testing.T) {
	pub := ed25519.PublicKey(make([]byte, 32))
	got, err := DNSRecord(pub)
	if err != nil || got != "v=DKIM1; k=ed25519; p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" {
		t.Fatalf("DNSRecord = %q, %v", got, err)
	}
	k, _, _ := GenerateKey("rsa")
	if got, _ := DNSRecord(k.Public()); !strings.HasPrefix(got, "v=DKIM1; k=rsa; p=MIIBIjAN") {
		t.Fatalf("rsa record %q", got)
	}
	if _, err := DNSRecord("nope"); err == nil {
		t.Fatal("string accepted as a public key")
	}
	if _, _, err := GenerateKey("dsa"); err == nil {
		t.Fatal("dsa accepted")
	}
}

func TestNewSignerRefuses(t *testing.T) {
	ed, _, _ := GenerateKey("ed25519")
	for _, keys := range [][]Key{nil, {{Domain: "example.org", Signer: ed}}, {{Domain: "example.org", Selector: "s"}}} {
		if _, err := NewSigner(keys); err == nil {
			t.Errorf("NewSigner(%+v) accepted", keys)
		}
	}
}

func TestHeaderKeys(t *testing.T) {
	got := strings.Join(headerKeys([]field{{"From", ""}, {"to", ""}, {"To", ""}, {"Received", ""}, {"Cc", ""}}), ":")
	want := "From:From:To:To:To:Cc:Subject:Date"
	if got != want {
		t.Fatalf("h= %s, want %s", got, want)
	}
}
