// Package txn is Herald's exactly-once machinery: producer ids and
// per-partition sequence checks for idempotent producers, and the
// transaction coordinator.
//
// # Producer state (Manager)
//
// The Manager is the broker's producer state (broker.ProducerState,
// installed with Broker.SetProducerState): Partition.Append calls its
// Check before appending a batch with a producer id and its Done after,
// and the partition's lock is held from one to the other, across check,
// append and apply:
//
//   - a batch that repeats one of the producer's last 5 (same epoch, same
//     first and last sequence) is a duplicate: it is answered with the
//     original offsets, and nothing is appended;
//   - a gap in the sequence gets OUT_OF_ORDER_SEQUENCE_NUMBER, an older
//     epoch INVALID_PRODUCER_EPOCH, a newer epoch must start at 0;
//   - an unknown producer id is accepted at any sequence (Kafka 2.5+);
//   - the first transactional batch of a producer in a partition opens a
//     transaction there, after the coordinator confirms the partition was
//     added (so a zombie cannot leave a transaction no marker will close).
//
// Each partition also keeps its open transactions (the last stable offset
// is the first offset of the earliest one, and never above the high
// watermark) and its aborted transactions, which read_committed fetches
// return. A partition's state loads on first use from its snapshot
// (producer.snapshot in the partition dir, format in snapshot.go) and the
// batch headers after it; the snapshot is written when the log rolls a
// segment and when the broker closes.
//
// LastStable, which every fetch calls, takes no lock once the partition's
// state is loaded: each change to the open transactions publishes a copy
// (an atomic pointer), and a transaction's first batch is published, at
// an offset no higher than its own (the log end), before it is appended.
// A reader takes the high watermark, the published list, and the high
// watermark again, and retries unless the two agree, so it never counts a
// transaction as closed before its marker is below the high watermark,
// nor misses one whose data it could see.
//
// # Transactions (Coordinator)
//
// Each transactional id moves through Empty → Ongoing → PrepareCommit /
// PrepareAbort → CompleteCommit / CompleteAbort, recorded in the compacted
// topic __transaction_state (records in txnlog.go) and replayed by Open.
//
// The coordinator is a Machine (machine.go) that does no I/O, takes no
// locks and reads no clock: Step(now, event) returns effects. Events are
// the requests (Init, AddPartitions, AddOffsets, TxnOffsetCommit, EndTxn),
// Tick, Loaded (the replay) and I/O completions (StateWritten,
// MarkersWritten, MarkersDurable, GroupChecked, BlockWritten); effects are
// Reply, WriteState, WriteMarkers, CheckGroup, AllocatePIDBlock, Publish
// and Log. A transactional id runs one operation at a time, a chain of
// steps joined by completions; requests arriving meanwhile wait in its
// queue. Transitions are computed on copies of the state (meta.go) and
// become the state only once written. The scenario files in testdata
// drive the Machine step by step (scenario_test.go).
//
// One driver goroutine (coordinator.go) owns the Machine: it steps
// requests, completions and a Tick every AbortCheck, and carries out the
// effects. Appends to __transaction_state happen on the driver, so the
// log holds them in the Machine's order; waits for durability, markers
// and group commits run on goroutines that post their completion back.
// Every call that touches a partition or a log is in io.go.
//
// Ending a transaction: the Prepare* record is made durable (the
// decision), markers (control batches) are appended to every partition
// and, for a commit, TxnOffsetCommit's offsets are committed to their
// groups; then EndTxn answers, and the markers' fsyncs and the Complete*
// record finish before the id's next request runs. A crash anywhere in
// between replays as Prepare* and is completed at start.
//
// InitProducerId with a transactional id bumps the epoch, which fences
// older producers of the id; their open transaction is aborted at the new
// epoch. A transaction older than its timeout is aborted the same way.
// Producer ids come from blocks of 1000 recorded in __transaction_state
// before use, so no id repeats across restarts.
//
//	pm := txn.NewManager(txn.ManagerConfig{})
//	tc, err := txn.Open(txn.Config{Broker: b, Groups: g, Producers: pm})
//	pid, epoch, kerr := tc.InitProducerID(txn.InitRequest{TransactionalID: &id, TimeoutMs: 60000, ProducerID: -1, Epoch: -1})
//	b.SetProducerState(pm)
//	a, err := partition.Append(batch, time.Now(), broker.AckAll) // the produce path, through pm.Check/Done
//	lso, err := partition.LastStable()                           // read_committed bound, from pm
//
// Lock order: the Manager's mu, then a partition's lock (held across log
// appends, never across fsync), then the coordinator's view mutex, which
// Verify takes under a partition lock and which guards only the published
// states (map access, no I/O). The Machine needs no lock; the driver holds
// none while it performs effects. LastStable takes none (above).
//
// Not done: producer ids are not expired (transactional.id.expiration.ms),
// compaction of a data partition does not know about transactions, and
// transaction.version 2 (KIP-890 part 2) is not offered.
package txn
