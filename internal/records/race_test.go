//go:build race

package records

// raceEnabled is set under -race, which makes sync.Pool drop items at
// random and so skews allocation counts.
const raceEnabled = true
