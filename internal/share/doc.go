// Package share is Herald's share-group coordinator (KIP-932, "queues for
// Kafka"): consumers of a share group share partitions, and the broker
// hands each record to one of them at a time with a lock, counts its
// deliveries, and takes it back if the lock times out or the consumer
// releases it.
//
// Three parts, each with its own state:
//
//   - Membership (membership.go): ShareGroupHeartbeat joins, heartbeats and
//     leaves; members choose their ids (KIP-1082). The simple assignor
//     (group.go, assign) spreads each subscribed topic's partitions over
//     the members and, with more members than partitions, gives a
//     partition to several of them. There is no revocation phase: a new
//     assignment applies at once. Membership is in memory only: after a
//     restart members heartbeat with an unknown id and join again, as they
//     do after a session timeout.
//   - Share sessions (session.go): the ShareSessionEpoch of ShareFetch and
//     ShareAcknowledge; 0 opens a session, -1 closes it and releases the
//     member's records, others must follow the session's epoch.
//   - Share partitions (partition.go): Partition is an I/O-free state
//     machine of one group's view of one topic partition: the
//     share-partition start offset (SPSO) and each in-flight record's
//     state (Available, Acquired by a member until a deadline,
//     Acknowledged, Archived) and delivery count. A released or expired
//     record whose count reached the delivery limit is archived.
//
// Coordinator ties them to the broker: Acquire reads the log from the first
// available record (below the last stable offset: share consumers read
// committed unless share.isolation.level is read_uncommitted; aborted
// transactional records and control records are archived, never
// delivered), locks up to MaxRecords records for the member and returns the
// stored batches that hold them; the client delivers only the acquired
// offsets. Acknowledge applies ACCEPT, RELEASE, REJECT, gap and RENEW
// acknowledgements, all or none per partition. Acquire reports
// SelfBlocked when the in-flight window is full and the member holds
// records of it, so that ShareFetch does not long-poll on its own
// unsent acknowledgements. A goroutine expires locks
// and member sessions every 100ms.
//
//	c, err := share.Open(share.Config{Broker: b})
//	res, err := c.Heartbeat("workers", share.Heartbeat{MemberID: id, Topics: []string{"jobs"}})
//	parts, err := c.Session("workers", id, 0, []share.TP{{Topic: t.ID, Partition: 0}}, nil)
//	a, err := c.Acquire("workers", id, t, 0, 500, 1<<20) // a.Ranges: offsets and delivery counts
//	err = c.Acknowledge("workers", id, t.ID, 0, []share.AckBatch{{First: 0, Last: 9, Types: []int8{share.AckAccept}}})
//
// # Durability
//
// Every change of a share partition (an acquisition, an acknowledgement, an
// expiry) writes the partition's whole state as one record of the
// compacted topic __share_group_state (formats in format.go).
// Acknowledge returns only once it is durable, so an acknowledged ACCEPT
// survives a crash. Acquire writes the new delivery counts without waiting
// for the fsync (they are durable with the next synced write, the
// acknowledgement of those records at the latest; Kafka does not persist
// acquisitions at all), so a record that keeps crashing its consumers
// still reaches the delivery limit, at the cost of no fsync per fetch. Acquired records
// are written as Available: after a restart they are delivered again with
// their counts kept. Group configs (share.auto.offset.reset and the
// others of ConfigNames) are records of the same topic. Open replays it.
//
// # Locking
//
// Coordinator.mu (groups, sessions, configs, the map of share partitions)
// is taken before a sharePart.mu and never while one is held. A
// sharePart.mu is held across its log reads and its append to
// __share_group_state (no fsync: Durable is waited for after unlocking).
package share
