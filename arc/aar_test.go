package arc

import (
	"strings"
	"testing"
)

func TestParseResults(t *testing.T) {
	id, ms := ParseResults(` mx.list.example 1; spf=pass (sender is permitted) smtp.mailfrom=a@origin.example;
	dkim=pass header.d=origin.example header.s=sel header.b="ab;cd";
	dmarc = pass header.from = origin.example policy.dmarc=reject (p=reject);
	arc=none`)
	if id != "mx.list.example" || len(ms) != 4 {
		t.Fatalf("%q %+v", id, ms)
	}
	if ms[0].Method != "spf" || ms[0].Result != "pass" || ms[0].Props["smtp.mailfrom"] != "a@origin.example" {
		t.Errorf("spf %+v", ms[0])
	}
	if ms[1].Props["header.d"] != "origin.example" || ms[1].Props["header.b"] != "ab;cd" {
		t.Errorf("dkim %+v", ms[1])
	}
	if ms[2].Method != "dmarc" || ms[2].Props["header.from"] != "origin.example" {
		t.Errorf("dmarc %+v", ms[2])
	}
	if id, ms := ParseResults("x; none"); id != "x" || len(ms) != 0 {
		t.Errorf("none: %q %+v", id, ms)
	}
	if _, ms := ParseResults("x" + strings.Repeat("; a=b", 1000)); len(ms) != maxMethods {
		t.Errorf("%d methods", len(ms))
	}
}

func FuzzParseResults(f *testing.F) {
	f.Add(`mx; spf=pass smtp.mailfrom=a@b (c(d)e) ; dkim=pass header.d="x;y"`)
	f.Add(`"unterminated; (open`)
	f.Fuzz(func(t *testing.T, s string) {
		_, ms := ParseResults(s)
		if len(ms) > maxMethods {
			t.Fatal(len(ms))
		}
	})
}
