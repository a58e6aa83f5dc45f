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
	h := hash128(s)
	return hex.EncodeToString(h[:])
}

// hash128 is the first 128 bits of SHA-256 of s.
func hash128(s string) [16]byte {
	sum := sha256.Sum256([]byte(s))
	return [16]byte(sum[:16])
}

// hashes are the hashed client key and the hashed sender and recipient;
// a NUL, which neither can contain, separates the two.
func (k Key) hashes() (client, pair string) {
	return hashHex(k.Client), hashHex(k.Sender + "\x00" + k.Rcpt)
}

// memKeys are the memory store's keys of k: the client key's hash (of the
// auto-whitelist counter) and the triplet's, one 16-byte hash of the two
// hashes the Redis store uses, so that a state file of the earlier format
// (which held those two in hex) can be read.
func memKeys(k Key) (client, triplet memKey) {
	client = hash128(k.Client)
	return client, tripletKey(client, hash128(k.Sender+"\x00"+k.Rcpt))
}

func tripletKey(client, pair [16]byte) memKey {
	var b [32]byte
	copy(b[:16], client[:])
	copy(b[16:], pair[:])
	sum := sha256.Sum256(b[:])
	return [16]byte(sum[:16])
}
