package kafka

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"
)

// TestAcceptRecoversFromEMFILE runs a broker in a child process whose
// descriptor limit leaves room for only a few connections, connects more
// clients than that, closes them, and checks that the listener serves a
// new client: running out of descriptors must not stop it for good.
func TestAcceptRecoversFromEMFILE(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestEMFILEChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "HERALD_EMFILE_CHILD=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	if !ok {
		t.Fatalf("child said %q", line)
	}
	ts := &testServer{addr: addr}

	// More clients than the child has descriptors for: the handshakes
	// complete in the kernel's backlog, the accepts fail with EMFILE.
	var conns []net.Conn
	for range 12 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		conns = append(conns, nc)
	}
	unanswered := 0
	for _, nc := range conns {
		c := &client{t: t, nc: nc}
		c.send(kmsg.NewPtrApiVersionsRequest())
		nc.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := nc.Read(make([]byte, 4)); err != nil {
			unanswered++
		}
	}
	if unanswered == 0 {
		t.Fatal("every client was answered: the descriptor limit did not bite")
	}
	for _, nc := range conns {
		nc.Close()
	}
	checkFor(t, 10*time.Second, "a new client answered once descriptors are free", func() bool {
		return ts.apiVersionsAnswered(t)
	})
}

// TestEMFILEChild is the broker of TestAcceptRecoversFromEMFILE; it does
// nothing unless run as that test's child.
func TestEMFILEChild(t *testing.T) {
	if os.Getenv("HERALD_EMFILE_CHILD") != "1" {
		return
	}
	ts := startServer(t, nil)
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	// Room for a few accepted connections beyond what is open now.
	lim := unix.Rlimit{Cur: uint64(len(fds) + 4), Max: 1 << 20}
	var cur unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &cur); err != nil {
		t.Fatal(err)
	}
	lim.Max = cur.Max
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("ADDR %s\n", ts.addr)
	os.Stdin.Read(make([]byte, 1)) // until the parent closes stdin
}
