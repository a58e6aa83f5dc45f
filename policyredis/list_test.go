package policyredis

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestList: the rules under the prefix, sorted by key; other keys left
// out; a bad hash or a key of another type listed as an error; at most
// max, with truncated set.
func TestList(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	a := srv.Client()
	ctx := context.Background()
	hset(t, a, DefaultKeyPrefix+"example.org", "require_tls", "yes")
	hset(t, a, DefaultKeyPrefix+"bob@example.org", "greylist", "never")
	hset(t, a, DefaultKeyPrefix+"bad.example", "require_tls", "perhaps")
	hset(t, a, "other:prefix:example.net", "require_tls", "yes")
	if err := a.Set(ctx, DefaultKeyPrefix+"string.example", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s := newSource(t, Options{Addresses: []string{srv.Addr()}})

	rules, bad, truncated, err := s.List(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range rules {
		keys = append(keys, r.Recipient+"="+r.Source)
	}
	if got, want := strings.Join(keys, " "), "bob@example.org=redis:spamgate:policy:bob@example.org example.org=redis:spamgate:policy:example.org"; got != want || truncated {
		t.Errorf("rules %q (truncated %v), want %q", got, truncated, want)
	}
	if len(bad) != 2 || bad[DefaultKeyPrefix+"bad.example"] == nil || bad[DefaultKeyPrefix+"string.example"] == nil {
		t.Errorf("bad: %v", bad)
	}

	_, _, truncated, err = s.List(ctx, 2)
	if err != nil || !truncated {
		t.Errorf("max 2 of 4 keys: truncated %v, %v", truncated, err)
	}
}

// TestListCluster: in a Cluster, every master's keys are listed.
func TestListCluster(t *testing.T) {
	nodes, _ := startCluster(t)
	s := newSource(t, Options{Addresses: []string{nodes[0].Addr()}, Cluster: true})
	ctx := context.Background()
	for i := range 30 {
		if err := s.rdb.HSet(ctx, fmt.Sprintf("%sd%d.example", DefaultKeyPrefix, i), "require_tls", "yes").Err(); err != nil {
			t.Fatal(err)
		}
	}
	rules, bad, truncated, err := s.List(ctx, 100)
	if err != nil || len(rules) != 30 || len(bad) != 0 || truncated {
		t.Fatalf("List: %d rules, bad %v, truncated %v, %v", len(rules), bad, truncated, err)
	}
}
