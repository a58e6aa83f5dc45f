package score

import "testing"

func TestTagSubject(t *testing.T) {
	const p = DefaultSubjectPrefix
	tests := []struct{ subject, prefix, want string }{
		{"Cheap pills", p, "***SPAM*** Cheap pills"},
		{"  Cheap pills", p, "***SPAM*** Cheap pills"}, // SA drops leading blanks
		{"***SPAM*** Cheap pills", p, "***SPAM*** Cheap pills"},
		{"***spam*** Cheap pills", p, "***SPAM*** Cheap pills"}, // any case
		{"***SPAM***", p, "***SPAM*** "},
		{"", p, "***SPAM*** "}, // SA also tags a missing subject
		{"Re: ***SPAM*** x", p, "***SPAM*** Re: ***SPAM*** x"},
		{"***SPAM***Cheap", p, "***SPAM*** ***SPAM***Cheap"}, // as SA does
		{"Cheap pills", "***SPAM*** ", "***SPAM*** Cheap pills"},
		{"Cheap pills", "[SPAM]", "[SPAM] Cheap pills"},
		{"Cheap pills", "", "Cheap pills"},
		{"=?UTF-8?B?w6Q=?=", p, "***SPAM*** =?UTF-8?B?w6Q=?="},
	}
	for _, tt := range tests {
		if got := TagSubject(tt.subject, tt.prefix); got != tt.want {
			t.Errorf("TagSubject(%q, %q) = %q, want %q", tt.subject, tt.prefix, got, tt.want)
		}
	}
}

// TestFoldShort checks that short values are left alone and that no line of
// a folded value is longer than SpamAssassin's 79 columns when it can help it.
func TestFoldShort(t *testing.T) {
	if got := fold("X-Spam-Level", "*****"); got != "*****" {
		t.Errorf("fold short = %q", got)
	}
	long := "Yes, score=1.0 required=4.5 tests=" +
		"A_VERY_LONG_RULE_NAME_THAT_DOES_NOT_FIT_ON_ANY_LINE_AT_ALL_NOT_EVEN_ALONE_OK,B"
	want := "Yes, score=1.0 required=4.5\n" +
		"\ttests=A_VERY_LONG_RULE_NAME_THAT_DOES_NOT_FIT_ON_ANY_LINE_AT_ALL_NOT_EVEN_ALONE_OK,\n" +
		"\tB"
	if got := fold("X-Spam-Status", long); got != want {
		t.Errorf("fold long =\n%q\nwant\n%q", got, want)
	}
}
