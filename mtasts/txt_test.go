package mtasts

import (
	"errors"
	"strings"
	"testing"
)

func TestParseTXT(t *testing.T) {
	tests := []struct {
		name    string
		records []string
		id      string
		err     string // "" for none; "norecord" for ErrNoRecord
	}{
		{"RFC example", []string{"v=STSv1; id=20160831085700Z;"}, "20160831085700Z", ""},
		{"no trailing delimiter", []string{"v=STSv1; id=abc"}, "abc", ""},
		{"no spaces", []string{"v=STSv1;id=abc;"}, "abc", ""},
		{"tabs and spaces", []string{"v=STSv1;\t id=abc \t; "}, "abc", ""},
		{"extension before id", []string{"v=STSv1; ext_1=a-b.c!; id=X1"}, "X1", ""},
		{"32 characters", []string{"v=STSv1; id=" + strings.Repeat("a", 32)}, strings.Repeat("a", 32), ""},
		{"others ignored", []string{"v=spf1 -all", "v=STSv1; id=1", "v=STSv10; id=2", "hello"}, "1", ""},
		{"none", nil, "", "norecord"},
		{"only others", []string{"v=spf1 -all", "V=STSv1; id=1", "v=STSv1 ; id=1", " v=STSv1; id=1"}, "", "norecord"},
		{"two", []string{"v=STSv1; id=1", "v=STSv1; id=2"}, "", "2 MTA-STS TXT records"},
		{"two identical", []string{"v=STSv1; id=1", "v=STSv1; id=1"}, "", "2 MTA-STS TXT records"},
		{"no id", []string{"v=STSv1;"}, "", "no id"},
		{"extension only", []string{"v=STSv1; foo=bar"}, "", "no id"},
		{"id empty", []string{"v=STSv1; id=;"}, "", "id"},
		{"id too long", []string{"v=STSv1; id=" + strings.Repeat("a", 33)}, "", "id"},
		{"id punctuation", []string{"v=STSv1; id=2016-08-31"}, "", "id"},
		{"id twice", []string{"v=STSv1; id=1; id=2"}, "", "twice"},
		{"id case", []string{"v=STSv1; ID=1"}, "", "no id"},
		{"empty field", []string{"v=STSv1;; id=1"}, "", "not name=value"},
		{"space in field", []string{"v=STSv1; id = 1"}, "", "id"},
		{"bad extension name", []string{"v=STSv1; _x=1; id=1"}, "", "invalid field"},
		{"bad extension value", []string{"v=STSv1; x=a=b; id=1"}, "", "invalid field"},
		{"space in extension", []string{"v=STSv1; x=a b; id=1"}, "", "invalid field"},
		{"empty extension value", []string{"v=STSv1; x=; id=1"}, "", "invalid field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := ParseTXT(tt.records)
			switch {
			case tt.err == "norecord":
				if !errors.Is(err, ErrNoRecord) {
					t.Errorf("got %q, %v; want ErrNoRecord", id, err)
				}
			case tt.err != "":
				if err == nil || errors.Is(err, ErrNoRecord) || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("got %q, %v; want error with %q", id, err, tt.err)
				}
			case err != nil || id != tt.id:
				t.Errorf("got %q, %v; want %q", id, err, tt.id)
			}
		})
	}
}

// FuzzParseTXT: ParseTXT never panics and only returns ids of 1 to 32 letters and
// digits, from exactly one record beginning with "v=STSv1;".
func FuzzParseTXT(f *testing.F) {
	for _, s := range []string{"v=STSv1; id=20160831085700Z;", "v=STSv1;id=a;x=y", "v=STSv1;;", "v=STSv1; id=1; id=2", "v=spf1 -all"} {
		f.Add(s, "other")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		id, err := ParseTXT([]string{a, b})
		if err != nil {
			return
		}
		if !validID(id) {
			t.Fatalf("id %q from %q, %q", id, a, b)
		}
		if strings.HasPrefix(a, stsPrefix) == strings.HasPrefix(b, stsPrefix) {
			t.Fatalf("accepted %q, %q: want exactly one STS record", a, b)
		}
	})
}
