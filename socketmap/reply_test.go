package socketmap

import (
	"strings"
	"testing"
)

func TestReplyPayload(t *testing.T) {
	long := strings.Repeat("x", MaxReplySize-len("OK "))
	tests := []struct {
		rep     Reply
		want    string
		wantErr bool
	}{
		{OK("secure match=mx.example.net"), "OK secure match=mx.example.net", false},
		{OK(""), "OK ", false},
		{NotFound(), "NOTFOUND ", false},
		{Reply{Status: StatusNotFound, Value: "ignored"}, "NOTFOUND ", false},
		{Temp("dns down"), "TEMP dns down", false},
		{Timeout("slow"), "TIMEOUT slow", false},
		{Perm("no such map"), "PERM no such map", false},
		{OK(long), "OK " + long, false},
		{OK(long + "x"), "", true},
		{Reply{Status: "ok"}, "", true},
		{Reply{}, "", true},
	}
	for _, tt := range tests {
		got, err := tt.rep.payload()
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%s(%.20q).payload() = %.40q, %v; want %.40q, error %v", tt.rep.Status, tt.rep.Value, got, err, tt.want, tt.wantErr)
		}
	}
}
