package policyredis

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestNewMode checks that the client is the one Options ask for, never one
// go-redis guesses from the number of addresses, and that contradictory
// options are refused. New does not connect, so no server is needed.
func TestNewMode(t *testing.T) {
	t.Parallel()
	one := []string{"127.0.0.1:6379"}
	two := []string{"127.0.0.1:6379", "127.0.0.1:6380"}
	tests := []struct {
		name string
		o    Options
		want string   // "single", "cluster" or "sentinel"
		errs []string // the error mentions each; none = no error
	}{
		{"one address", Options{Addresses: one}, "single", nil},
		{"one address, cluster", Options{Addresses: one, Cluster: true}, "cluster", nil},
		{"two addresses, cluster", Options{Addresses: two, Cluster: true}, "cluster", nil},
		{"one sentinel", Options{Addresses: one, MasterName: "policy"}, "sentinel", nil},
		{"two sentinels", Options{Addresses: two, MasterName: "policy", DB: 2}, "sentinel", nil},
		{"db on a single server", Options{Addresses: one, DB: 3}, "single", nil},
		{"IPv6 and names", Options{Addresses: []string{"[::1]:6379", "redis.example:6379"}, Cluster: true}, "cluster", nil},

		{"two addresses, no mode", Options{Addresses: two}, "", []string{"2 addresses for a single server", "cluster", "master_name"}},
		{"no address", Options{}, "", []string{"no address"}},
		{"cluster and sentinel", Options{Addresses: two, Cluster: true, MasterName: "policy"}, "", []string{"exclude each other"}},
		{"db on a cluster", Options{Addresses: one, Cluster: true, DB: 1}, "", []string{"db 1", "only database 0"}},
		{"negative db", Options{Addresses: one, DB: -1}, "", []string{"db -1"}},
		{"negative timeout", Options{Addresses: one, Timeout: -time.Second}, "", []string{"timeout -1s"}},
		{"no port", Options{Addresses: []string{"127.0.0.1"}}, "", []string{`"127.0.0.1"`, "HOST:PORT"}},
		{"no host", Options{Addresses: []string{":6379"}}, "", []string{`":6379" has no host`}},
		{"bad port", Options{Addresses: []string{"localhost:redis"}}, "", []string{`port "redis"`}},
		{"port 0", Options{Addresses: []string{"localhost:0"}}, "", []string{`port "0"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.o)
			if len(tt.errs) > 0 {
				if s != nil {
					s.Close()
				}
				wantErr(t, err, append(tt.errs, "redis policy source")...)
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer s.Close()
			if got := mode(s.rdb); got != tt.want {
				t.Errorf("New made a %s client, want %s", got, tt.want)
			}
		})
	}
}

// mode tells the kinds of client apart: a Sentinel (failover) client is a
// *redis.Client like a single server's, but not for the configured address.
func mode(c redis.UniversalClient) string {
	switch c := c.(type) {
	case *redis.ClusterClient:
		return "cluster"
	case *redis.Client:
		if c.Options().Addr == "127.0.0.1:6379" {
			return "single"
		}
		return "sentinel"
	}
	return "unknown"
}

func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in        Options
		prefix    string
		timeout   time.Duration
		wantWhere string
	}{
		{Options{Addresses: []string{"10.0.0.1:6379"}}, "spamgate:policy:", 200 * time.Millisecond, "10.0.0.1:6379"},
		{Options{Addresses: []string{"10.0.0.1:6379"}, KeyPrefix: "panel:", Timeout: time.Second}, "panel:", time.Second, "10.0.0.1:6379"},
		{Options{Addresses: []string{"a:1", "b:2"}, Cluster: true}, "spamgate:policy:", 200 * time.Millisecond, "cluster a:1,b:2"},
		{Options{Addresses: []string{"a:1", "b:2"}, MasterName: "m"}, "spamgate:policy:", 200 * time.Millisecond, `master "m" via sentinels a:1,b:2`},
	}
	for _, tt := range tests {
		o, err := tt.in.withDefaults()
		if err != nil {
			t.Fatalf("%+v: %v", tt.in, err)
		}
		if where := o.conn().Where(); o.KeyPrefix != tt.prefix || o.Timeout != tt.timeout || where != tt.wantWhere {
			t.Errorf("%+v: prefix %q, timeout %v, where %q; want %q, %v, %q", tt.in, o.KeyPrefix, o.Timeout, where, tt.prefix, tt.timeout, tt.wantWhere)
		}
		// Nothing may stretch a lookup beyond Timeout.
		u, err := o.conn().Universal()
		if err != nil {
			t.Fatal(err)
		}
		if !u.ContextTimeoutEnabled || u.MaxRetries > 1 || u.DialerRetries != 1 ||
			u.DialTimeout != o.Timeout || u.ReadTimeout != o.Timeout || u.WriteTimeout != o.Timeout || u.PoolTimeout != o.Timeout {
			t.Errorf("%+v: go-redis options %+v let a lookup run past Timeout", tt.in, u)
		}
	}
}
