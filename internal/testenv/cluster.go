package testenv

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// clusterCreateTimeout bounds `redis-cli --cluster create`, which polls
// once a second until the nodes have met.
const clusterCreateTimeout = 30 * time.Second

// clusterReadyTimeout bounds how long StartCluster waits, after creation,
// for every node to report cluster_state:ok.
const clusterReadyTimeout = 15 * time.Second

// Cluster is a Redis Cluster on loopback ports: three primaries without
// replicas, holding the 16384 slots in three equal ranges, each in its own
// temporary directory and keeping nothing on disk.
type Cluster struct {
	nodes [3]*server
}

// StartCluster starts the cluster for the test and kills its nodes when the
// test ends. It returns when every node reports cluster_state:ok, knows
// all three nodes and sees every slot served. It fails the test when
// redis-server or redis-cli is missing or the cluster is not ready in
// time; it never skips.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli not installed (Debian's redis-tools, which redis-server depends on): %v", err)
	}
	c := &Cluster{}
	for i := range c.nodes {
		c.nodes[i] = startServer(t, fmt.Sprintf("node %d", i+1), false, func(t testing.TB, _ int) string {
			// The cluster bus defaults to port+10000, which may be taken
			// or beyond 65535; give it a free port of its own.
			return "cluster-enabled yes\n" +
				"cluster-config-file nodes.conf\n" +
				"cluster-port " + strconv.Itoa(freePort(t)) + "\n" +
				"cluster-node-timeout 5000\n" +
				"save \"\"\nappendonly no\n"
		})
	}

	ctx, cancel := context.WithTimeout(t.Context(), clusterCreateTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-yes")
	out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %s: %v\n%s%s", strings.Join(args, " "), err, out, c.logs())
	}

	deadline := time.Now().Add(clusterReadyTimeout)
	for {
		err := c.ready()
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not ready within %v: %v%s", clusterReadyTimeout, err, c.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// URL is the redis-cluster:// URL listing all three nodes, as REDIS_URL
// takes it.
func (c *Cluster) URL() string {
	return "redis-cluster://" + strings.Join(c.Addrs(), ",")
}

// Addrs are the nodes' host:port addresses.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.addr()
	}
	return addrs
}

// ready is nil once every node says the cluster is whole.
func (c *Cluster) ready() error {
	for _, n := range c.nodes {
		reply, err := call(n.addr(), "CLUSTER", "INFO")
		if err != nil {
			return fmt.Errorf("%s: %w", n.name, err)
		}
		text, _ := reply.(string)
		f := fields(text)
		if f["cluster_state"] != "ok" || f["cluster_known_nodes"] != "3" || f["cluster_slots_ok"] != "16384" {
			return fmt.Errorf("%s: cluster_state %q, known nodes %s, slots ok %s",
				n.name, f["cluster_state"], f["cluster_known_nodes"], f["cluster_slots_ok"])
		}
	}
	return nil
}

func (c *Cluster) logs() string {
	var b strings.Builder
	for _, n := range c.nodes {
		if n != nil {
			b.WriteString(n.log())
		}
	}
	return b.String()
}
