package dkim

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

func TestParseTagList(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]string
		wantErr bool
	}{
		{"v=1; a=rsa-sha256; d=example.net", map[string]string{"v": "1", "a": "rsa-sha256", "d": "example.net"}, false},
		{" v = 1 ;\r\n\ts=sel;", map[string]string{"v": "1", "s": "sel"}, false},
		{"b=abc\r\n def ghi", map[string]string{"b": "abc\r\n def ghi"}, false},
		{"p=", map[string]string{"p": ""}, false},
		{"", map[string]string{}, false},
		{"v=1; v=2", nil, true},  // RFC 6376 3.2: duplicates invalidate
		{"v=1; junk", nil, true}, // no "="
		{"1v=1", nil, true},      // tag-name starts with ALPHA
		{"a-b=1", nil, true},     // "-" is not ALNUMPUNC
		{"a_1=x", map[string]string{"a_1": "x"}, false},
	}
	for _, tt := range tests {
		got, err := ParseTagList(tt.in)
		if tt.wantErr {
			if !errors.Is(err, ErrTagList) {
				t.Errorf("ParseTagList(%q) error = %v, want ErrTagList", tt.in, err)
			}
			continue
		}
		if err != nil || !maps.Equal(got, tt.want) {
			t.Errorf("ParseTagList(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func FuzzTagList(f *testing.F) {
	f.Add("v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=s; h=from:to; bh=x; b=y")
	f.Add("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
	f.Add(" ; ;a=\n b=")
	f.Fuzz(func(t *testing.T, s string) {
		tags, err := ParseTagList(s)
		if err != nil {
			return
		}
		var b strings.Builder
		for name, value := range tags {
			if !validTagName(name) || strings.Contains(value, ";") || trimFWS(value) != value {
				t.Fatalf("ParseTagList(%q): bad tag %q=%q", s, name, value)
			}
			b.WriteString(name + "=" + value + ";")
		}
		again, err := ParseTagList(b.String())
		if err != nil || !maps.Equal(tags, again) {
			t.Fatalf("round trip of %q: %v, %v vs %v", s, err, again, tags)
		}
	})
}
