package slapdtest

// tlsFiles are the PEM files slapd serves StartTLS with.
type tlsFiles struct{ cert, key string }
