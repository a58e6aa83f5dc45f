package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
)

// maxKeyFile bounds what LoadKey reads.
const maxKeyFile = 64 << 10

// LoadKey reads a PEM private key (PKCS#1 "RSA PRIVATE KEY" or PKCS#8
// "PRIVATE KEY", RSA or Ed25519) for domain and selector. A file that group
// or others may access is refused: a leaked key lets anyone sign as the
// domain.
func LoadKey(path, domain, selector string) (Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return Key{}, fmt.Errorf("dkim: key %s/%s: %w", domain, selector, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("dkim: key %s/%s: %w", domain, selector, err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return Key{}, fmt.Errorf("dkim: private key %s is accessible by group or others (mode %04o); run chmod 600 %s", path, perm, path)
	}
	// Read from the file whose mode was checked (not opened again by
	// name: one open less per key, which a table of 20,000 keys notices).
	// An RSA-8192 PEM is under 7 KB: a bigger file is not a key.
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return Key{}, fmt.Errorf("dkim: key %s/%s: %w", domain, selector, err)
	}
	if len(data) > maxKeyFile {
		return Key{}, fmt.Errorf("dkim: key %s/%s: %s is over %d bytes, not a private key", domain, selector, path, maxKeyFile)
	}
	signer, err := ParsePrivateKey(data)
	if err != nil {
		return Key{}, fmt.Errorf("dkim: key %s/%s in %s: %w", domain, selector, path, err)
	}
	k := Key{Domain: domain, Selector: selector, Signer: signer}
	return k, checkKey(k)
}

// ParsePrivateKey decodes the first PEM block of data as a PKCS#1 or PKCS#8
// private key usable for DKIM.
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		switch k := k.(type) {
		case *rsa.PrivateKey:
			return k, nil
		case ed25519.PrivateKey:
			return k, nil
		}
		return nil, fmt.Errorf("unsupported key type %T", k)
	}
	return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
}

// GenerateKey makes a new key: "rsa" (2048 bits, RFC 8301 3.2 says signers
// SHOULD use at least 2048) or "ed25519" (RFC 8463). It returns the key and
// its PKCS#8 PEM encoding, to be written with mode 0600.
func GenerateKey(algo string) (crypto.Signer, []byte, error) {
	var k crypto.Signer
	var err error
	switch algo {
	case "rsa":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ed25519":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, nil, fmt.Errorf("dkim: unknown key algorithm %q (want rsa or ed25519)", algo)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("dkim: generate %s key: %w", algo, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, fmt.Errorf("dkim: encode %s key: %w", algo, err)
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// DNSRecord returns the TXT record to publish at
// <selector>._domainkey.<domain> for pub. RSA keys go out as
// SubjectPublicKeyInfo (RFC 6376 3.6.1, what every verifier reads);
// Ed25519 keys as the bare 32 bytes (RFC 8463 section 4).
func DNSRecord(pub crypto.PublicKey) (string, error) {
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", fmt.Errorf("dkim: encode public key: %w", err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	}
	return "", fmt.Errorf("dkim: unsupported public key type %T", pub)
}
