package redistest

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// CLI is Debian's redis-cli (package redis-tools), absolute for the same
// reason as Binary.
const CLI = "/usr/bin/redis-cli"

// StartCluster starts a Redis Cluster of n masters (n >= 3, which
// redis-cli --cluster create requires) on free loopback ports, no replicas,
// and waits until every node reports cluster_state:ok. The nodes are killed
// when the test ends. Like Start, it fails the test when redis-server or
// redis-cli is missing.
func StartCluster(t testing.TB, n int) []*Server {
	t.Helper()
	return StartClusterReplicas(t, n, 0)
}

// StartClusterReplicas is StartCluster with replicas replicas per master
// (masters*(1+replicas) nodes); redis-cli decides which node is which, and
// a replica is promoted when its master dies (ClusterMasters tells them
// apart).
func StartClusterReplicas(t testing.TB, masters, replicas int) []*Server {
	t.Helper()
	if masters < 3 {
		t.Fatalf("StartCluster(%d): redis-cli --cluster create needs at least 3 masters", masters)
	}
	if _, err := exec.LookPath(CLI); err != nil {
		t.Fatalf("redis-cli is needed for cluster tests: %v; %s", err, installHint)
	}
	n := masters * (1 + replicas)
	nodes := make([]*Server, n)
	addrs := make([]string, n)
	for i := range nodes {
		nodes[i] = StartWith(t, clusterArgv)
		addrs[i] = nodes[i].Addr()
	}
	createCluster(t, addrs, replicas)
	for i, node := range nodes {
		waitClusterOK(t, i, node)
	}
	if replicas > 0 {
		waitReplicasInSync(t, nodes, masters*replicas)
	}
	return nodes
}

// waitReplicasInSync waits until want replicas report their link up: a
// master killed before would have no replica to promote.
func waitReplicasInSync(t testing.TB, nodes []*Server, want int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	clients := make([]*redis.Client, len(nodes))
	for i, n := range nodes {
		clients[i] = n.Client()
	}
	for {
		up := 0
		for _, c := range clients {
			info, _ := c.Info(context.Background(), "replication").Result()
			if strings.Contains(info, "role:slave") && strings.Contains(info, "master_link_status:up") {
				up++
			}
		}
		if up >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d cluster replicas in sync after 15s", up, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// clusterArgv is a cluster-enabled node; its nodes.conf goes to the
// node's own temporary directory so that nothing is left behind. The
// cluster bus port is the default, port+10000; the port is free, and so,
// almost always, is that one.
func clusterArgv(dir string, port int) []string {
	return []string{Binary,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--cluster-enabled", "yes",
		"--cluster-config-file", dir + "/nodes.conf",
		"--cluster-node-timeout", "2000",
		// A full sync to a replica waits 5 s by default for others.
		"--repl-diskless-sync-delay", "0",
	}
}

// NodeFor is the node of nodes at addr ("127.0.0.1:PORT"), nil if none.
func NodeFor(nodes []*Server, addr string) *Server {
	for _, n := range nodes {
		if n.Addr() == addr {
			return n
		}
	}
	return nil
}

// createCluster splits the slots between the nodes with redis-cli.
func createCluster(t testing.TB, addrs []string, replicas int) {
	t.Helper()
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, CLI, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", CLI, strings.Join(args, " "), err, out)
	}
}

// waitClusterOK waits until node i has every slot covered; redis-cli
// returns once the nodes agree on the configuration, but a node may say so
// a little later.
func waitClusterOK(t testing.TB, i int, node *Server) {
	t.Helper()
	c := node.Client()
	deadline := time.Now().Add(15 * time.Second)
	for {
		info, err := c.ClusterInfo(context.Background()).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster node %d (%s) not ok after 15s: %v\n%s", i, node.Addr(), err, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
