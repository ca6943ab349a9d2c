package redistest

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of the test's own: masters only, each on a
// free port of 127.0.0.1 with a cluster bus port of its own, the 16384
// slots split evenly among them, persisting nothing but each node's
// cluster configuration, in its temporary directory.
type Cluster struct {
	tb    testing.TB
	nodes []*Server
}

// clusterWait bounds how long StartCluster waits for the nodes to agree.
// A new master only reports cluster_state:ok two seconds after it
// started (Redis's CLUSTER_WRITABLE_DELAY), whatever the machine.
const clusterWait = 20 * time.Second

// StartCluster starts a cluster of masters nodes, each serving a slice of
// the slots, and waits until every node reports cluster_state:ok and all
// report the same slot map. The nodes are killed when tb ends. It skips
// tb when redis-server is not on PATH (fails it under CI=true).
func StartCluster(tb testing.TB, masters int) *Cluster {
	tb.Helper()
	if masters < 1 {
		tb.Fatalf("redistest: a cluster of %d masters", masters)
	}
	c := &Cluster{tb: tb}
	ports := freePorts(tb, 2*masters)
	ports, buses := ports[:masters], ports[masters:]
	for i, port := range ports {
		s := newServerOn(tb, nil, port)
		s.extra = []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(s.dir, "nodes.conf"),
			"--cluster-port", strconv.Itoa(buses[i]),
			"--cluster-node-timeout", "5000",
			// The cluster's state changes are notices.
			"--loglevel", "notice",
		}
		s.launch()
		c.nodes = append(c.nodes, s)
	}
	for _, s := range c.nodes {
		s.waitReady()
	}

	ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
	defer cancel()
	clients := make([]*goredis.Client, masters)
	for i, s := range c.nodes {
		clients[i] = goredis.NewClient(s.options())
		defer clients[i].Close()
	}
	const slots = 16384
	for i, cl := range clients {
		lo, hi := i*slots/masters, (i+1)*slots/masters-1
		// Distinct epochs, as redis-cli --cluster create sets them, spare
		// the nodes resolving a collision first.
		if err := cl.Do(ctx, "cluster", "set-config-epoch", i+1).Err(); err != nil {
			c.fail("CLUSTER SET-CONFIG-EPOCH on %s: %v", c.nodes[i], err)
		}
		if err := cl.Do(ctx, "cluster", "addslotsrange", lo, hi).Err(); err != nil {
			c.fail("CLUSTER ADDSLOTSRANGE %d %d on %s: %v", lo, hi, c.nodes[i], err)
		}
	}
	// Every pair meets, rather than waiting for gossip to introduce them.
	for i := range c.nodes {
		for j, s := range c.nodes[i+1:] {
			if err := clients[i].Do(ctx, "cluster", "meet", "127.0.0.1", s.port, buses[i+1+j]).Err(); err != nil {
				c.fail("CLUSTER MEET %s on %s: %v", s, c.nodes[i], err)
			}
		}
	}

	var last string
	for {
		ok, state := c.agreed(ctx, clients)
		if ok {
			return c
		}
		last = state
		select {
		case <-ctx.Done():
			c.fail("the nodes did not agree within %v:\n%s", clusterWait, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// agreed reports whether every node is ok and all report one slot map of
// every slot, served at the nodes' addresses; and, if not, what each said.
func (c *Cluster) agreed(ctx context.Context, clients []*goredis.Client) (bool, string) {
	addrs := make([]string, len(c.nodes))
	for i, s := range c.nodes {
		addrs[i] = s.Addr()
	}
	var report strings.Builder
	ok := true
	var first string
	for i, cl := range clients {
		fmt.Fprintf(&report, "%s: ", c.nodes[i])
		info, err := cl.ClusterInfo(ctx).Result()
		if err != nil {
			fmt.Fprintf(&report, "CLUSTER INFO: %v\n", err)
			ok = false
			continue
		}
		if !strings.Contains(info, "cluster_state:ok\r\n") ||
			!strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(len(c.nodes))+"\r\n") {
			ok = false
		}
		fmt.Fprintf(&report, "%s; ", infoFields(info, "cluster_state", "cluster_known_nodes", "cluster_slots_assigned"))
		slots, err := cl.ClusterSlots(ctx).Result()
		if err != nil {
			fmt.Fprintf(&report, "CLUSTER SLOTS: %v\n", err)
			ok = false
			continue
		}
		m := slotMap(slots)
		fmt.Fprintf(&report, "slots %s\n", m)
		for _, sl := range slots {
			if len(sl.Nodes) == 0 || !slices.Contains(addrs, sl.Nodes[0].Addr) {
				ok = false
			}
		}
		if i == 0 {
			first = m
		} else if m != first {
			ok = false
		}
	}
	return ok, report.String()
}

// slotMap describes CLUSTER SLOTS in one line, ranges in order.
func slotMap(slots []goredis.ClusterSlot) string {
	slots = slices.Clone(slots)
	slices.SortFunc(slots, func(a, b goredis.ClusterSlot) int { return a.Start - b.Start })
	parts := make([]string, len(slots))
	for i, sl := range slots {
		addr := "none"
		if len(sl.Nodes) > 0 {
			addr = sl.Nodes[0].Addr
		}
		parts[i] = fmt.Sprintf("%d-%d@%s", sl.Start, sl.End, addr)
	}
	return strings.Join(parts, " ")
}

// infoFields picks the named fields of an INFO reply.
func infoFields(info string, names ...string) string {
	var got []string
	for line := range strings.Lines(info) {
		name, _, _ := strings.Cut(line, ":")
		if slices.Contains(names, name) {
			got = append(got, strings.TrimSpace(line))
		}
	}
	return strings.Join(got, " ")
}

// fail fails tb with the nodes' output.
func (c *Cluster) fail(format string, args ...any) {
	c.tb.Helper()
	c.tb.Fatalf("redistest: cluster: %s\n%s", fmt.Sprintf(format, args...), outputs(c.nodes...))
}

// URL returns the cluster's redis+cluster:// URL, which names every node
// as a seed.
func (c *Cluster) URL() string {
	var b strings.Builder
	b.WriteString("redis+cluster://" + c.nodes[0].Addr())
	for i, s := range c.nodes[1:] {
		if i == 0 {
			b.WriteString("?addr=")
		} else {
			b.WriteString("&addr=")
		}
		b.WriteString(s.Addr())
	}
	return b.String()
}

// Nodes returns the cluster's nodes, in the order of the slots they
// serve.
func (c *Cluster) Nodes() []*Server { return slices.Clone(c.nodes) }
