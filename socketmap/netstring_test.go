package socketmap

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadNetstring(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		limit int
		want  []string // netstrings read before the error
		err   error    // error after them
	}{
		{"one", "5:hello,", 100, []string{"hello"}, io.EOF},
		{"several", "3:abc,0:,1:x,", 100, []string{"abc", "", "x"}, io.EOF},
		{"binary", "3:\x00,:,", 100, []string{"\x00,:"}, io.EOF},
		{"empty stream", "", 100, nil, io.EOF},
		{"at limit", "3:abc,", 3, []string{"abc"}, io.EOF},
		{"over limit", "4:abcd,", 3, nil, errTooLong},
		{"huge length", "99999999999999999999999:", 100, nil, errTooLong},
		{"leading zero", "05:hello,", 100, nil, errFormat},
		{"zero zero", "00:,", 100, nil, errFormat},
		{"no length", ":,", 100, nil, errFormat},
		{"sign", "-1:x,", 100, nil, errFormat},
		{"space", " 1:x,", 100, nil, errFormat},
		{"bad terminator", "5:hello;", 100, nil, errFormat},
		{"too short", "6:hello,", 100, nil, io.ErrUnexpectedEOF},
		{"cut in length", "12", 100, nil, io.ErrUnexpectedEOF},
		{"cut after colon", "5:", 100, nil, io.ErrUnexpectedEOF},
		{"no comma at end", "5:hello", 100, nil, io.ErrUnexpectedEOF},
		{"good then bad", "1:a,x", 100, []string{"a"}, errFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bufio.NewReader(strings.NewReader(tt.in))
			var got []string
			var err error
			for {
				var b []byte
				if b, err = readNetstring(r, tt.limit); err != nil {
					break
				}
				got = append(got, string(b))
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Errorf("read %q, want %q", got, tt.want)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("error %v, want %v", err, tt.err)
			}
		})
	}
}

func TestAppendNetstring(t *testing.T) {
	for in, want := range map[string]string{"": "0:,", "OK x": "4:OK x,", "NOTFOUND ": "9:NOTFOUND ,"} {
		if got := string(appendNetstring(nil, in)); got != want {
			t.Errorf("appendNetstring(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzNetstring feeds arbitrary bytes to the reader: it must never panic, never
// return more than the limit, and what it returns must be exactly what the input
// encoded (re-encoding the netstrings read gives back the bytes consumed).
func FuzzNetstring(f *testing.F) {
	for _, s := range []string{"5:hello,", "0:,", "3:abc,1:x,", "05:x,", "999999999999:", "2:ab", "9:tlspolicy,", "1:a;"} {
		f.Add([]byte(s))
	}
	const limit = 64
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReader(bytes.NewReader(in))
		var enc []byte
		for {
			b, err := readNetstring(r, limit)
			if err != nil {
				if errors.Is(err, io.EOF) && !bytes.Equal(enc, in) {
					t.Fatalf("clean EOF after %q, input %q", enc, in)
				}
				return
			}
			if len(b) > limit {
				t.Fatalf("read %d bytes, limit %d", len(b), limit)
			}
			enc = appendNetstring(enc, string(b))
			if !bytes.HasPrefix(in, enc) {
				t.Fatalf("re-encoded %q is not a prefix of input %q", enc, in)
			}
		}
	})
}
