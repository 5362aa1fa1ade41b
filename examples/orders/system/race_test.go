//go:build race

package system_test

// raceDetector: the race detector slows SQLite (a C library translated to
// Go) about tenfold, so the end-to-end runs place fewer orders by default
// under it; make test-orders places 1,000 with it.
const raceDetector = true
