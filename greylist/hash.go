package greylist

import (
	"crypto/sha256"
	"encoding/hex"
)

// hashHex is the first 128 bits of SHA-256 of s, in hex: the stores keep
// no address in clear, in Redis keys or in the memory store's file. It
// does not make addresses secret (a client network or a known address can
// be hashed and compared); it keeps them out of dumps, key listings and
// logs of the Redis server.
func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// hashes are the hashed client key and the hashed sender and recipient;
// a NUL, which neither can contain, separates the two.
func (k Key) hashes() (client, pair string) {
	return hashHex(k.Client), hashHex(k.Sender + "\x00" + k.Rcpt)
}
