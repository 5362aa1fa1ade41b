// Package buildinfo is Herald's version, read from the build information
// the Go toolchain embeds in every binary (runtime/debug.ReadBuildInfo):
// the main module's version, the VCS revision and whether the work tree
// had local changes, and the Go version.
//
//	fmt.Println(buildinfo.Read())          // herald v1.2.0 (revision 3f2a…, go1.26.8)
//	kgo.SoftwareNameAndVersion("herald-cli", buildinfo.Read().Software())
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// ConfigName is the read-only broker config entry through which a Herald
// broker tells its version over the Kafka protocol (DescribeConfigs on
// the broker resource); the Kafka protocol has no version field of its own.
const ConfigName = "herald.version"

// Info is what a binary knows about its own build.
type Info struct {
	// Version is the main module's version: a release tag such as
	// "v1.2.0", a pseudo-version, or "(devel)" when built from a work tree
	// without VCS stamping.
	Version  string `json:"version" yaml:"version"`
	Revision string `json:"revision,omitempty" yaml:"revision,omitempty"` // VCS commit, "" if not stamped
	Time     string `json:"time,omitempty" yaml:"time,omitempty"`         // commit time, RFC 3339
	Modified bool   `json:"modified" yaml:"modified"`                     // the work tree had local changes
	Go       string `json:"go" yaml:"go"`                                 // the Go version that built it
}

// Read returns the running binary's build information.
func Read() Info {
	in := Info{Version: "(devel)", Go: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return in
	}
	if v := bi.Main.Version; v != "" {
		in.Version = v
	}
	if bi.GoVersion != "" {
		in.Go = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.time":
			in.Time = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in
}

// String is the one-line form `herald version` prints and the broker logs:
// "herald v1.2.0 (revision 3f2a9c1d0b7e, modified, go1.26.8)".
func (in Info) String() string {
	parts := []string{}
	if in.Revision != "" {
		parts = append(parts, "revision "+short(in.Revision))
	}
	if in.Modified {
		parts = append(parts, "modified")
	}
	parts = append(parts, in.Go)
	return fmt.Sprintf("herald %s (%s)", in.Version, strings.Join(parts, ", "))
}

// Software is the version as one token fit for the Kafka protocol's
// ClientSoftwareVersion and the herald.version config: the version, then
// "+" and the short revision when stamped, "-modified" when the tree had
// changes; characters outside [a-zA-Z0-9.-] become '-', as KIP-511 allows
// only those.
func (in Info) Software() string {
	s := in.Version
	if in.Revision != "" {
		s += "." + short(in.Revision)
	}
	if in.Modified {
		s += "-modified"
	}
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			b[i] = '-'
		}
	}
	return strings.Trim(string(b), "-.")
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
