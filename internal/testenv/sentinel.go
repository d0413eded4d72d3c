package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SentinelMaster is the master name the sentinels of StartSentinel monitor.
const SentinelMaster = "jitbot"

// sentinelReadyTimeout bounds how long StartSentinel waits for the replica
// to be in sync and for every sentinel to see the master, its replica and
// the two other sentinels. Sentinels find each other through hello
// messages published every 2 s.
const sentinelReadyTimeout = 20 * time.Second

// Sentinel is a Redis Sentinel deployment on loopback ports: one primary,
// one replica and three sentinels monitoring SentinelMaster with quorum 2,
// each process in its own temporary directory. Data nodes keep nothing on
// disk. The sentinels mark a silent primary down after 1 s, so a failover
// takes a few seconds.
type Sentinel struct {
	data      [2]*server // the primary and the replica as started
	sentinels [3]*server

	mu      sync.Mutex
	primary int // index in data of the current primary, as last seen
}

// StartSentinel starts the deployment for the test and kills every process
// when the test ends. It returns when the replica is in sync and every
// sentinel sees the primary, the replica and both other sentinels, so a
// failover can start at once. It fails the test when a process cannot
// start or the deployment is not ready within 20 s; it never skips.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	s := &Sentinel{}
	primary := startServer(t, "primary", false, func(testing.TB, int) string {
		return dataConfig
	})
	s.data[0] = primary
	s.data[1] = startServer(t, "replica", false, func(testing.TB, int) string {
		return dataConfig + "replicaof 127.0.0.1 " + strconv.Itoa(primary.port) + "\n"
	})
	// Sentinels learn about replicas from the primary's INFO, which they
	// read every 10 s; starting them after the replica is attached lets
	// their first INFO show it.
	s.waitReady(t, "the replica to be in sync", s.replicationReady)
	for i := range s.sentinels {
		s.sentinels[i] = startServer(t, fmt.Sprintf("sentinel %d", i+1), true, func(testing.TB, int) string {
			return fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2\n", SentinelMaster, primary.port) +
				"sentinel down-after-milliseconds " + SentinelMaster + " 1000\n" +
				"sentinel failover-timeout " + SentinelMaster + " 3000\n" +
				"sentinel parallel-syncs " + SentinelMaster + " 1\n"
		})
	}
	s.waitReady(t, "the sentinels to see the primary, its replica and each other", s.sentinelsReady)
	return s
}

// dataConfig is what the primary and the replica share. With diskless
// sync and no delay, a replica is in sync within milliseconds; the default
// waits 5 s for more replicas to share the transfer.
const dataConfig = `save ""
appendonly no
repl-diskless-sync yes
repl-diskless-sync-delay 0
`

// URL is the redis-sentinel:// URL of the deployment, listing all three
// sentinels, as REDIS_URL takes it.
func (s *Sentinel) URL() string {
	return "redis-sentinel://" + strings.Join(s.Addrs(), ",") + "/" + SentinelMaster
}

// Addrs are the sentinels' host:port addresses.
func (s *Sentinel) Addrs() []string {
	addrs := make([]string, len(s.sentinels))
	for i, sen := range s.sentinels {
		addrs[i] = sen.addr()
	}
	return addrs
}

// Primary is host:port of the current primary: the one started as primary,
// or, after WaitFailover, the one the sentinels promoted.
func (s *Sentinel) Primary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data[s.primary].addr()
}

// Replica is host:port of the other data node: the replica until a
// failover, the killed former primary after one.
func (s *Sentinel) Replica() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data[1-s.primary].addr()
}

// KillPrimary ends the current primary with SIGKILL, like a crash, so the
// sentinels fail over to the replica. Writes the replica had not received
// are lost, as in production. The killed node stays down, so a deployment
// fails over once; killing a dead primary does nothing.
func (s *Sentinel) KillPrimary() {
	s.mu.Lock()
	p := s.data[s.primary]
	s.mu.Unlock()
	p.signal(syscall.SIGKILL)
}

// PauseReplica stops the replica with SIGSTOP: it keeps its connections
// but reads nothing, so it acknowledges no write (WAIT 1 times out) until
// ResumeReplica. A replica paused for more than 1 s is seen as down by the
// sentinels and cannot be promoted until it is resumed.
func (s *Sentinel) PauseReplica() {
	s.mu.Lock()
	r := s.data[1-s.primary]
	s.mu.Unlock()
	r.signal(syscall.SIGSTOP)
}

// ResumeReplica continues a replica stopped by PauseReplica.
func (s *Sentinel) ResumeReplica() {
	s.mu.Lock()
	r := s.data[1-s.primary]
	s.mu.Unlock()
	r.signal(syscall.SIGCONT)
}

