// Package hooks is where heraldtest leaves the test hooks that use
// Herald's internal types, for package heraldtestutil to give Herald's
// own tests. It imports neither, so that heraldtest can set the hooks
// (at init) and heraldtestutil, which imports heraldtest, can read them.
package hooks

import "github.com/heraldhq/herald/internal/server"

// The hooks, set by heraldtest's init.
var (
	// WithConfig returns a heraldtest.Option (as any) that edits the
	// server config after the other options.
	WithConfig func(edit func(*server.Config)) any
	// Server returns the running server of a *heraldtest.Broker (given
	// as any), or nil after Close.
	Server func(broker any) *server.Server
)
