package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// The bench, jitbot, Redis and the emulators share the machine's cores,
// and at 167 revocations a second they use nearly all of them: a lag
// figure that misses is then the machine's queue as much as jitbot's. The
// phases that load the machine report where its CPU went, process by
// process, so the floor is shown rather than asserted.

// clockTicks is USER_HZ, the unit of the CPU times in /proc: 100 on every
// Linux the bench runs on (the kernel fixes it for user space).
const clockTicks = 100

// cpuSampler adds up the CPU time each role's processes take while a
// phase runs, sampling every second so that a process killed or started
// during the phase is counted for the time it ran.
type cpuSampler struct {
	roles func() map[string][]int // role → its processes now
	stopc chan struct{}
	done  chan struct{}

	start, end time.Time
	first      map[int]float64 // CPU seconds of each process when first seen
	last       map[int]float64 // … when last seen
	roleOf     map[int]string
	machine0   [2]uint64 // /proc/stat busy and total ticks at start
	machine1   [2]uint64
	// ticks are each sample's time and every role's CPU seconds so far,
	// for the second-by-second timeline that shows what a backlog
	// coincided with.
	ticks []cpuTick
}

type cpuTick struct {
	at    time.Time
	secs  map[string]float64
	machi [2]uint64
}

// sampleCPU starts accounting for the CPU of jitbot (the bot and the
// replicas named), Redis, moto and the bench itself (which hosts the Slack
// fake and the proxies in front of Slack and AWS) until stop.
func (b *bench) sampleCPU(replicas ...*bot) *cpuSampler {
	return startCPUSampler(func() map[string][]int { return b.cpuRoles(replicas) })
}

// startCPUSampler accounts for the CPU of the processes roles names, by
// role, until stop.
func startCPUSampler(roles func() map[string][]int) *cpuSampler {
	c := &cpuSampler{roles: roles, stopc: make(chan struct{}), done: make(chan struct{}),
		first: map[int]float64{}, last: map[int]float64{}, roleOf: map[int]string{}}
	c.start = time.Now()
	c.machine0 = machineTicks()
	c.sample(true)
	go func() {
		defer close(c.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-c.stopc:
				c.sample(false)
				c.end = time.Now()
				c.machine1 = machineTicks()
				return
			case <-tick.C:
				c.sample(false)
			}
		}
	}()
	return c
}

// cpuRoles names the processes that share the machine in a phase.
func (b *bench) cpuRoles(replicas []*bot) map[string][]int {
	roles := map[string][]int{"bench": {os.Getpid()}}
	for _, bt := range append([]*bot{b.st.bot}, replicas...) {
		if pid := bt.pid(); pid != 0 {
			roles["jitbot"] = append(roles["jitbot"], pid)
		}
	}
	if pid := b.st.redis.Pid(); pid != 0 {
		roles["redis"] = []int{pid}
	}
	roles["moto"] = processGroup(b.st.moto.ProcessGroup())
	return roles
}

// sample reads the CPU time of every process of every role. A process
// first seen after the initial sample started during the phase: all of
// its time counts.
func (c *cpuSampler) sample(initial bool) {
	for role, pids := range c.roles() {
		for _, pid := range pids {
			secs, err := processCPU(pid)
			if err != nil {
				continue // gone between listing and reading
			}
			if _, seen := c.first[pid]; !seen {
				c.first[pid] = 0
				if initial {
					c.first[pid] = secs
				}
				c.roleOf[pid] = role
			}
			c.last[pid] = secs
		}
	}
	t := cpuTick{at: time.Now(), secs: map[string]float64{}, machi: machineTicks()}
	for pid, role := range c.roleOf {
		t.secs[role] += c.last[pid] - c.first[pid]
	}
	c.ticks = append(c.ticks, t)
}

