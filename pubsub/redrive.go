package pubsub

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// RedriveOptions configures Redrive.
type RedriveOptions struct {
	// Group is the consumer group whose committed offsets record how far
	// the dead-letter topic has been re-driven, so that running Redrive
	// again does not re-drive the same letters. Default "herald-redrive".
	Group string
	// Target is the topic to re-drive into. Default: each letter's origin
	// topic, from its dlq_topic header.
	Target string
	// Filter, if set, picks the letters to re-drive; the others are
	// skipped (and counted as done).
	Filter func(*kgo.Record) bool
	// Limit stops after this many letters re-driven; 0 means no limit.
	Limit int
	// ClientOpts are extra options for the client that reads the
	// dead-letter topic (TLS, SASL); seed brokers come from the client
	// passed to Redrive.
	ClientOpts []kgo.Opt
}

// RedriveResult counts what Redrive did.
type RedriveResult struct {
	Redriven int // letters published to their target
	Skipped  int // letters the filter rejected or without a target
}

// Redrive publishes the letters of dlqTopic back to their origin topics (or
// opts.Target), from where opts.Group left off up to the end of the topic
// as it was when Redrive started. Re-driven records keep their key, value
// and headers, less the dlq_ headers, plus dlq_redrives counting how often
// the letter was re-driven. Progress is committed to opts.Group after each
// batch, so an interrupted Redrive resumes where it stopped.
//
// cl is used to produce and to read and commit offsets; it is not closed.
func Redrive(ctx context.Context, cl *kgo.Client, dlqTopic string, opts RedriveOptions) (RedriveResult, error) {
	if opts.Group == "" {
		opts.Group = "herald-redrive"
	}
	var res RedriveResult
	adm := kadm.NewClient(cl)
	from, until, err := redriveRange(ctx, adm, opts.Group, dlqTopic)
	if err != nil || len(from) == 0 {
		return res, err
	}
	rd, err := redriveReader(cl, dlqTopic, from, opts.ClientOpts)
	if err != nil {
		return res, err
	}
	defer rd.Close()
	for len(until) > 0 && (opts.Limit == 0 || res.Redriven < opts.Limit) {
		fs := rd.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if err := fs.Err0(); err != nil {
			return res, fmt.Errorf("pubsub: redrive: read %s: %w", dlqTopic, err)
		}
		if err := redriveBatch(ctx, cl, adm, fs, until, &opts, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// redriveRange returns, per partition with letters to re-drive, the offset
// to start at and the end offset to stop before.
func redriveRange(ctx context.Context, adm *kadm.Client, group, topic string) (from, until map[int32]int64, err error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("pubsub: redrive: end offsets of %s: %w", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("pubsub: redrive: start offsets of %s: %w", topic, err)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil && !errors.Is(err, kadm.ErrEmpty) && !errors.Is(err, kerr.GroupIDNotFound) {
		return nil, nil, fmt.Errorf("pubsub: redrive: offsets of group %s: %w", group, err)
	}
	from, until = map[int32]int64{}, map[int32]int64{}
	ends.Each(func(end kadm.ListedOffset) {
		start, _ := starts.Lookup(topic, end.Partition)
		at := start.Offset
		if c, ok := committed.Lookup(topic, end.Partition); ok && c.Err == nil && c.At > at {
			at = c.At
		}
		if at < end.Offset {
			from[end.Partition], until[end.Partition] = at, end.Offset
		}
	})
	return from, until, nil
}

func redriveReader(cl *kgo.Client, topic string, from map[int32]int64, extra []kgo.Opt) (*kgo.Client, error) {
	seeds, _ := cl.OptValue(kgo.SeedBrokers).([]string)
	parts := make(map[int32]kgo.Offset, len(from))
	for p, at := range from {
		parts[p] = kgo.NewOffset().At(at)
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
	}, extra...)
	rd, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("pubsub: redrive: reader: %w", err)
	}
	return rd, nil
}

// redriveBatch re-drives one poll's letters, then commits the progress.
func redriveBatch(ctx context.Context, cl *kgo.Client, adm *kadm.Client, fs kgo.Fetches, until map[int32]int64, opts *RedriveOptions, res *RedriveResult) error {
	var out []*kgo.Record
	progress := kadm.Offsets{}
	fs.EachRecord(func(r *kgo.Record) {
		end, ok := until[r.Partition]
		if !ok || r.Offset >= end || (opts.Limit > 0 && res.Redriven+len(out) >= opts.Limit) {
			return
		}
		progress.AddOffset(r.Topic, r.Partition, r.Offset+1, -1)
		if r.Offset+1 >= end {
			delete(until, r.Partition)
		}
		if rec := redriven(r, opts); rec != nil {
			out = append(out, rec)
		} else {
			res.Skipped++
		}
	})
	if err := cl.ProduceSync(ctx, out...).FirstErr(); err != nil {
		return fmt.Errorf("pubsub: redrive: publish: %w", err)
	}
	res.Redriven += len(out)
	if len(progress) == 0 {
		return nil
	}
	resp, err := adm.CommitOffsets(ctx, opts.Group, progress)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("pubsub: redrive: commit progress to %s: %w", opts.Group, err)
	}
	return nil
}

// redriven returns the record to publish for letter r, or nil to skip it.
func redriven(r *kgo.Record, opts *RedriveOptions) *kgo.Record {
	if opts.Filter != nil && !opts.Filter(r) {
		return nil
	}
	target := opts.Target
	redrives := 0
	hs := make([]kgo.RecordHeader, 0, len(r.Headers))
	for _, h := range r.Headers {
		switch {
		case h.Key == HeaderDLQTopic && target == "":
			target = string(h.Value)
		case h.Key == HeaderDLQRedrives:
			redrives, _ = strconv.Atoi(string(h.Value))
		}
		if !isDLQHeader(h.Key) {
			hs = append(hs, h)
		}
	}
	if target == "" {
		return nil
	}
	hs = append(hs, kgo.RecordHeader{Key: HeaderDLQRedrives, Value: []byte(strconv.Itoa(redrives + 1))})
	return &kgo.Record{Topic: target, Key: r.Key, Value: r.Value, Headers: hs}
}
