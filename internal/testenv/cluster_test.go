package testenv

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCluster(t *testing.T) {
	start := time.Now()
	c := StartCluster(t)
	t.Logf("StartCluster took %v", time.Since(start).Round(time.Millisecond))

	if !regexp.MustCompile(`^redis-cluster://127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+$`).MatchString(c.URL()) {
		t.Errorf("URL() = %q, want redis-cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3", c.URL())
	}

	// Every node holds one range of slots, and together they cover all.
	reply := mustCall(t, c.Addrs()[0], "CLUSTER", "SLOTS")
	ranges, _ := reply.([]any)
	var owners []string
	covered := int64(0)
	for _, r := range ranges {
		r, _ := r.([]any)
		if len(r) < 3 {
			t.Fatalf("CLUSTER SLOTS entry %v", r)
		}
		from, _ := r[0].(int64)
		to, _ := r[1].(int64)
		node, _ := r[2].([]any)
		covered += to - from + 1
		owners = append(owners, net.JoinHostPort(fmt.Sprint(node[0]), fmt.Sprint(node[1])))
	}
	slices.Sort(owners)
	addrs := slices.Sorted(slices.Values(c.Addrs()))
	if covered != 16384 || !slices.Equal(owners, addrs) {
		t.Errorf("CLUSTER SLOTS: %d slots held by %v, want 16384 held by each of %v", covered, owners, addrs)
	}

	// A key is served by the node that owns its slot; the others redirect.
	slot := mustCall(t, c.Addrs()[0], "CLUSTER", "KEYSLOT", "{jitbot}:open")
	moved := 0
	for _, addr := range c.Addrs() {
		_, err := call(addr, "SET", "{jitbot}:open", "x")
		switch {
		case err == nil:
		case strings.Contains(err.Error(), fmt.Sprintf("MOVED %d 127.0.0.1:", slot)):
			moved++
		default:
			t.Errorf("SET on %s: %v", addr, err)
		}
	}
	if moved != 2 {
		t.Errorf("%d nodes redirected the key, want 2 (one node owns it)", moved)
	}
}
