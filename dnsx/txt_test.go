package dnsx

import (
	"encoding/binary"
	"testing"

	"github.com/miekg/dns"
)

func TestUnescapeTXT(t *testing.T) {
	tests := []struct{ in, want string }{
		{"v=spf1 -all", "v=spf1 -all"},
		{`say \"hi\"`, `say "hi"`},
		{`back\\slash`, `back\slash`},
		{`\255\000\009`, "\xff\x00\x09"},
		{`\12`, "12"}, // not \DDD: an escaped '1'
		{`end\`, `end\`},
	}
	for _, tt := range tests {
		if got := unescapeTXT(tt.in); got != tt.want {
			t.Errorf("unescapeTXT(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestJoinTXT(t *testing.T) {
	rr := &dns.TXT{Txt: []string{"v=DKIM1; k=rsa; ", `p=MII\"x`, ""}}
	if got, want := joinTXT(rr), `v=DKIM1; k=rsa; p=MII"x`; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// FuzzUnescapeTXT checks that unescapeTXT inverts miekg's decoding of any
// character-string: the bytes on the wire come back.
func FuzzUnescapeTXT(f *testing.F) {
	for _, s := range []string{"", "plain", `"\`, "\x00\xff\x7f", "\\255"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 255 {
			data = data[:255]
		}
		rr, err := unpackTXT(data)
		if err != nil {
			t.Fatal(err)
		}
		if got := joinTXT(rr); got != string(data) {
			t.Fatalf("wire %q, decoded %q, unescaped %q", data, rr.Txt, got)
		}
	})
}

// unpackTXT decodes a TXT record whose rdata is one character-string.
func unpackTXT(data []byte) (*dns.TXT, error) {
	wire := []byte{0} // owner: the root
	wire = binary.BigEndian.AppendUint16(wire, dns.TypeTXT)
	wire = binary.BigEndian.AppendUint16(wire, dns.ClassINET)
	wire = binary.BigEndian.AppendUint32(wire, 60)
	wire = binary.BigEndian.AppendUint16(wire, uint16(len(data)+1))
	wire = append(wire, byte(len(data)))
	wire = append(wire, data...)
	rr, _, err := dns.UnpackRR(wire, 0)
	if err != nil {
		return nil, err
	}
	return rr.(*dns.TXT), nil
}
