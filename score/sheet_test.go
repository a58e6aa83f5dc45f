package score

import (
	"math"
	"reflect"
	"testing"
)

func TestAdd(t *testing.T) {
	var s Sheet
	s.Add("SG_SPF_FAIL", 1.5, "SPF fail")
	s.Add("sg_helo-dynamic", 0.8, "")      // cleaned up for headers
	s.Add("SG_ZERO", 0, "")                // not recorded
	s.Add("SG_NAN", math.NaN(), "")        // not recorded
	s.Add("SG_INF", math.Inf(1), "")       // not recorded
	s.Add("SG_SPF_FAIL", 0.5, "again")     // merged
	s.Add("SG_X", 1, "")                   // added, then
	s.Add("SG_X", -1, "")                  // cancelled: dropped
	s.Add("", 0.1, "")                     // named
	s.Add("A\r\nX-Spam-Flag: NO", 0.1, "") // no header injection
	want := []Hit{
		{"SG_SPF_FAIL", 2, "SPF fail"},
		{"SG_HELO_DYNAMIC", 0.8, ""},
		{"UNNAMED", 0.1, ""},
		{"A__X_SPAM_FLAG__NO", 0.1, ""},
	}
	if !reflect.DeepEqual(s.Hits, want) {
		t.Errorf("Hits = %+v, want %+v", s.Hits, want)
	}
}

func TestTotal(t *testing.T) {
	tests := []struct {
		sheet *Sheet
		want  float64
	}{
		{sheet(), 0},
		{sheet("A", 0.1, "B", 0.2), 0.3},
		{sheet("A", 4.46), 4.5},
		{sheet("A", 4.449), 4.4},
		{sheet("A", 0.05), 0.1},
		{sheet("A", 0.25), 0.2}, // %.1f rounds the binary value, like Perl's sprintf
		{sheet("A", -3.25, "B", 0.1), -3.1},
		{sheet("A", 1000, "B", 3.3), 1003.3},
	}
	for _, tt := range tests {
		if got := tt.sheet.Total(); got != tt.want {
			t.Errorf("%+v: Total() = %v, want %v", tt.sheet.Hits, got, tt.want)
		}
	}
}

func TestVerdict(t *testing.T) {
	tests := []struct {
		sheet  *Sheet
		levels Levels
		want   Verdict
	}{
		{sheet(), Levels{}, Ham},
		{sheet("A", 4.46), Levels{}, Ham}, // prints 4.5, but SA decides on 4.46
		{sheet("A", 4.5), Levels{}, Spam},
		{sheet("A", 0.1, "B", 0.2), Levels{Tag: 0.3}, Spam}, // no float noise
		{sheet("A", 15.99), Levels{}, Spam},
		{sheet("A", 16), Levels{}, Kill},
		{sheet("A", 16), Levels{Kill: 20}, Spam},
		{sheet("A", 6), Levels{Tag: 7}, Ham},
		{sheet("A", -5), Levels{}, Ham},
	}
	for _, tt := range tests {
		if got := tt.sheet.Verdict(tt.levels); got != tt.want {
			t.Errorf("%+v at %+v: %v, want %v", tt.sheet.Hits, tt.levels, got, tt.want)
		}
	}
}

func TestVerdictString(t *testing.T) {
	for v, want := range map[Verdict]string{Ham: "ham", Spam: "spam", Kill: "kill", 7: "Verdict(?)"} {
		if v.String() != want {
			t.Errorf("%d: %q, want %q", int(v), v.String(), want)
		}
	}
}
