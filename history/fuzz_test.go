package history

import (
	"bytes"
	"testing"
	"time"
)

// FuzzDecodeLine: the decoder of records read back from disk or Redis
// (a damaged file, or a Redis anyone on the network may write to) never
// panics, and a record it accepts encodes back to a line it accepts again
// with the same facts.
func FuzzDecodeLine(f *testing.F) {
	score := 3.5
	good, _ := appendLine(nil, &Record{Time: time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC), QueueID: "4XYZ", Client: "192.0.2.1",
		Helo: "<script>", Sender: "a@b.example", TLSVersion: "TLSv1.3", Score: &score,
		Recipients: []Recipient{{Addr: "x@corp.test", Reply: "550 5.7.10 Encryption needed", Check: "tls"}}})
	f.Add(bytes.TrimSuffix(good, []byte("\n")))
	f.Add([]byte("00000000 {}"))
	f.Add([]byte("zzzzzzzz {\"time\":1}"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := decodeLine(line)
		if err != nil {
			return
		}
		again, err := appendLine(nil, &r)
		if err != nil {
			t.Fatalf("decoded record does not encode: %v", err)
		}
		r2, err := decodeLine(bytes.TrimSuffix(again, []byte("\n")))
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if r2.QueueID != r.QueueID || r2.Client != r.Client || len(r2.Recipients) != len(r.Recipients) || !r2.Time.Equal(r.Time) {
			t.Fatalf("round trip changed the record: %+v → %+v", r, r2)
		}
	})
}
