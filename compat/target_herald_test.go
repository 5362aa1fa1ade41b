package compat

import (
	"testing"

	"github.com/heraldhq/herald/heraldtest"
)

// startHerald starts an in-process Herald (durability "always") on a random
// port with a temporary data dir.
func startHerald(t testing.TB, o brokerOpts) target {
	t.Helper()
	autoCreate := autoCreateOn // Herald's default, as Kafka's
	opts := []heraldtest.Option{heraldtest.WithDurability("always")}
	if o.autoCreate != autoCreateUnknown {
		on := o.autoCreate == autoCreateOn
		autoCreate = o.autoCreate
		opts = append(opts, heraldtest.WithAutoCreate(on))
	}
	b := heraldtest.NewBroker(t, opts...)
	return target{
		name:       "herald",
		seeds:      []string{b.Addr()},
		restart:    func(testing.TB) { b.Restart() },
		autoCreate: autoCreate,
	}
}
