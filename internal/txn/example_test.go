package txn_test

import (
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/group"
	"github.com/heraldhq/herald/internal/txn"
)

// A driver in a few lines: it performs every effect at once and feeds the
// completion back, printing the replies. The Coordinator does the same
// with real I/O on goroutines.
func ExampleMachine() {
	sm := txn.NewMachine(time.Minute)
	now := time.Unix(1000, 0)
	drive := func(ev any) {
		queue := []any{ev}
		for len(queue) > 0 {
			ev, queue = queue[0], queue[1:]
			for _, eff := range sm.Step(now, ev) {
				switch e := eff.(type) {
				case txn.AllocatePIDBlock:
					queue = append(queue, txn.BlockWritten{End: e.End})
				case txn.WriteState:
					queue = append(queue, txn.StateWritten{ID: e.ID})
				case txn.WriteMarkers:
					fmt.Printf("markers commit=%v to %v\n", e.Commit, e.Partitions)
					queue = append(queue, txn.MarkersWritten{ID: e.ID}, txn.MarkersDurable{ID: e.ID})
				case txn.Reply:
					fmt.Printf("reply %d: %v\n", e.Token, e.Resp)
				}
			}
		}
	}
	id := "orders"
	drive(txn.Init{Token: 1, InitRequest: txn.InitRequest{TransactionalID: &id, TimeoutMs: 10000, ProducerID: -1, Epoch: -1}})
	drive(txn.AddPartitions{Token: 2, ID: id, PID: 0, Epoch: 0, Partitions: []group.TopicPartition{{Topic: "out", Partition: 0}}})
	drive(txn.EndTxn{Token: 3, ID: id, PID: 0, Epoch: 0, Commit: true})
	// Output:
	// reply 1: {0 0 <nil>}
	// reply 2: {map[] <nil>}
	// markers commit=true to [{out 0}]
	// reply 3: <nil>
}
