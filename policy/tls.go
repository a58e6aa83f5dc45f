package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// TLSFacts describe a session's encryption, from Postfix's macros
// {tls_version}, {cipher} and {cipher_bits}. Version "" means cleartext.
type TLSFacts struct {
	Version string // "TLSv1.3", as OpenSSL spells it; "" = no TLS
	Cipher  string
	Bits    int // 0 when Postfix did not say
}

// knownVersions are the min_tls_version values, oldest first, spelled as
// Postfix's {tls_version} macro and its "protocols" attribute spell them.
func knownVersions() [4]string {
	return [...]string{"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}
}

// tlsVersionRank orders protocol versions; -1 means unknown. It parses
// "TLSvM.N" generally so that a session on a future TLS version still
// satisfies a minimum of TLSv1.3, and ranks SSLv2/SSLv3 below TLSv1.
func tlsVersionRank(v string) int {
	if rest, ok := strings.CutPrefix(v, "SSLv"); ok {
		if !digits(rest, 1) {
			return -1
		}
		n, _ := strconv.Atoi(rest)
		return n
	}
	rest, ok := strings.CutPrefix(v, "TLSv")
	if !ok {
		return -1
	}
	major, minor, dot := strings.Cut(rest, ".")
	if !dot {
		minor = "0" // OpenSSL writes TLS 1.0 as "TLSv1"
	}
	if !digits(major, 1) || !digits(minor, 2) || major == "0" {
		return -1
	}
	ma, _ := strconv.Atoi(major)
	mi, _ := strconv.Atoi(minor)
	return 1000*ma + mi
}

// digits reports whether s is 1 to max ASCII digits.
func digits(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// CheckTLS says whether a session's TLS satisfies the settings. reason is
// for the reply and logs ("accepts mail only over TLS", "accepts mail only
// over TLSv1.2 or better", "requires a cipher of at least 256 bits"); when
// ok, it says why, for explain.
//
// min_tls_version and min_cipher_bits count only when require_tls is set:
// refusing weak TLS where cleartext is welcome would push senders to
// cleartext. An unknown session version or unknown cipher strength does not
// meet a minimum: the requirement is about security, so doubt refuses.
func (s Settings) CheckTLS(t TLSFacts) (ok bool, reason string) {
	if s.RequireTLS == nil || !*s.RequireTLS {
		return true, "TLS not required"
	}
	if t.Version == "" || s.MinTLSVersion != "" && tlsVersionRank(t.Version) < tlsVersionRank(s.MinTLSVersion) {
		return false, s.versionReason()
	}
	if s.MinCipherBits > 0 && t.Bits < s.MinCipherBits {
		return false, fmt.Sprintf("requires a cipher of at least %d bits", s.MinCipherBits)
	}
	if t.Bits > 0 {
		return true, fmt.Sprintf("%s with a %d-bit cipher meets the requirement", t.Version, t.Bits)
	}
	return true, t.Version + " meets the requirement"
}

func (s Settings) versionReason() string {
	if s.MinTLSVersion == "" {
		return "accepts mail only over TLS"
	}
	return "accepts mail only over " + s.MinTLSVersion + " or better"
}
