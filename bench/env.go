package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// natsModVersion is the nats-server release built from the Go module for
// the sync_interval=always peer; Debian's 2.9 does not know that option.
const natsModVersion = "v2.15.2"

// PrepareEnv builds Herald and kfakeserve into binDir and finds (or
// installs) the servers the chosen peers need.
func PrepareEnv(ctx context.Context, binDir string, peers []PeerSpec, log io.Writer) (*Env, error) {
	root, err := goOut(ctx, "", "list", "-m", "-f", "{{.Dir}}", "github.com/heraldhq/herald")
	if err != nil {
		return nil, fmt.Errorf("find module root (run from inside the Herald module): %w", err)
	}
	env := &Env{ModRoot: root, BinDir: binDir, Log: log}
	need := map[string]bool{}
	for _, p := range peers {
		need[p.Name] = true
	}
	build := func(out, pkg string) (string, error) {
		path := filepath.Join(binDir, out)
		fmt.Fprintf(log, "building %s\n", pkg)
		_, err := goOut(ctx, root, "build", "-o", path, pkg)
		return path, err
	}
	if need["herald"] {
		if env.Herald, err = build("herald", "./cmd/herald"); err != nil {
			return nil, err
		}
	}
	if need["kfake-mem"] || need["kfake-sync"] {
		if env.KfakeSrv, err = build("kfakeserve", "./compat/cmd/kfakeserve"); err != nil {
			return nil, err
		}
	}
	if need["nats-js"] {
		if env.NATSDeb, err = findOrInstall(ctx, "nats-server", "nats-server", log); err != nil {
			return nil, err
		}
	}
	if need["nats-js-always"] {
		if env.NATSMod, err = natsFromModule(ctx, log); err != nil {
			return nil, err
		}
	}
	if need["redis-everysec"] || need["redis-always"] {
		if env.Redis, err = findOrInstall(ctx, "redis-server", "redis-server", log); err != nil {
			return nil, err
		}
	}
	return env, nil
}

func goOut(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// findOrInstall looks for bin on PATH and in /usr/sbin, and runs apt-get
// update and install of pkg when it is missing.
func findOrInstall(ctx context.Context, bin, pkg string, log io.Writer) (string, error) {
	find := func() string {
		if p, err := exec.LookPath(bin); err == nil {
			return p
		}
		for _, d := range []string{"/usr/sbin", "/usr/bin", "/usr/local/bin"} {
			if p := filepath.Join(d, bin); isExec(p) {
				return p
			}
		}
		return ""
	}
	if p := find(); p != "" {
		return p, nil
	}
	sudo := []string{}
	if os.Geteuid() != 0 {
		sudo = []string{"sudo", "-n"}
	}
	for _, args := range [][]string{{"apt-get", "update"}, {"apt-get", "install", "-y", pkg}} {
		full := append(append([]string{}, sudo...), args...)
		fmt.Fprintf(log, "running %s\n", strings.Join(full, " "))
		cmd := exec.CommandContext(ctx, full[0], full[1:]...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("%s: %w\n%s", strings.Join(full, " "), err, out)
		}
	}
	if p := find(); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("%s still missing after apt-get install %s", bin, pkg)
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// natsFromModule builds nats-server natsModVersion with go install into the
// user cache (outside Herald's go.mod) once, and reuses it afterwards.
func natsFromModule(ctx context.Context, log io.Writer) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "herald-bench", "nats-server-"+natsModVersion)
	bin := filepath.Join(dir, "nats-server")
	if isExec(bin) {
		return bin, nil
	}
	fmt.Fprintf(log, "go install github.com/nats-io/nats-server/v2@%s (once, into %s)\n", natsModVersion, dir)
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/nats-io/nats-server/v2@"+natsModVersion)
	cmd.Dir = os.TempDir() // outside any module
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install nats-server: %w\n%s", err, out)
	}
	return bin, nil
}

// Versions returns a one-line version string of each external server.
func (e *Env) Versions(ctx context.Context) map[string]string {
	v := map[string]string{}
	run := func(key, bin string, args ...string) {
		if bin == "" {
			return
		}
		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		if err == nil {
			v[key] = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
		}
	}
	run("nats-js", e.NATSDeb, "--version")
	run("nats-js-always", e.NATSMod, "--version")
	run("redis", e.Redis, "--version")
	return v
}
