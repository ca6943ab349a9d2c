package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Sentinel is a Sentinel-managed Redis of the test's own: a master, one
// replica of it and three Sentinels that watch them (quorum 2), each on a
// free port of 127.0.0.1, persisting nothing. The Sentinels find a master
// down after half a second, so that a test can kill it and see a
// failover within seconds.
type Sentinel struct {
	tb        testing.TB
	name      string
	data      []*Server // the first master, then its replica
	sentinels []*Server
	last      string // the master's address, as the Sentinels last agreed
}

// sentinelWait bounds how long StartSentinel waits for the replica to
// sync and for the Sentinels to see everything.
const sentinelWait = 20 * time.Second

// StartSentinel starts a master, its replica and three Sentinels, and
// waits until the replica is in sync (the master's writes reach it as
// they come) and every Sentinel knows the master, the replica and the
// other Sentinels, connected to each. Everything is killed when tb ends.
// It skips tb when redis-server is not on PATH (fails it under CI=true).
func StartSentinel(tb testing.TB) *Sentinel {
	tb.Helper()
	s := &Sentinel{tb: tb, name: "latchkeytest"}
	// Diskless replication, at once: the default waits 5 s for more
	// replicas before the first sync.
	repl := []string{"--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0",
		"--repl-diskless-load", "on-empty-db", "--loglevel", "notice"}
	const n = 3 // Sentinels
	ports := freePorts(tb, 2+n)
	master := newServerOn(tb, nil, ports[0])
	master.extra = repl
	replica := newServerOn(tb, nil, ports[1])
	replica.extra = append(slices.Clone(repl), "--replicaof", "127.0.0.1", strconv.Itoa(master.port))
	s.data = []*Server{master, replica}
	for _, d := range s.data {
		d.launch()
	}
	for _, d := range s.data {
		d.waitReady()
	}
	s.last = master.Addr()

	ctx, cancel := context.WithTimeout(context.Background(), sentinelWait)
	defer cancel()
	// The Sentinels see the replica's link up from the start: they would
	// only ask it again ten seconds later.
	s.waitLinked(ctx, replica)

	// Each Sentinel's configuration names the replica and the other
	// Sentinels (with the IDs they are given), which they would otherwise
	// learn from the master's INFO and the hello messages only seconds
	// later. The Sentinels rewrite it as they go.
	ids := make([]string, n)
	for i := range n {
		var b [20]byte
		rand.Read(b[:])
		ids[i] = hex.EncodeToString(b[:])
		s.sentinels = append(s.sentinels, newServerOn(tb, nil, ports[2+i]))
	}
	for i, sn := range s.sentinels {
		var conf strings.Builder
		fmt.Fprintf(&conf, "sentinel myid %s\n", ids[i])
		fmt.Fprintf(&conf, "sentinel monitor %s 127.0.0.1 %d 2\n", s.name, master.port)
		fmt.Fprintf(&conf, "sentinel down-after-milliseconds %s 500\n", s.name)
		fmt.Fprintf(&conf, "sentinel failover-timeout %s 2000\n", s.name)
		fmt.Fprintf(&conf, "sentinel parallel-syncs %s 1\n", s.name)
		fmt.Fprintf(&conf, "sentinel known-replica %s 127.0.0.1 %d\n", s.name, replica.port)
		for j, other := range s.sentinels {
			if j != i {
				fmt.Fprintf(&conf, "sentinel known-sentinel %s 127.0.0.1 %d %s\n", s.name, other.port, ids[j])
			}
		}
		sn.conf = filepath.Join(sn.dir, "sentinel.conf")
		if err := os.WriteFile(sn.conf, []byte(conf.String()), 0o600); err != nil {
			tb.Fatalf("redistest: %v", err)
		}
		sn.extra = []string{"--sentinel"}
		sn.launch()
	}
	s.waitStreaming(ctx, master)
	for _, sn := range s.sentinels {
		sn.waitReady()
	}
	s.waitWatched(ctx, master, replica)
	return s
}

