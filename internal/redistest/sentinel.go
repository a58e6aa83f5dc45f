package redistest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelOptions shape StartSentinels; the zero value is the rig of
// issue 17: one master, one replica, three sentinels with quorum 2 and a
// one-second down-after.
type SentinelOptions struct {
	Name            string        // master name; default "mymaster"
	Sentinels       int           // default 3
	Quorum          int           // default 2
	DownAfter       time.Duration // down-after-milliseconds; default 1s
	FailoverTimeout time.Duration // failover-timeout; default 5s
	// ReplicationDelay, when set, puts a Link of that one-way latency
	// between the master and the replica (Sentinels.Link). The sentinels
	// re-point a replica that replicates from another address than the
	// master's after failover-timeout (+fix-slave-config): keep that
	// longer than the test's run up to the failover.
	ReplicationDelay time.Duration
}

func (o SentinelOptions) withDefaults() SentinelOptions {
	if o.Name == "" {
		o.Name = "mymaster"
	}
	if o.Sentinels <= 0 {
		o.Sentinels = 3
	}
	if o.Quorum <= 0 {
		o.Quorum = min(2, o.Sentinels)
	}
	if o.DownAfter <= 0 {
		o.DownAfter = time.Second
	}
	if o.FailoverTimeout <= 0 {
		o.FailoverTimeout = 5 * time.Second
	}
	return o
}

// Sentinels is a master, its replica and the sentinels watching them,
// every process on loopback and killed when the test ends.
type Sentinels struct {
	Name      string
	Master    *Server
	Replica   *Server
	Sentinels []*Server
	Link      *Link // master to replica, when ReplicationDelay is set
	t         testing.TB
}

// StartSentinels starts the master, then the replica, waits until it is
// in sync, then the sentinels, and waits until every sentinel knows the
// replica and the other sentinels: before that a failover could find no
// quorum or no replica to promote. It takes about two seconds, the
// period of the sentinels' hello messages.
func StartSentinels(t testing.TB, o SentinelOptions) *Sentinels {
	t.Helper()
	o = o.withDefaults()
	s := &Sentinels{Name: o.Name, t: t}
	// A diskless full sync waits 5 s by default for more replicas.
	s.Master = Start(t, "--repl-diskless-sync-delay", "0")
	upstream := s.Master.Port()
	if o.ReplicationDelay > 0 {
		s.Link = StartLink(t, s.Master.Addr(), o.ReplicationDelay)
		upstream = s.Link.Port()
	}
	s.Replica = Start(t, "--replicaof", "127.0.0.1", strconv.Itoa(upstream))
	waitReplicaLink(t, s.Replica, 5*time.Second)
	for range o.Sentinels {
		s.Sentinels = append(s.Sentinels, startSentinel(t, o, s.Master.Port()))
	}
	s.waitWatching(o.Sentinels-1, 10*time.Second)
	return s
}

// startSentinel runs redis-server --sentinel; sentinel rewrites its
// configuration file, so each one gets its own.
func startSentinel(t testing.TB, o SentinelOptions, masterPort int) *Server {
	t.Helper()
	return StartWith(t, func(dir string, port int) []string {
		conf := filepath.Join(dir, "sentinel.conf")
		text := fmt.Sprintf("sentinel monitor %[1]s 127.0.0.1 %[2]d %[3]d\n"+
			"sentinel down-after-milliseconds %[1]s %[4]d\n"+
			"sentinel failover-timeout %[1]s %[5]d\n"+
			"sentinel parallel-syncs %[1]s 1\n",
			o.Name, masterPort, o.Quorum, o.DownAfter.Milliseconds(), o.FailoverTimeout.Milliseconds())
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatalf("write %s: %v", conf, err)
		}
		return []string{Binary, conf, "--sentinel",
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir}
	})
}

// waitReplicaLink waits until the replica reports its link to the master up.
func waitReplicaLink(t testing.TB, replica *Server, timeout time.Duration) {
	t.Helper()
	c := replica.Client()
	var info string
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		info, _ = c.Info(context.Background(), "replication").Result()
		if strings.Contains(info, "master_link_status:up") {
			return
		}
	}
	t.Fatalf("replica %s not in sync after %s:\n%s", replica.Addr(), timeout, info)
}

// waitWatching waits until every sentinel sees one replica and others
// sentinels.
func (s *Sentinels) waitWatching(others int, timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for i, sen := range s.Sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: sen.Addr(), MaxRetries: -1})
		for {
			m, err := c.Master(context.Background(), s.Name).Result()
			if err == nil && m["num-slaves"] == "1" && m["num-other-sentinels"] == strconv.Itoa(others) {
				break
			}
			if time.Now().After(deadline) {
				c.Close()
				s.t.Fatalf("sentinel %d (%s) after %s: %v %v", i, sen.Addr(), timeout, m, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		c.Close()
	}
}

// Addrs are the sentinels' addresses, for a client's configuration.
func (s *Sentinels) Addrs() []string {
	out := make([]string, len(s.Sentinels))
	for i, sen := range s.Sentinels {
		out[i] = sen.Addr()
	}
	return out
}

// MasterAddr asks the first sentinel where the master is.
func (s *Sentinels) MasterAddr(ctx context.Context) (string, error) {
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Sentinels[0].Addr(), MaxRetries: -1})
	defer c.Close()
	hp, err := c.GetMasterAddrByName(ctx, s.Name).Result()
	if err != nil {
		return "", fmt.Errorf("SENTINEL get-master-addr-by-name %s: %w", s.Name, err)
	}
	return hp[0] + ":" + hp[1], nil
}

// Switch is a +switch-master notice as a sentinel published it.
type Switch struct {
	From, To string    // master addresses
	At       time.Time // when the test received it
}

// WatchSwitch subscribes to +switch-master on the first sentinel and
// returns once the subscription is in place; the channel gets each
// promotion of this master. The subscription ends with the test.
func (s *Sentinels) WatchSwitch() <-chan Switch {
	s.t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Sentinels[0].Addr(), MaxRetries: -1})
	ps := c.Subscribe(context.Background(), "+switch-master")
	if _, err := ps.Receive(context.Background()); err != nil { // the subscription confirmed
		s.t.Fatalf("SUBSCRIBE +switch-master: %v", err)
	}
	s.t.Cleanup(func() { _ = ps.Close(); _ = c.Close() })
	out := make(chan Switch, 4)
	go func() {
		for msg := range ps.Channel() {
			// "<name> <old ip> <old port> <new ip> <new port>"
			f := strings.Fields(msg.Payload)
			if len(f) != 5 || f[0] != s.Name {
				continue
			}
			select {
			case out <- Switch{From: f[1] + ":" + f[2], To: f[3] + ":" + f[4], At: time.Now()}:
			default:
			}
		}
	}()
	return out
}
