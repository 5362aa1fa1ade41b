package pubsub

// CommittedMark returns the dispatch mark r knows committed for the
// partition, or -1 if r does not have the partition: for tests in
// package pubsub_test.
func CommittedMark(r *Router, topic string, partition int32) int64 {
	p := r.partition(topic, partition)
	if p == nil {
		return -1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.markCommitted
}
