package score

import (
	"strings"
	"testing"
)

// sheet builds a sheet from name, points pairs; points may be untyped
// integer constants.
func sheet(hits ...any) *Sheet {
	s := &Sheet{}
	for i := 0; i+1 < len(hits); i += 2 {
		var points float64
		switch p := hits[i+1].(type) {
		case float64:
			points = p
		case int:
			points = float64(p)
		}
		s.Add(hits[i].(string), points, "")
	}
	return s
}

// render prints fields as they appear in a message header.
func render(fs []Field) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.Name + ": " + f.Value + "\n")
	}
	return b.String()
}

// TestHeadersLikeSpamAssassin compares with the fields a real SpamAssassin
// 4.0.1 (Debian 12) wrote for messages hitting rules of these scores, with
// required_score 4.5, "add_header all Score _SCORE_" and version=spamgate in
// its Status template; only the field order differs (SA adds Level first).
func TestHeadersLikeSpamAssassin(t *testing.T) {
	tests := []struct {
		name  string
		sheet *Sheet
		want  string
	}{
		{"nothing hit", sheet(), "" +
			"X-Spam-Score: 0.0\n" +
			"X-Spam-Level: \n" +
			"X-Spam-Status: No, score=0.0 required=4.5 tests=none autolearn=disabled\n" +
			"\tversion=spamgate\n"},
		{"ham rounding up to tag shows 0.1 below (SA bug 6419)", sheet("SG_A", 4.46), "" +
			"X-Spam-Score: 4.4\n" +
			"X-Spam-Level: ****\n" +
			"X-Spam-Status: No, score=4.4 required=4.5 tests=SG_A autolearn=disabled\n" +
			"\tversion=spamgate\n"},
		{"ham just below tag", sheet("SG_J", 4.449), "" +
			"X-Spam-Score: 4.4\n" +
			"X-Spam-Level: ****\n" +
			"X-Spam-Status: No, score=4.4 required=4.5 tests=SG_J autolearn=disabled\n" +
			"\tversion=spamgate\n"},
		{"negative: no stars", sheet("SG_B", -3.2), "" +
			"X-Spam-Score: -3.2\n" +
			"X-Spam-Level: \n" +
			"X-Spam-Status: No, score=-3.2 required=4.5 tests=SG_B autolearn=disabled\n" +
			"\tversion=spamgate\n"},
		{"tiny negative prints -0.0", sheet("SG_D", -0.04), "" +
			"X-Spam-Score: -0.0\n" +
			"X-Spam-Level: \n" +
			"X-Spam-Status: No, score=-0.0 required=4.5 tests=SG_D autolearn=disabled\n" +
			"\tversion=spamgate\n"},
		{"hits cancelling out", sheet("SG_D", -0.04, "SG_C", 0.04), "" +
			"X-Spam-Score: 0.0\n" +
			"X-Spam-Level: \n" +
			"X-Spam-Status: No, score=0.0 required=4.5 tests=SG_C,SG_D autolearn=disabled\n" +
			"\tversion=spamgate\n"},
		{"0.999 prints 1.0 but has no star", sheet("SG_K", 0.999), "" +
			"X-Spam-Score: 1.0\n" +
			"X-Spam-Level: \n" +
			"X-Spam-Status: No, score=1.0 required=4.5 tests=SG_K autolearn=disabled\n" +
			"\tversion=spamgate\n"},
		{"exactly tag is spam", sheet("SG_G", 4.5), "" +
			"X-Spam-Flag: YES\n" +
			"X-Spam-Score: 4.5\n" +
			"X-Spam-Level: ****\n" +
			"X-Spam-Status: Yes, score=4.5 required=4.5 tests=SG_G autolearn=disabled\n" +
			"\tversion=spamgate\n"},
		{"stars count whole points of the unrounded score", sheet("SG_E", 4.96), "" +
			"X-Spam-Flag: YES\n" +
			"X-Spam-Score: 5.0\n" +
			"X-Spam-Level: ****\n" +
			"X-Spam-Status: Yes, score=5.0 required=4.5 tests=SG_E autolearn=disabled\n" +
			"\tversion=spamgate\n"},
		{"stars capped at 50", sheet("SG_F", 60.0), "" +
			"X-Spam-Flag: YES\n" +
			"X-Spam-Score: 60.0\n" +
			"X-Spam-Level: **************************************************\n" +
			"X-Spam-Status: Yes, score=60.0 required=4.5 tests=SG_F autolearn=disabled\n" +
			"\tversion=spamgate\n"},
		{"GTUBE-like", sheet("SG_L", 1000.0), "" +
			"X-Spam-Flag: YES\n" +
			"X-Spam-Score: 1000.0\n" +
			"X-Spam-Level: **************************************************\n" +
			"X-Spam-Status: Yes, score=1000.0 required=4.5 tests=SG_L autolearn=disabled\n" +
			"\tversion=spamgate\n"},
		{"long names fold after commas", sheet(
			"SG_SPF_FAIL_LONG_RULE_NAME_ONE", 2.5, "SG_SPF_FAIL_LONG_RULE_NAME_TWO", 2.5,
			"SG_RCVD_IN_SOMETHING_VERY_LONG_THREE", 2.5, "SG_X_FOUR", 0.001), "" +
			"X-Spam-Flag: YES\n" +
			"X-Spam-Score: 7.5\n" +
			"X-Spam-Level: *******\n" +
			"X-Spam-Status: Yes, score=7.5 required=4.5\n" +
			"\ttests=SG_RCVD_IN_SOMETHING_VERY_LONG_THREE,\n" +
			"\tSG_SPF_FAIL_LONG_RULE_NAME_ONE,SG_SPF_FAIL_LONG_RULE_NAME_TWO,\n" +
			"\tSG_X_FOUR autolearn=disabled version=spamgate\n"},
		{"many hits, sorted, folded", sheet(
			"SG_URIBL_BLACK_LISTED_DOMAIN", 1.7, "SG_SPF_FAIL", 1.2, "RCVD_IN_ZEN", 3.1,
			"SG_DKIM_INVALID", 0.9, "SG_DMARC_REJECT", 2.4, "SG_HELO_DYNAMIC", 0.8,
			"SG_RDNS_NONE", 1.1, "SG_GREYLIST_RETRY", -0.5, "SG_FROM_FREEMAIL_REPLYTO_DIFFERENT", 1.7), "" +
			"X-Spam-Flag: YES\n" +
			"X-Spam-Score: 12.4\n" +
			"X-Spam-Level: ************\n" +
			"X-Spam-Status: Yes, score=12.4 required=4.5 tests=RCVD_IN_ZEN,SG_DKIM_INVALID,\n" +
			"\tSG_DMARC_REJECT,SG_FROM_FREEMAIL_REPLYTO_DIFFERENT,SG_GREYLIST_RETRY,\n" +
			"\tSG_HELO_DYNAMIC,SG_RDNS_NONE,SG_SPF_FAIL,SG_URIBL_BLACK_LISTED_DOMAIN\n" +
			"\tautolearn=disabled version=spamgate\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := render(tt.sheet.Headers(Levels{}, 0)); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestHeadersRequired checks that required= follows the tag level and that
// the bug-6419 adjustment uses it.
func TestHeadersRequired(t *testing.T) {
	got := render(sheet("SG_A", 4.96).Headers(Levels{Tag: 5, Kill: 20}, 0))
	want := "X-Spam-Score: 4.9\n" +
		"X-Spam-Level: ****\n" +
		"X-Spam-Status: No, score=4.9 required=5.0 tests=SG_A autolearn=disabled\n" +
		"\tversion=spamgate\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestIsSpamHeader(t *testing.T) {
	tests := map[string]bool{
		"X-Spam-Flag": true, "x-spam-status": true, "X-SPAM-LEVEL": true,
		"X-Spam-Score": true, "X-Spam-Prev-Subject": true, "X-Spam-": false,
		"X-Spam": false, "X-Spamd-Result": false, "X-Spam-Checker-Version": true,
		"Subject": false, "": false, "X-Virus-Status": false,
	}
	for name, want := range tests {
		if got := IsSpamHeader(name); got != want {
			t.Errorf("IsSpamHeader(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestHeaderFieldSet checks [score] header_fields: only the fields named
// are added, X-Spam-Flag still only to spam, and an empty list adds none.
func TestHeaderFieldSet(t *testing.T) {
	names := func(fs []Field) string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Name)
		}
		return strings.Join(out, ",")
	}
	spam, ham := sheet("SG_A", 9), sheet("SG_A", 1)
	tests := []struct {
		fields    []string
		spam, ham string
	}{
		{[]string{"X-Spam-Flag", "X-Spam-Score", "X-Spam-Level", "X-Spam-Status"},
			"X-Spam-Flag,X-Spam-Score,X-Spam-Level,X-Spam-Status", "X-Spam-Score,X-Spam-Level,X-Spam-Status"},
		{[]string{"x-spam-flag"}, "X-Spam-Flag", ""},
		{[]string{"X-Spam-Status", "X-Spam-Flag"}, "X-Spam-Flag,X-Spam-Status", "X-Spam-Status"},
		{nil, "", ""},
	}
	for _, tt := range tests {
		set, err := ParseFieldSet(tt.fields)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(spam.Headers(Levels{}, set)); got != tt.spam {
			t.Errorf("%v, spam: %q, want %q", tt.fields, got, tt.spam)
		}
		if got := names(ham.Headers(Levels{}, set)); got != tt.ham {
			t.Errorf("%v, ham: %q, want %q", tt.fields, got, tt.ham)
		}
	}
	if _, err := ParseFieldSet([]string{"X-Spam-Report"}); err == nil {
		t.Error("X-Spam-Report accepted")
	}
}
