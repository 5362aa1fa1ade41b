//go:build !unix

package crypt

import "context"

// lockFile does nothing where flock is not available: processes sharing a
// keyring file there must not write it at the same time.
func lockFile(context.Context, string) (func(), error) { return func() {}, nil }
