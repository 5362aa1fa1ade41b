package buildinfo

import (
	"regexp"
	"runtime"
	"testing"
)

func TestString(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Info
		exp  string
		sw   string
	}{
		{name: "release", in: Info{Version: "v1.2.0", Go: "go1.26.8"}, exp: "herald v1.2.0 (go1.26.8)", sw: "v1.2.0"},
		{name: "stamped", in: Info{Version: "v0.0.0-20261129140000-3f2a9c1d0b7e+dirty", Revision: "3f2a9c1d0b7e5566778899aabbccddeeff001122", Modified: true, Go: "go1.26.8"},
			exp: "herald v0.0.0-20261129140000-3f2a9c1d0b7e+dirty (revision 3f2a9c1d0b7e, modified, go1.26.8)",
			sw:  "v0.0.0-20261129140000-3f2a9c1d0b7e-dirty.3f2a9c1d0b7e-modified"},
		{name: "devel", in: Info{Version: "(devel)", Go: "go1.26.8"}, exp: "herald (devel) (go1.26.8)", sw: "devel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.String(); got != tc.exp {
				t.Fatalf("String() = %q, want %q", got, tc.exp)
			}
			if got := tc.in.Software(); got != tc.sw {
				t.Fatalf("Software() = %q, want %q", got, tc.sw)
			}
		})
	}
}

// TestRead checks what the test binary itself reports: a version and the
// Go version that built it, and a software token KIP-511 accepts.
func TestRead(t *testing.T) {
	in := Read()
	if in.Version == "" || in.Go != runtime.Version() {
		t.Fatalf("Read() = %+v", in)
	}
	if !regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?$`).MatchString(in.Software()) {
		t.Fatalf("Software() = %q is not a valid KIP-511 token", in.Software())
	}
}