// WaitFailover waits until all three sentinels name the same new primary,
// one other than Primary, and that node reports itself master; from then
// on Primary returns it. It returns the new primary's host:port, and fails
// the test, with every sentinel's view and log, if that takes longer than
// timeout.
func (s *Sentinel) WaitFailover(t testing.TB, timeout time.Duration) string {
	t.Helper()
	old := s.Primary()
	var newAddr string
	var lastErr error
	deadline := time.Now().Add(timeout)
	for {
		newAddr, lastErr = s.promoted(old)
		if lastErr == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sentinels did not fail over from %s within %v: %v%s", old, timeout, lastErr, s.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, d := range s.data {
		if d.addr() == newAddr {
			s.primary = i
		}
	}
	return newAddr
}

// promoted returns the address all sentinels agree is the primary, or an
// error while that is still old or they disagree.
func (s *Sentinel) promoted(old string) (string, error) {
	agreed := ""
	for _, sen := range s.sentinels {
		reply, err := call(sen.addr(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SentinelMaster)
		if err != nil {
			return "", fmt.Errorf("%s: %w", sen.name, err)
		}
		hp, ok := reply.([]any)
		if !ok || len(hp) != 2 {
			return "", fmt.Errorf("%s: GET-MASTER-ADDR-BY-NAME answered %v", sen.name, reply)
		}
		addr := net.JoinHostPort(fmt.Sprint(hp[0]), fmt.Sprint(hp[1]))
		switch {
		case addr == old:
			return "", fmt.Errorf("%s still names %s", sen.name, old)
		case agreed != "" && addr != agreed:
			return "", fmt.Errorf("sentinels disagree: %s and %s", agreed, addr)
		}
		agreed = addr
	}
	if agreed != s.data[0].addr() && agreed != s.data[1].addr() {
		return "", fmt.Errorf("sentinels name %s, which is none of the data nodes", agreed)
	}
	repl, err := info(agreed, "replication")
	if err != nil {
		return "", fmt.Errorf("new primary %s: %w", agreed, err)
	}
	if repl["role"] != "master" {
		return "", fmt.Errorf("new primary %s still has role %s", agreed, repl["role"])
	}
	return agreed, nil
}

// replicationReady is nil once the primary streams to an online replica.
func (s *Sentinel) replicationReady() error {
	p, r := s.data[0], s.data[1]
	repl, err := info(r.addr(), "replication")
	if err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	if repl["master_link_status"] != "up" {
		return fmt.Errorf("replica: master_link_status %q", repl["master_link_status"])
	}
	repl, err = info(p.addr(), "replication")
	if err != nil {
		return fmt.Errorf("primary: %w", err)
	}
	if repl["connected_slaves"] != "1" || !strings.Contains(repl["slave0"], "state=online") {
		return fmt.Errorf("primary: connected_slaves %s, slave0 %q", repl["connected_slaves"], repl["slave0"])
	}
	return nil
}

// sentinelsReady is nil once every sentinel sees the master up, one
// healthy replica and the two other sentinels: what a failover needs.
func (s *Sentinel) sentinelsReady() error {
	for _, sen := range s.sentinels {
		reply, err := call(sen.addr(), "SENTINEL", "MASTER", SentinelMaster)
		if err != nil {
			return fmt.Errorf("%s: %w", sen.name, err)
		}
		m := pairs(reply)
		if m["flags"] != "master" || m["num-slaves"] != "1" || m["num-other-sentinels"] != "2" {
			return fmt.Errorf("%s sees master flags %q, %s replicas, %s other sentinels",
				sen.name, m["flags"], m["num-slaves"], m["num-other-sentinels"])
		}
		reply, err = call(sen.addr(), "SENTINEL", "REPLICAS", SentinelMaster)
		if err != nil {
			return fmt.Errorf("%s: %w", sen.name, err)
		}
		replicas, _ := reply.([]any)
		if len(replicas) != 1 {
			return fmt.Errorf("%s lists %d replicas", sen.name, len(replicas))
		}
		if r := pairs(replicas[0]); r["flags"] != "slave" || r["master-link-status"] != "ok" {
			return fmt.Errorf("%s sees replica flags %q, master-link-status %q", sen.name, r["flags"], r["master-link-status"])
		}
	}
	return nil
}

func (s *Sentinel) waitReady(t testing.TB, what string, ready func() error) {
	t.Helper()
	deadline := time.Now().Add(sentinelReadyTimeout)
	for {
		err := ready()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sentinel deployment: waited %v for %s: %v%s", sentinelReadyTimeout, what, err, s.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logs are the ends of every process's log, for a failure message.
func (s *Sentinel) logs() string {
	var b strings.Builder
	for _, srv := range append(s.data[:], s.sentinels[:]...) {
		if srv != nil {
			b.WriteString(srv.log())
		}
	}
	return b.String()
}

// pairs turns a flat [k1 v1 k2 v2 …] reply into a map.
func pairs(reply any) map[string]string {
	flat, _ := reply.([]any)
	m := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		m[fmt.Sprint(flat[i])] = fmt.Sprint(flat[i+1])
	}
	return m
}

// server is one redis-server process (data node or sentinel) of a
// Sentinel or Cluster, in its own temporary directory, with its settings
// in redis.conf there (a sentinel rewrites that file as it learns).
type server struct {
	name string // "primary", "sentinel 2", "node 3": for messages
	dir  string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// startServer starts redis-server (in sentinel mode if sentinel is set)
// with the settings conf returns for its port on top of port, bind, dir
// and log file, and kills it when the test ends. conf is called again
// with a new port when another process took the port first; it may take
// more ports with freePort. It fails the test when the server does not
// answer within 10 s.
func startServer(t testing.TB, name string, sentinel bool, conf func(t testing.TB, port int) string) *server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not installed (make test installs it): %v", err)
	}
	s := &server{name: name, dir: t.TempDir()}
	t.Cleanup(func() { s.signal(syscall.SIGKILL) })
	for attempt := 1; ; attempt++ {
		s.port = freePort(t)
		err := s.start(bin, sentinel, conf(t, s.port))
		if err == nil {
			return s
		}
		if !errors.Is(err, errPortTaken) || attempt == portAttempts {
			t.Fatal(err)
		}
	}
}

func (s *server) addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

func (s *server) logPath() string { return filepath.Join(s.dir, "redis.log") }

// log is the end of the server's log, named, for a failure message.
func (s *server) log() string {
	return fmt.Sprintf("\n--- %s on %s, %s", s.name, s.addr(), tail(s.logPath()))
}

func (s *server) start(bin string, sentinel bool, conf string) error {
	path := filepath.Join(s.dir, "redis.conf")
	head := fmt.Sprintf("port %d\nbind 127.0.0.1\ndaemonize no\ndir %s\nlogfile %s\n",
		s.port, strconv.Quote(s.dir), strconv.Quote(s.logPath()))
	if err := os.WriteFile(path, []byte(head+conf), 0o600); err != nil {
		return fmt.Errorf("%s: write config: %v", s.name, err)
	}
	args := []string{path}
	if sentinel {
		args = append(args, "--sentinel")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = s.dir
	// Config errors go to stderr before the log file is open; it is read
	// only after the process has exited.
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: start redis-server: %v", s.name, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()

	deadline := time.Now().Add(redisStartTimeout)
	for {
		// The server must be ours, not another test process's on the
		// same port.
		pid, err := redisPID(s.addr())
		if err == nil && pid == cmd.Process.Pid {
			break
		}
		if err == nil {
			err = fmt.Errorf("port is served by process %d, not by redis-server %d", pid, cmd.Process.Pid)
		}
		select {
		case <-done:
			out := stderr.String() + tail(s.logPath())
			if strings.Contains(out, "Address already in use") {
				return fmt.Errorf("%s on %s: %w%s", s.name, s.addr(), errPortTaken, out)
			}
			return fmt.Errorf("%s on %s exited during start-up: %s", s.name, s.addr(), out)
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			return fmt.Errorf("%s on %s did not answer within %v: %v%s", s.name, s.addr(), redisStartTimeout, err, tail(s.logPath()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	return nil
}

// signal sends sig to the server; SIGKILL also waits for it to exit, after
// which signals do nothing.
func (s *server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(sig)
	if sig == syscall.SIGKILL {
		<-s.done
		s.cmd, s.done = nil, nil
	}
}

// respError is an error reply (-ERR …) from a server.
type respError string

func (e respError) Error() string { return string(e) }

// call sends one command to addr on a new connection and returns the
// reply: string (simple or bulk), int64, []any or nil (null); an error
// reply is returned as a respError.
func call(addr string, args ...string) (any, error) {
	replies, err := pipeline(addr, args)
	if err != nil {
		return nil, err
	}
	if e, ok := replies[0].(respError); ok {
		return nil, fmt.Errorf("%s: %w", strings.Join(args, " "), e)
	}
	return replies[0], nil
}

// pipeline sends cmds to addr, in order, on one new connection and returns
// their replies, error replies as respError values. One connection matters
// for WAIT, which waits for that connection's own last write.
func pipeline(addr string, cmds ...[]string) ([]any, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	for _, args := range cmds {
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return nil, err
	}
	r := bufio.NewReader(conn)
	replies := make([]any, len(cmds))
	for i, args := range cmds {
		if replies[i], err = readReply(r); err != nil {
			return nil, fmt.Errorf("%s on %s: %w", strings.Join(args, " "), addr, err)
		}
	}
	return replies, nil
}

// readReply reads one RESP2 reply.
func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty reply line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return respError(body), nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = readReply(r); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected reply %q", line)
}

// info runs INFO section on addr and returns its fields.
func info(addr, section string) (map[string]string, error) {
	reply, err := call(addr, "INFO", section)
	if err != nil {
		return nil, err
	}
	text, ok := reply.(string)
	if !ok {
		return nil, fmt.Errorf("INFO %s answered %v", section, reply)
	}
	return fields(text), nil
}

// fields parses "key:value" lines, as INFO and CLUSTER INFO write them.
func fields(text string) map[string]string {
	m := map[string]string{}
	for line := range strings.Lines(text) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			m[k] = v
		}
	}
	return m
}