// waitLinked waits until replica has loaded master's data.
func (s *Sentinel) waitLinked(ctx context.Context, replica *Server) {
	s.tb.Helper()
	c := goredis.NewClient(replica.options())
	defer c.Close()
	for {
		info, err := c.Info(ctx, "replication").Result()
		if err == nil && strings.Contains(info, "master_link_status:up\r\n") {
			return
		}
		select {
		case <-ctx.Done():
			s.fail("the replica did not sync within %v: %q %v", sentinelWait, infoFields(info, "master_link_status"), err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// waitStreaming waits until master's writes reach the linked replica as
// they come: a replica that has just loaded the master's data gets the
// writes that follow only once the master has its first acknowledgement,
// which may be a second later. A probe key, written and removed, shows it.
func (s *Sentinel) waitStreaming(ctx context.Context, master *Server) {
	s.tb.Helper()
	c := goredis.NewClient(master.options())
	defer c.Close()
	const probe = "redistest:probe"
	for _, cmd := range [][]any{{"set", probe, "1"}, {"unlink", probe}} {
		if err := c.Do(ctx, cmd...).Err(); err != nil {
			s.fail("%s on the master: %v", cmd[0], err)
		}
		for {
			// Each WAIT within the client's read timeout.
			n, err := c.Do(ctx, "wait", 1, 1000).Int()
			if err == nil && n == 1 {
				break
			}
			if ctx.Err() != nil {
				s.fail("the replica did not acknowledge a write within %v: WAIT = %d, %v", sentinelWait, n, err)
			}
		}
	}
}

// waitWatched waits until every Sentinel is connected to master, replica
// and the other Sentinels, and knows the roles of the first two.
func (s *Sentinel) waitWatched(ctx context.Context, master, replica *Server) {
	s.tb.Helper()
	clients := make([]*goredis.SentinelClient, len(s.sentinels))
	for i, sn := range s.sentinels {
		clients[i] = goredis.NewSentinelClient(sn.options())
		defer clients[i].Close()
	}
	for {
		var report strings.Builder
		ok := true
		for i, c := range clients {
			got := s.watched(ctx, c, master, replica)
			if got != "" {
				ok = false
				fmt.Fprintf(&report, "%s: %s\n", s.sentinels[i], got)
			}
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			s.fail("the Sentinels did not see the master, the replica and each other within %v:\n%s", sentinelWait, report.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// watched returns "" if c sees master, replica and two other Sentinels,
// all connected, else what it sees.
func (s *Sentinel) watched(ctx context.Context, c *goredis.SentinelClient, master, replica *Server) string {
	m, err := c.Master(ctx, s.name).Result()
	if err != nil {
		return "SENTINEL MASTER: " + err.Error()
	}
	replicas, err := c.Replicas(ctx, s.name).Result()
	if err != nil {
		return "SENTINEL REPLICAS: " + err.Error()
	}
	sentinels, err := c.Sentinels(ctx, s.name).Result()
	if err != nil {
		return "SENTINEL SENTINELS: " + err.Error()
	}
	report := fmt.Sprintf("master %s:%s %s; replicas", m["ip"], m["port"], m["flags"])
	ok := m["port"] == strconv.Itoa(master.port) && m["flags"] == "master" && m["role-reported"] == "master"
	for _, r := range replicas {
		report += fmt.Sprintf(" %s:%s %s link %s", r["ip"], r["port"], r["flags"], r["master-link-status"])
	}
	ok = ok && len(replicas) == 1 && replicas[0]["port"] == strconv.Itoa(replica.port) &&
		replicas[0]["flags"] == "slave" && replicas[0]["role-reported"] == "slave" && replicas[0]["master-link-status"] == "ok"
	report += "; sentinels"
	for _, sn := range sentinels {
		report += fmt.Sprintf(" %s:%s %s", sn["ip"], sn["port"], sn["flags"])
		ok = ok && sn["flags"] == "sentinel"
	}
	if ok && len(sentinels) == len(s.sentinels)-1 {
		return ""
	}
	return report
}

// fail fails tb with the servers' output.
func (s *Sentinel) fail(format string, args ...any) {
	s.tb.Helper()
	s.tb.Fatalf("redistest: sentinel: %s\n%s", fmt.Sprintf(format, args...), outputs(slices.Concat(s.data, s.sentinels)...))
}

// URL returns the redis+sentinel:// URL of the master, naming every
// Sentinel.
func (s *Sentinel) URL() string {
	u := "redis+sentinel://" + s.sentinels[0].Addr() + "/0?master_name=" + s.name
	for _, sn := range s.sentinels[1:] {
		u += "&addr=" + sn.Addr()
	}
	return u
}

// MasterName returns the name the Sentinels know the master by.
func (s *Sentinel) MasterName() string { return s.name }

// Sentinels returns the three Sentinels.
func (s *Sentinel) Sentinels() []*Server { return slices.Clone(s.sentinels) }

// masterAddr asks each Sentinel in turn for the master's address, and
// returns the first answer.
func (s *Sentinel) masterAddr() string {
	s.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []string
	for _, sn := range s.sentinels {
		c := goredis.NewSentinelClient(sn.options())
		addr, err := c.GetMasterAddrByName(ctx, s.name).Result()
		c.Close()
		if err == nil && len(addr) == 2 {
			return net.JoinHostPort(addr[0], addr[1])
		}
		errs = append(errs, fmt.Sprintf("%s: %v %v", sn, addr, err))
	}
	s.fail("no Sentinel names the master: %s", strings.Join(errs, "; "))
	return ""
}

// server returns the master or replica at addr.
func (s *Sentinel) server(addr string) *Server {
	s.tb.Helper()
	for _, d := range s.data {
		if d.Addr() == addr {
			return d
		}
	}
	s.fail("the Sentinels name %s, which is neither the master nor the replica", addr)
	return nil
}

// Master returns the server that the Sentinels name the master now: after
// a failover, the former replica.
func (s *Sentinel) Master() *Server {
	s.tb.Helper()
	return s.server(s.masterAddr())
}

// Replica returns the server that is not the master now: after a
// failover, the former master (killed, if KillMaster made the failover).
func (s *Sentinel) Replica() *Server {
	s.tb.Helper()
	m := s.Master()
	for _, d := range s.data {
		if d != m {
			return d
		}
	}
	return nil
}

// KillMaster kills the master the Sentinels name (SIGKILL), as a crash
// would, and leaves it down. WaitFailover then waits for the Sentinels to
// promote the replica.
func (s *Sentinel) KillMaster() {
	s.tb.Helper()
	m := s.Master()
	s.last = m.Addr()
	m.Kill()
}

// WaitFailover waits at most timeout until every Sentinel names a master
// other than the one they named before (at StartSentinel, KillMaster or
// the previous WaitFailover), and that server answers ROLE as a master.
// It returns the new master's address.
func (s *Sentinel) WaitFailover(timeout time.Duration) (newMasterAddr string) {
	s.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	clients := make([]*goredis.SentinelClient, len(s.sentinels))
	for i, sn := range s.sentinels {
		clients[i] = goredis.NewSentinelClient(sn.options())
		defer clients[i].Close()
	}
	var report string
	for {
		addr, r := s.newMaster(ctx, clients)
		if addr != "" {
			s.last = addr
			return addr
		}
		report = r
		select {
		case <-ctx.Done():
			s.fail("no failover from %s within %v: %s", s.last, timeout, report)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// newMaster returns the master all the Sentinels name if it is new and
// answers ROLE as a master, else "" and what they and it answered.
func (s *Sentinel) newMaster(ctx context.Context, clients []*goredis.SentinelClient) (string, string) {
	var named []string
	agreed := true
	for _, c := range clients {
		addr, err := c.GetMasterAddrByName(ctx, s.name).Result()
		if err != nil || len(addr) != 2 {
			named = append(named, fmt.Sprintf("%v %v", addr, err))
			agreed = false
			continue
		}
		named = append(named, net.JoinHostPort(addr[0], addr[1]))
		agreed = agreed && named[len(named)-1] == named[0]
	}
	report := "the Sentinels name " + strings.Join(named, ", ")
	if !agreed || named[0] == s.last {
		return "", report
	}
	var m *Server
	for _, d := range s.data {
		if d.Addr() == named[0] {
			m = d
		}
	}
	if m == nil {
		return "", report + ", which is neither the master nor the replica"
	}
	c := goredis.NewClient(m.options())
	defer c.Close()
	role, err := c.Do(ctx, "role").Slice()
	if err != nil || len(role) == 0 || role[0] != "master" {
		return "", fmt.Sprintf("%s, whose ROLE is %v %v", report, role, err)
	}
	return named[0], ""
}
