package bench

import (
	"bufio"
	"context"
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
	"time"
)

// Protocol says which client drives a peer.
type Protocol int

const (
	Kafka Protocol = iota
	NATS
	Redis
)

// PeerSpec describes one server configuration to benchmark.
type PeerSpec struct {
	Name  string
	Proto Protocol
	// Ack says what an acknowledged write means on this peer.
	Ack string
	// start launches the server in dir and returns its process and address.
	start func(ctx context.Context, env *Env, dir string) (*Proc, error)
}

// Env holds the binaries the harness built or found once per run.
type Env struct {
	ModRoot  string // Herald's module root
	BinDir   string // where the harness puts the binaries it builds
	Herald   string
	KfakeSrv string
	NATSDeb  string // Debian nats-server
	NATSMod  string // nats-server built from the Go module (has sync_interval)
	Redis    string
	Log      io.Writer
}

// Proc is a running server child process.
type Proc struct {
	Name string
	Addr string
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{}
	err  error
}

// Peers returns every peer the harness knows, in report order.
func Peers() []PeerSpec {
	return []PeerSpec{
		{Name: "herald", Proto: Kafka, Ack: "acks=all; acknowledged after fdatasync of the batch (group commit), durability=always", start: startHerald},
		{Name: "kfake-mem", Proto: Kafka, Ack: "acks=all; in memory only, no disk", start: startKfake(false)},
		{Name: "kfake-sync", Proto: Kafka, Ack: "acks=all; written to its data dir and fsynced per produce batch (SyncWrites)", start: startKfake(true)},
		{Name: "nats-js", Proto: NATS, Ack: "PubAck after the write to the file store; fsync only every 2 min (default sync_interval) - not durable against power loss", start: startNATS(false)},
		{Name: "nats-js-always", Proto: NATS, Ack: "PubAck after the write and an fsync (sync_interval: always)", start: startNATS(true)},
		{Name: "redis-everysec", Proto: Redis, Ack: "XADD reply after the AOF write(2); fsync once a second in the background", start: startRedis("everysec")},
		{Name: "redis-always", Proto: Redis, Ack: "XADD reply after the AOF write and fsync (appendfsync always, fsync once per event-loop pass)", start: startRedis("always")},
	}
}

// FreePort returns a loopback port nothing listens on right now.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func startHerald(ctx context.Context, env *Env, dir string) (*Proc, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	return spawn(ctx, "herald", addr, "", env.Herald, "serve", "--data-dir", filepath.Join(dir, "data"),
		"--listen", addr, "--durability", "always", "--log-level", "warn",
		"--registry-listen", "", "--http-listen", "") // the registry's and console's fixed ports would collide
}

func startKfake(sync bool) func(context.Context, *Env, string) (*Proc, error) {
	return func(ctx context.Context, env *Env, dir string) (*Proc, error) {
		args := []string{"-auto-create"}
		if sync {
			args = append(args, "-data-dir", filepath.Join(dir, "data"), "-sync")
		}
		return spawn(ctx, "kfake", "", "listening on ", env.KfakeSrv, args...)
	}
}

func startNATS(always bool) func(context.Context, *Env, string) (*Proc, error) {
	return func(ctx context.Context, env *Env, dir string) (*Proc, error) {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		bin := env.NATSDeb
		args := []string{"-js", "-sd", filepath.Join(dir, "js"), "-p", strconv.Itoa(port), "-a", "127.0.0.1"}
		if always {
			// Debian's 2.9 rejects sync_interval; the module build has it.
			bin = env.NATSMod
			conf := filepath.Join(dir, "nats.conf")
			if err := os.WriteFile(conf, []byte("jetstream { sync_interval: always }\n"), 0o644); err != nil {
				return nil, err
			}
			args = append(args, "-c", conf)
		}
		if bin == "" {
			return nil, errors.New("no nats-server binary")
		}
		return spawn(ctx, "nats-server", addr, "", bin, args...)
	}
}

func startRedis(fsync string) func(context.Context, *Env, string) (*Proc, error) {
	return func(ctx context.Context, env *Env, dir string) (*Proc, error) {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		return spawn(ctx, "redis-server", addr, "", env.Redis, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--dir", dir, "--appendonly", "yes", "--appendfsync", fsync, "--save", "", "--daemonize", "no")
	}
}

// spawn starts bin and waits until it is ready: until addr accepts a TCP
// connection, or, when addr is empty, until stdout prints a line starting
// with readyPrefix followed by the address.
func spawn(ctx context.Context, name, addr, readyPrefix, bin string, args ...string) (*Proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &Proc{Name: name, Addr: addr, cmd: cmd, out: &tailBuffer{}, done: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = p.out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	addrCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			p.out.Write([]byte(line + "\n"))
			if readyPrefix != "" && strings.HasPrefix(line, readyPrefix) {
				select {
				case addrCh <- strings.TrimSpace(strings.TrimPrefix(line, readyPrefix)):
				default:
				}
			}
		}
	}()
	go func() { p.err = cmd.Wait(); close(p.done) }()

	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for {
		if p.Addr != "" {
			if c, err := net.DialTimeout("tcp", p.Addr, 200*time.Millisecond); err == nil {
				c.Close()
				return p, nil
			}
		}
		select {
		case a := <-addrCh:
			p.Addr = a
		case <-p.done:
			return nil, fmt.Errorf("%s exited during start: %w\n%s", name, p.err, p.out.String())
		case <-deadline.C:
			p.Stop()
			return nil, fmt.Errorf("%s not ready after 20s\n%s", name, p.out.String())
		case <-ctx.Done():
			p.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// PID returns the server's process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM, then SIGKILL after 10 s, and waits for the exit.
func (p *Proc) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// tailBuffer keeps the last 8 KiB of a child's output for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > 8<<10 {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-8<<10:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// ProcStats are a server's resource figures from /proc.
type ProcStats struct {
	PeakRSS    int64   // VmHWM, bytes
	CPUSeconds float64 // utime+stime
}

// ReadProcStats reads VmHWM from /proc/PID/status and utime+stime from
// /proc/PID/stat.
func ReadProcStats(pid int) (ProcStats, error) {
	var s ProcStats
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			s.PeakRSS = kb << 10
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name may hold spaces; fields count from after ')'.
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return s, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseFloat(f[11], 64) // field 14
	st, _ := strconv.ParseFloat(f[12], 64) // field 15
	s.CPUSeconds = (ut + st) / 100         // CLK_TCK is 100 on Linux
	return s, nil
}
