package greylist

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Format 1 of the state file (until 2026-12): one JSON object,
//
//	{"version":1,"triplets":[{"k":"<h(client)>:<h(pair)>","f":ms,"p":ms,"e":ms}…],
//	 "awl":[{"k":"<h(client)>","n":count,"e":ms}…],
//	 "whitelist":[{"kind":…,"value":…,"expires":unix}…]}
//
// with h the hex hashes of hashHex. It is read element by element, so
// that a file of a million triplets is never held whole.
const memFileVersion1 = 1

type legacyTriplet struct {
	Key   string `json:"k"`
	First int64  `json:"f"`
	Pass  int64  `json:"p"`
	Exp   int64  `json:"e"`
}

type legacyAWL struct {
	Key string `json:"k"`
	N   int64  `json:"n"`
	Exp int64  `json:"e"`
}

type legacyWL struct {
	Kind    string `json:"kind"`
	Value   string `json:"value"`
	Expires int64  `json:"expires"`
}

// readJSON reads format 1 up to its end or its first error.
func (l *loader) readJSON(r io.Reader) error {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return fmt.Errorf("neither a state file (format 2) nor one of format 1: %w", err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return jsonErr(dec, err)
		}
		switch tok {
		case "version":
			var v int
			if err := dec.Decode(&v); err != nil {
				return jsonErr(dec, err)
			}
			if v != memFileVersion1 {
				return fmt.Errorf("JSON state file of version %d: only version %d is known", v, memFileVersion1)
			}
		case "triplets":
			err = eachElement(dec, func(t *legacyTriplet) {
				if k, ok := legacyTripletKey(t.Key); ok {
					l.triplet(k, tripletVal{first: t.First, pass: t.Pass, exp: t.Exp})
				}
			})
		case "awl":
			err = eachElement(dec, func(a *legacyAWL) {
				if k, ok := legacyHash(a.Key); ok && a.N <= 1<<31-1 {
					l.awl(k, awlVal{n: int32(a.N), exp: a.Exp})
				}
			})
		case "whitelist":
			err = eachElement(dec, func(w *legacyWL) { l.whitelist(w.Kind, w.Value, w.Expires) })
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return jsonErr(dec, err)
		}
	}
	return nil
}

// eachElement decodes the array that comes next, one element at a time.
func eachElement[T any](dec *json.Decoder, f func(*T)) error {
	if err := expectDelim(dec, '['); err != nil {
		return err
	}
	for dec.More() {
		var v T
		if err := dec.Decode(&v); err != nil {
			return err
		}
		f(&v)
	}
	return expectDelim(dec, ']')
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != want {
		return fmt.Errorf("%v where %v was expected", tok, want)
	}
	return nil
}

func jsonErr(dec *json.Decoder, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("JSON state file, near byte %d: %w", dec.InputOffset(), err)
}

// legacyTripletKey is the memory key of a format 1 triplet key.
func legacyTripletKey(s string) (memKey, bool) {
	c, p, ok := strings.Cut(s, ":")
	if !ok {
		return memKey{}, false
	}
	ck, ok1 := legacyHash(c)
	pk, ok2 := legacyHash(p)
	return tripletKey(ck, pk), ok1 && ok2
}

func legacyHash(s string) (memKey, bool) {
	var k memKey
	if len(s) != 2*len(k) {
		return k, false
	}
	_, err := hex.Decode(k[:], []byte(s))
	return k, err == nil
}