// writeTimeline writes, second by second, the cores each role took and
// the machine's busy fraction, as tab-separated values.
func (c *cpuSampler) writeTimeline(path string) error {
	roles := []string{"moto", "jitbot", "bench", "redis"}
	var b strings.Builder
	fmt.Fprintf(&b, "time\t%s\tmachine_busy\n", strings.Join(roles, "\t"))
	for i := 1; i < len(c.ticks); i++ {
		prev, t := c.ticks[i-1], c.ticks[i]
		wall := t.at.Sub(prev.at).Seconds()
		b.WriteString(t.at.Format("15:04:05"))
		for _, r := range roles {
			fmt.Fprintf(&b, "\t%.2f", (t.secs[r]-prev.secs[r])/wall)
		}
		busy := float64(t.machi[0]-prev.machi[0]) / float64(max(1, t.machi[1]-prev.machi[1]))
		fmt.Fprintf(&b, "\t%.2f\n", busy)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// cpuShares is where the machine's CPU went during a phase: each role's
// share in cores (1 = one core all the time) and the machine's busy
// fraction over all its cores.
type cpuShares struct {
	cores       map[string]float64
	machineBusy float64
}

func (c *cpuSampler) stop() cpuShares {
	close(c.stopc)
	<-c.done
	s := cpuShares{cores: map[string]float64{}}
	wall := c.end.Sub(c.start).Seconds()
	for pid, role := range c.roleOf {
		s.cores[role] += (c.last[pid] - c.first[pid]) / wall
	}
	if total := c.machine1[1] - c.machine0[1]; total > 0 {
		s.machineBusy = float64(c.machine1[0]-c.machine0[0]) / float64(total)
	}
	return s
}

// addTo puts the shares into f's extras, as cpu_cores_<role> and
// cpu_machine_busy_fraction.
func (s cpuShares) addTo(f *figure) {
	for role, cores := range s.cores {
		f.addExtra("cpu_cores_"+role, cores)
	}
	f.addExtra("cpu_machine_busy_fraction", s.machineBusy)
}

// String reads as "moto 0.81, jitbot 0.52, … cores; machine 91% busy".
func (s cpuShares) String() string {
	var parts []string
	for _, role := range []string{"moto", "jitbot", "bench", "redis"} {
		if v, ok := s.cores[role]; ok {
			parts = append(parts, fmt.Sprintf("%s %.2f", role, v))
		}
	}
	return fmt.Sprintf("%s cores; machine %.0f%% busy", strings.Join(parts, ", "), 100*s.machineBusy)
}

// processCPU is the CPU seconds pid and its reaped children have used
// (Redis's append-only-file rewrites run in a child).
func processCPU(pid int) (float64, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	var ticks uint64
	for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime
		v, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += v
	}
	return float64(ticks) / clockTicks, nil
}

// statFields are the fields of /proc/pid/stat after the command name, so
// that f[0] is the state and f[2] the process group.
func statFields(pid int) ([]string, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil, err
	}
	s := string(data)
	close := strings.LastIndexByte(s, ')')
	if close < 0 || close+2 > len(s) {
		return nil, fmt.Errorf("/proc/%d/stat: unexpected %q", pid, s)
	}
	f := strings.Fields(s[close+2:])
	if len(f) < 15 {
		return nil, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	return f, nil
}

// processGroup lists the processes in process group pgid.
func processGroup(pgid int) []int {
	if pgid == 0 {
		return nil
	}
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f, err := statFields(pid); err == nil && f[2] == strconv.Itoa(pgid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// machineTicks is the busy and total ticks of all cores from /proc/stat.
func machineTicks() [2]uint64 {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return [2]uint64{}
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var busy, total uint64
	for i, s := range f[1:] {
		v, _ := strconv.ParseUint(s, 10, 64)
		if i >= 8 { // guest time is already counted in user
			break
		}
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return [2]uint64{busy, total}
}

// keepTimeline writes c's timeline into the work directory as
// cpu-<name>.tsv.
func (b *bench) keepTimeline(c *cpuSampler, name string) {
	path := filepath.Join(b.st.dir, "cpu-"+name+".tsv")
	if err := c.writeTimeline(path); err != nil {
		b.logf("CPU timeline: %v", err)
	}
}

// prioritize gives every thread of the processes in group pgid the
// scheduling priority nice (negative is sooner), so that threads they
// start later inherit it.
func prioritize(pgid, nice int) error {
	pids := processGroup(pgid)
	if len(pids) == 0 {
		return fmt.Errorf("no process in group %d", pgid)
	}
	for _, pid := range pids {
		tasks, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
		if err != nil {
			return err
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice); err != nil {
				return fmt.Errorf("setpriority of thread %d of process %d: %w", tid, pid, err)
			}
		}
	}
	return nil
}

// motoNice is moto_server's scheduling priority in the bench. In
// production AWS answers from its own machines; here moto shares two
// cores with jitbot, Redis and the bench, and at 167 revocations a second
// it is the busiest process. Served at the default priority it got about
// 0.73 of a core, its round trip stretched by the processes it answers,
// and a reduced run of revocation_lag_100k had a p50 of 515 ms; at this
// priority the same run's p50 was 50 ms. jitbot keeps the default, so its
// own part of every lag is measured with less CPU, not more.
const motoNice = -10

// prioritizeMoto gives moto_server motoNice, or says in the findings why
// it could not (setting a negative nice needs root or CAP_SYS_NICE).
func (b *bench) prioritizeMoto() {
	if err := prioritize(b.st.moto.ProcessGroup(), motoNice); err != nil {
		b.findings = append(b.findings, fmt.Sprintf("moto_server runs at the default priority, not nice %d: %v; figures that wait on moto include more of the machine's queue", motoNice, err))
		return
	}
	b.logf("moto_server runs at nice %d (see cmd/jitbench/cpu.go)", motoNice)
}

// settle waits, up to timeout, until Redis has written no snapshot or
// append-only-file rewrite and the machine was less than half busy for
// three seconds in a row: seeding 100,000 records makes Redis rewrite its file
// in a child right after, seconds of a core that a millisecond figure
// timed then would carry. It says so and carries on when they do not.
func (b *bench) settle(ctx context.Context, timeout time.Duration) {
	opts, err := redis.ParseURL(b.st.redis.URL())
	if err != nil {
		b.logf("settle: %v", err)
		return
	}
	client := redis.NewClient(opts)
	defer client.Close()
	deadline := time.Now().Add(timeout)
	calm := 0 // seconds in a row: a rewrite Redis starts a moment later is not missed
	for ctx.Err() == nil && time.Now().Before(deadline) {
		before := machineTicks()
		time.Sleep(time.Second)
		after := machineTicks()
		busy := float64(after[0]-before[0]) / float64(max(1, after[1]-before[1]))
		info, err := client.Info(ctx, "persistence").Result()
		if calm++; err != nil || busy >= 0.5 || persisting(info) {
			calm = 0
		}
		if calm == 3 {
			return
		}
	}
	b.logf("settle: Redis or the machine still busy after %v; timing anyway", timeout)
}

// persisting reports whether Redis's INFO persistence shows a snapshot or
// an append-only-file rewrite running or about to.
func persisting(info string) bool {
	for _, k := range []string{"rdb_bgsave_in_progress:1", "aof_rewrite_in_progress:1", "aof_rewrite_scheduled:1"} {
		if strings.Contains(info, k) {
			return true
		}
	}
	return false
}
