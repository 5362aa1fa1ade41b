// Package heraldtestutil gives Herald's own tests what heraldtest keeps
// out of its public API because it uses Herald's internal types: the
// server config and the running server.
//
//	b := heraldtest.NewBroker(t, heraldtestutil.WithConfig(func(c *server.Config) { c.MaxMessageBytes = 1 << 10 }))
//	groups := heraldtestutil.Server(b).Groups()
package heraldtestutil

import (
	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/heraldtestutil/hooks"
	"github.com/heraldhq/herald/internal/server"
)

// WithConfig edits the server config after the other options; a
// ListenAddr set here replaces the random port.
func WithConfig(edit func(*server.Config)) heraldtest.Option {
	return hooks.WithConfig(edit).(heraldtest.Option)
}

// Server is b's running server, or nil after Close.
func Server(b *heraldtest.Broker) *server.Server { return hooks.Server(b) }
