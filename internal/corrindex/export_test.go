package corrindex

// SetEpochEntries sets how many entries an epoch holds, for tests that
// need many epochs; it returns the function that restores it.
func SetEpochEntries(n int) (restore func()) {
	old := epochEntries.Swap(int64(n))
	return func() { epochEntries.Store(old) }
}

// Epoch is the epoch new keys go to.
func (x *Index) Epoch() uint32 { return x.epoch.Load() }
