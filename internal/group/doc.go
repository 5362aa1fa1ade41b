// Package group is Herald's group coordinator: consumer groups and their
// committed offsets.
//
// Each group is a state machine that does no I/O: Group for the classic
// protocol (JoinGroup/SyncGroup/Heartbeat/LeaveGroup; Empty,
// PreparingRebalance, CompletingRebalance, Stable, Dead) and ConsumerGroup
// for KIP-848 (ConsumerGroupHeartbeat, server-side uniform assignor,
// incremental handover, subscriptions by RE2 regex matched against whole
// topic names and re-resolved at each heartbeat, so new topics join). Step(now, event) returns effects: replies to
// requests (by Token) and group metadata to persist. Tests drive them
// with scenario files in testdata (go test -run TestScenarios -rewrite).
//
//	g := group.New("orders", group.Config{})
//	effs := g.Step(now, group.Join{Token: 1, ClientID: "c", ProtocolType: "consumer",
//		Protocols: []group.Protocol{{Name: "range", Metadata: meta}},
//		Session: 10 * time.Second, Rebalance: 30 * time.Second})
//	// effs[0] is Reply{Token: 1, Resp: JoinResult{Generation: 1, Leader: ...}}
//
// Coordinator wraps them: one driver goroutine per group feeds requests
// and timer ticks to the state machine and carries out the effects;
// requests wait for their Reply (a JoinGroup waits for the join phase to
// end). Committed offsets and group metadata are records of the compacted
// topic __consumer_offsets (formats in offsets.go, Kafka's), replayed by
// OpenCoordinator, so a restart loses no acknowledged commit.
//
//	c, err := group.OpenCoordinator(group.CoordinatorConfig{Broker: b})
//	lags, ok := c.Lag("orders") // end offset minus committed, per partition
//
// Locking: Coordinator.writeMu (appends to __consumer_offsets) before
// Coordinator.mu (the group map and offsets); the state machines are
// touched only by their driver. WaitDurable (fsync) runs under neither.
package group
