package projection

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/heraldhq/herald/pubsub"
)

// TopicProjection is a read model fed from Kafka topics by a pubsub
// router (events other services publish), rather than from an event
// store's $all.
type TopicProjection struct {
	// Name identifies the projection and is its read model's table: a
	// plain SQL identifier, optionally schema-qualified.
	Name string
	// Setup creates the table named table in tx; it runs once, when the
	// projection is first registered in the database.
	Setup func(ctx context.Context, tx *sql.Tx, table string) error
	// Apply applies one message to the read model in tx. It must use tx
	// only: its writes commit with the offset or not at all. An error
	// rolls both back and fails the router's attempt (retried, then
	// dead-lettered as the router is configured).
	Apply func(ctx context.Context, tx *sql.Tx, table string, m *pubsub.Message) error
}

// TopicHandler registers p and returns the pubsub.Handler that feeds it:
// give it to a router's Handle for each of the projection's topics.
//
// Each message is applied in one SQL transaction that also records its
// offset, per topic, partition and key, in the runner's Table_offsets; a
// message at or below the recorded offset of its key is a redelivery (the
// router crashed, or lost its commit, after the transaction) and is
// acknowledged with Outcome Deduplicated without running Apply. So a
// crash never applies a message twice or skips one. The offsets are kept
// per key, not only per partition, because the router orders a
// partition's messages per key only: other keys flow past a key waiting
// for a retry. One row per key and partition is kept (about the size of a
// read model with a row per entity).
//
// Two routers handling one message at once (a rebalance) serialise on
// its offset row: the second finds the offset recorded and skips.
func (r *Runner) TopicHandler(ctx context.Context, p TopicProjection) (pubsub.Handler, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	err := r.inTopicTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, r.q.topicMark, p.Name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		return p.Setup(ctx, tx, p.Name)
	})
	if err != nil {
		return nil, fmt.Errorf("projection: register %s: %w", p.Name, err)
	}
	return func(ctx context.Context, m *pubsub.Message) error {
		if err := r.applyMessage(ctx, &p, m); err != nil {
			return fmt.Errorf("projection %s: %s/%d@%d: %w", p.Name, m.Record.Topic, m.Record.Partition, m.Record.Offset, err)
		}
		return nil
	}, nil
}

func (p *TopicProjection) validate() error {
	var errs []error
	if err := checkIdent("projection name", p.Name); err != nil {
		errs = append(errs, err)
	}
	if p.Setup == nil || p.Apply == nil {
		errs = append(errs, fmt.Errorf("projection %s: Setup and Apply are required", p.Name))
	}
	return errors.Join(errs...)
}

func (r *Runner) inTopicTx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		return errors.Join(err, rollback(tx))
	}
	return tx.Commit()
}

// applyMessage applies m unless its key's recorded offset covers it.
func (r *Runner) applyMessage(ctx context.Context, p *TopicProjection, m *pubsub.Message) error {
	rec := m.Record
	key := rec.Key
	if key == nil {
		key = []byte{}
	}
	return r.inTopicTx(ctx, func(tx *sql.Tx) error {
		// The insert takes SQLite's write lock; the locking select,
		// PostgreSQL's row lock.
		if _, err := tx.ExecContext(ctx, r.q.offsetRow, p.Name, rec.Topic, rec.Partition, key); err != nil {
			return err
		}
		var done int64
		if err := tx.QueryRowContext(ctx, r.q.offsetGet, p.Name, rec.Topic, rec.Partition, key).Scan(&done); err != nil {
			return err
		}
		if rec.Offset <= done {
			m.SetOutcome(pubsub.Deduplicated)
			return nil
		}
		if err := p.apply(ctx, tx, m); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, r.q.offsetSet, rec.Offset, p.Name, rec.Topic, rec.Partition, key)
		return err
	})
}

// apply runs the handler, turning a panic into an error.
func (p *TopicProjection) apply(ctx context.Context, tx *sql.Tx, m *pubsub.Message) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("handler panicked: %v", v)
		}
	}()
	return p.Apply(ctx, tx, p.Name, m)
}

// TopicOffset is the last offset a topic projection applied for one key
// of a partition.
type TopicOffset struct {
	Topic     string
	Partition int32
	Key       []byte
	Offset    int64
}

// TopicOffsets returns topic projection name's recorded offsets.
func (r *Runner) TopicOffsets(ctx context.Context, name string) ([]TopicOffset, error) {
	rows, err := r.db.QueryContext(ctx, r.q.offsetList, name)
	if err != nil {
		return nil, fmt.Errorf("projection: offsets of %s: %w", name, err)
	}
	defer rows.Close()
	var out []TopicOffset
	for rows.Next() {
		var o TopicOffset
		if err := rows.Scan(&o.Topic, &o.Partition, &o.Key, &o.Offset); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}
