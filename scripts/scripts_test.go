// Package scripts holds the shell scripts `make test` runs; this test runs
// them against stand-ins for the package manager.
package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestEnsureToolsWaitsForTheLock runs ensure-tools.sh with kcat (then
// chromium) missing and a stand-in apt-get that records its arguments and
// "installs" the package: every apt-get call must wait for the package
// manager's lock instead of failing at once when another install holds it.
func TestEnsureToolsWaitsForTheLock(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("ensure-tools.sh uses sudo when not root; the stand-in apt-get needs root")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	for _, tc := range []struct{ tool, skipOther string }{
		{"kcat", "HERALD_SKIP_CHROMIUM=1"},
		{"chromium", "HERALD_SKIP_KCAT=1"},
	} {
		t.Run(tc.tool, func(t *testing.T) {
			bin := t.TempDir()
			calls := filepath.Join(bin, "calls")
			stub := filepath.Join(bin, tc.tool)
			fake := `#!/bin/sh
echo "$*" >> ` + calls + `
case " $* " in *" install "*) printf '#!/bin/sh\necho "` + tc.tool + ` - fake 1.0"\n' > ` + stub + `; chmod +x ` + stub + `;; esac
`
			if err := os.WriteFile(filepath.Join(bin, "apt-get"), []byte(fake), 0o755); err != nil {
				t.Fatal(err)
			}
			// PATH: the stand-ins, then only what the script needs besides them.
			tools := filepath.Join(t.TempDir(), "tools")
			if err := os.Mkdir(tools, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"id", "env", "mktemp", "rm", "cat", "head", "printf", "chmod"} {
				if p, err := exec.LookPath(name); err == nil {
					if err := os.Symlink(p, filepath.Join(tools, name)); err != nil {
						t.Fatal(err)
					}
				}
			}
			cmd := exec.Command(sh, "ensure-tools.sh")
			cmd.Env = []string{"PATH=" + bin + ":" + tools, tc.skipOther}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("ensure-tools.sh: %v\n%s", err, out)
			}
			b, err := os.ReadFile(calls)
			if err != nil {
				t.Fatalf("apt-get was not called: %v\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) != 2 || !strings.HasSuffix(lines[1], " "+tc.tool) {
				t.Fatalf("apt-get calls %q, want update and install %s", lines, tc.tool)
			}
			for _, l := range lines {
				if !strings.Contains(l, "-o DPkg::Lock::Timeout=600") {
					t.Errorf("apt-get %s: does not wait for the lock", l)
				}
			}
			if !strings.Contains(string(out), "installed "+tc.tool+" - fake 1.0") {
				t.Errorf("output %q does not report the install", out)
			}
		})
	}
}
