// Package deploy holds Herald's Dockerfile and systemd unit; its tests lint
// them, and build the image when a Docker engine is there.
package deploy

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// instruction is one Dockerfile instruction with its arguments, continued
// lines joined.
type instruction struct {
	cmd, args string
	line      int
}

func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDockerfile checks the rules the image must keep: multi-stage, a
// static binary, pinned base images, a non-root user, the data volume and
// the two ports.
func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, "Dockerfile")
	var froms, users []instruction
	has := map[string][]string{}
	for _, in := range ins {
		has[in.cmd] = append(has[in.cmd], in.args)
		switch in.cmd {
		case "FROM":
			froms = append(froms, in)
		case "USER":
			users = append(users, in)
		}
	}
	if len(froms) < 2 {
		t.Errorf("%d FROM, want a multi-stage build", len(froms))
	}
	for _, f := range froms {
		image := strings.Fields(f.args)[0]
		if !strings.Contains(image, ":") || strings.HasSuffix(image, ":latest") {
			t.Errorf("line %d: FROM %s: pin a tag, not latest", f.line, image)
		}
	}
	var static bool
	for _, run := range has["RUN"] {
		if strings.Contains(run, "go build") && strings.Contains(run, "CGO_ENABLED=0") {
			static = true
		}
	}
	if !static {
		t.Error("no RUN with CGO_ENABLED=0 go build: the binary must be static")
	}
	if len(users) == 0 {
		t.Error("no USER: the image would run as root")
	} else if u := users[len(users)-1]; users[len(users)-1].line < froms[len(froms)-1].line ||
		regexp.MustCompile(`^(root|0)(:|$)`).MatchString(u.args) {
		t.Errorf("line %d: USER %s: the final stage must run as a non-root user", u.line, u.args)
	}
	if !strings.Contains(strings.Join(has["VOLUME"], " "), "/var/lib/herald") {
		t.Errorf("VOLUME %v: want the data dir /var/lib/herald", has["VOLUME"])
	}
	expose := strings.Join(has["EXPOSE"], " ")
	for _, port := range []string{"9092", "8081"} {
		if !strings.Contains(expose, port) {
			t.Errorf("EXPOSE %q lacks %s", expose, port)
		}
	}
	env := strings.Join(has["ENV"], " ")
	if !strings.Contains(env, "HERALD_DATA_DIR=/var/lib/herald") {
		t.Errorf("ENV %q: the data dir must be the volume", env)
	}
	for _, add := range has["ADD"] {
		t.Errorf("ADD %s: use COPY", add)
	}
}

// TestDockerBuild builds the image when a Docker engine answers; the
// client alone (as on the CI machine) is not enough.
func TestDockerBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("no docker client; TestDockerfile lints the Dockerfile")
	}
	if err := exec.Command(docker, "info").Run(); err != nil {
		t.Skip("no Docker engine (docker info failed); TestDockerfile lints the Dockerfile")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, docker, "build", "-f", "deploy/Dockerfile", "-t", "herald:test", ".")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, docker, "run", "--rm", "herald:test", "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "herald ") {
		t.Fatalf("docker run herald:test version: %v\n%s", err, out)
	}
}

// unit is a parsed systemd unit: section -> key -> values.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unit{}
	sec := ""
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			sec = strings.Trim(line, "[]")
			u[sec] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || sec == "" {
				t.Fatalf("%s:%d: %q is not key=value in a section", path, n+1, line)
			}
			u[sec][strings.TrimSpace(k)] = append(u[sec][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return u
}

// TestSystemdUnit checks the unit's shape and hardening, and runs
// systemd-analyze verify on it when systemd-analyze is installed.
func TestSystemdUnit(t *testing.T) {
	u := parseUnit(t, "herald.service")
	for _, sec := range []string{"Unit", "Service", "Install"} {
		if u[sec] == nil {
			t.Fatalf("no [%s] section", sec)
		}
	}
	svc := u["Service"]
	if got := svc["ExecStart"]; len(got) != 1 || got[0] != "/usr/local/bin/herald serve --config /etc/herald/herald.yaml" {
		t.Errorf("ExecStart %q: want herald serve with the config file", got)
	}
	for k, want := range map[string]string{
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"PrivateDevices": "yes", "DynamicUser": "yes", "StateDirectory": "herald", "CapabilityBoundingSet": "",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "KillSignal": "SIGTERM",
	} {
		if got := svc[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	if got := u["Install"]["WantedBy"]; len(got) != 1 || got[0] != "multi-user.target" {
		t.Errorf("WantedBy=%q", got)
	}

	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed; the parse above is the check")
		return
	}
	// verify needs the ExecStart binary to exist: point it at a stand-in
	// in a copy of the unit.
	dir := t.TempDir()
	bin := filepath.Join(dir, "herald")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile("herald.service")
	unitPath := filepath.Join(dir, "herald.service")
	if err := os.WriteFile(unitPath, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/herald", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", "--man=no", unitPath).CombinedOutput()
	// verify also reports problems of other units on this machine and of
	// a system without a running systemd; only lines about ours count.
	var ours []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "herald.service") {
			ours = append(ours, l)
		}
	}
	if len(ours) > 0 {
		t.Fatalf("systemd-analyze verify herald.service (%v):\n%s", err, strings.Join(ours, "\n"))
	}
}
