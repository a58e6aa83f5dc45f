package spamc

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Result
	}{
		{"GTUBE as spamd 4.0.1 sends it",
			"SPAMD/1.1 0 EX_OK\r\nContent-length: 68\r\nSpam: True ; 1003.3 / 5.0\r\n\r\n" +
				"GTUBE,MISSING_DATE,MISSING_MID,NO_RECEIVED,NO_RELAYS,TVD_SPACE_RATIO",
			Result{Spam: true, Score: 1003.3, Threshold: 5, Rules: []string{
				"GTUBE", "MISSING_DATE", "MISSING_MID", "NO_RECEIVED", "NO_RELAYS", "TVD_SPACE_RATIO"}}},
		{"ham, no rules",
			"SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\nSpam: False ; -0.1 / 5.0\r\n\r\n",
			Result{Score: -0.1, Threshold: 5}},
		{"no Content-length (protocol 1.2), CRLF after the names",
			"SPAMD/1.1 0 EX_OK\r\nSpam: False ; 1.2 / 5.0\r\n\r\nA_B,C_D\r\n",
			Result{Score: 1.2, Threshold: 5, Rules: []string{"A_B", "C_D"}}},
		{"REPORT_IFSPAM style Yes, bare LF, odd spacing",
			"SPAMD/1.5 0 EX_OK\nspam:Yes;7.0/4.5\nX-Other: x\n\nR1 , R2",
			Result{Spam: true, Score: 7, Threshold: 4.5, Rules: []string{"R1", "R2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseResponse(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseResponseErrors(t *testing.T) {
	const ok = "SPAMD/1.1 0 EX_OK\r\n"
	const spam = "Spam: True ; 5.0 / 5.0\r\n"
	tests := []struct {
		name, in string
		code     int // for a *ResponseError; 0: ErrProtocol
	}{
		{"empty", "", 0},
		{"not spamd", "HTTP/1.1 200 OK\r\n\r\n", 0},
		{"bad version", "SPAMD/x 0 EX_OK\r\n", 0},
		{"bad code", "SPAMD/1.1 zero EX_OK\r\n", 0},
		{"huge code", "SPAMD/1.1 99999999999999999999 EX_OK\r\n", 0},
		{"spamd refuses", "SPAMD/1.0 76 Bad header line: (Content-Length mismatch)\r\n", 76},
		{"spamd timeout", "SPAMD/1.0 79 Timeout: (30 second timeout while trying to SYMBOLS)\r\n", 79},
		{"cut in the status line", "SPAMD/1.1 0 EX", 0},
		{"cut in the headers", ok + "Content-length: 5\r\n", 0},
		{"no Spam header", ok + "Content-length: 0\r\n\r\n", 0},
		{"header without colon", ok + "Spam True\r\n\r\n", 0},
		{"bad flag", ok + "Spam: Maybe ; 1 / 5\r\n\r\n", 0},
		{"no slash", ok + "Spam: True ; 1 5\r\n\r\n", 0},
		{"NaN score", ok + "Spam: True ; NaN / 5\r\n\r\n", 0},
		{"Inf threshold", ok + "Spam: True ; 1 / +Inf\r\n\r\n", 0},
		{"negative length", ok + "Content-length: -1\r\n" + spam + "\r\n", 0},
		{"huge length", ok + "Content-length: 99999999999\r\n" + spam + "\r\n", 0},
		{"short body", ok + "Content-length: 10\r\n" + spam + "\r\nGTUBE", 0},
		{"bad rule name", ok + spam + "\r\nGTUBE,X-Spam-Flag: NO", 0},
		{"empty rule name", ok + spam + "\r\nGTUBE,,A", 0},
		{"long line", ok + "X: " + strings.Repeat("a", 5000) + "\r\n", 0},
		{"too many headers", ok + strings.Repeat("X: y\r\n", 100), 0},
		{"too many rules", ok + spam + "\r\n" + strings.Repeat("A,", 5000) + "A", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseResponse(strings.NewReader(tt.in))
			var re *ResponseError
			switch {
			case err == nil:
				t.Fatal("no error")
			case tt.code != 0 && (!errors.As(err, &re) || re.Code != tt.code):
				t.Fatalf("err = %v, want code %d", err, tt.code)
			case tt.code == 0 && !errors.Is(err, ErrProtocol):
				t.Fatalf("err = %v, want ErrProtocol", err)
			}
		})
	}
}

func TestResponseErrorText(t *testing.T) {
	err := &ResponseError{Code: 76, Message: "Bad header line: \x1b[31m"}
	want := `spamd answered 76 (EX_PROTOCOL): "Bad header line: \x1b[31m"`
	if err.Error() != want {
		t.Errorf("got %s, want %s", err.Error(), want)
	}
}

// FuzzParseResponse feeds garbage to the parser: it must never panic, and
// whatever it accepts must be sane.
func FuzzParseResponse(f *testing.F) {
	f.Add("SPAMD/1.1 0 EX_OK\r\nContent-length: 11\r\nSpam: True ; 1003.3 / 5.0\r\n\r\nGTUBE,A_B_C")
	f.Add("SPAMD/1.1 0 EX_OK\r\nSpam: False ; 0.0 / 5.0\r\n\r\n")
	f.Add("SPAMD/1.0 76 Bad header line: (EOF during headers)\r\n")
	f.Add("SPAMD/1.5 0 PONG\r\n")
	f.Add("SPAMD/1.1 0 EX_OK\r\nContent-length: 3\r\nSpam: Yes;1e308/-0\r\n\r\nA,B")
	f.Fuzz(func(t *testing.T, in string) {
		res, err := parseResponse(strings.NewReader(in))
		if err != nil {
			return
		}
		if res.Score != res.Score || res.Threshold != res.Threshold { // NaN
			t.Fatalf("NaN accepted: %+v", res)
		}
		for _, r := range res.Rules {
			if !validRuleName(r) {
				t.Fatalf("bad rule name accepted: %q", r)
			}
		}
	})
}
