package pubsub

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Work-queue mode (RouterConfig.WorkQueue): the router is a member of a
// share group. Each poll's records are handled by up to Workers handlers
// at once, and each is acknowledged before the next poll (kgo accepts any
// record left unacknowledged at the next poll):
//
//	success                      ACCEPT: done, never delivered again
//	failure (transient or not)   RELEASE: the broker delivers it again, to
//	                             any member, with its delivery count + 1
//	Permanent, or the delivery   the record goes to the dead-letter topic,
//	count reached MaxAttempts    then REJECT: the broker archives it
//
// Message.Attempt is the broker's delivery count, so attempts are counted
// across routers and restarts by the broker. Keep MaxAttempts at most the
// group's share.delivery.count.limit (5 by default, as MaxAttempts):
// beyond it the broker archives a record before the router dead-letters
// it. The router sets the group's share.auto.offset.reset to earliest
// unless it is set, so that a new group starts at the log start.
//
// Delivery is at least once. An acknowledgement the broker refuses (or
// kgo cannot send) is logged ("acknowledgements not applied") and not
// sent again: kgo retries the retriable errors itself, and the others
// mean the broker no longer holds the records for this member (the
// partition's leader moved, which drops its acquisition locks, or the
// lock expired), so a retry could only be refused again. The broker
// delivers those records again, to any member, with their delivery count
// + 1: a success whose ACCEPT was lost is handled again.

func (r *Router) workQueueOpts() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(r.cfg.Brokers...),
		kgo.ShareGroup(r.cfg.Group),
		kgo.ConsumeTopics(slices.Sorted(maps.Keys(r.handlers))...),
		kgo.ShareAckCallback(r.logRefusedAcks),
	}
	return append(opts, r.cfg.ClientOpts...)
}

// logRefusedAcks logs the partitions whose acknowledgements were not
// applied; their records are delivered again.
func (r *Router) logRefusedAcks(_ *kgo.Client, rs kgo.ShareAckResults) {
	for _, res := range rs {
		if res.Err != nil {
			r.cfg.Logger.Warn("pubsub: acknowledgements not applied; the broker delivers their records again",
				"topic", res.Topic, "partition", res.Partition, "err", res.Err)
		}
	}
}

// runWorkQueue is Run in work-queue mode.
func (r *Router) runWorkQueue(ctx context.Context) error {
	// The group's start is set before the consuming client exists: that
	// client joins and fetches as soon as it is made, and a share
	// partition first fetched before the setting starts at the latest
	// offset (a record produced before Run was missed under load). The
	// admin client names the share group (users' ClientOpts may hold
	// share-only options) but consumes no topic, so it never joins.
	admin, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(r.cfg.Brokers...), kgo.ShareGroup(r.cfg.Group)}, r.cfg.ClientOpts...)...)
	if err != nil {
		return fmt.Errorf("pubsub: router client: %w", err)
	}
	r.startAtEarliest(ctx, admin)
	admin.Close()
	cl, err := kgo.NewClient(r.workQueueOpts()...)
	if err != nil {
		return fmt.Errorf("pubsub: router client: %w", err)
	}
	r.cl = cl
	// Handlers get their own context: a stop lets them finish, up to
	// ShutdownTimeout.
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	sem := make(chan struct{}, r.cfg.Workers)
	for {
		fs := cl.PollRecords(ctx, r.cfg.PollRecords)
		if fs.IsClientClosed() || ctx.Err() != nil {
			r.releaseAll(fs.Records())
			break
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				r.cfg.Logger.Warn("pubsub: fetch error", "topic", t, "partition", p, "err", err)
			}
		})
		if !r.handleShared(ctx, hctx, cancel, sem, fs.Records()) {
			break
		}
	}
	cl.Close() // sends the last acknowledgements and leaves the group
	return nil
}

// handleShared handles one poll's records and acknowledges each; it
// returns false when stopping cut it short (the records not begun were
// released).
func (r *Router) handleShared(ctx, hctx context.Context, cancel context.CancelFunc, sem chan struct{}, recs []*kgo.Record) bool {
	var wg sync.WaitGroup
	stopped := false
	for i, rec := range recs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			r.releaseAll(recs[i:])
			stopped = true
		}
		if stopped {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rec.Ack(r.handleOne(hctx, rec))
		}()
	}
	r.waitHandlers(ctx, &wg, cancel)
	return !stopped
}

// waitHandlers waits for wg; once ctx ends it waits ShutdownTimeout more,
// then cancels the handlers' context.
func (r *Router) waitHandlers(ctx context.Context, wg *sync.WaitGroup, cancel context.CancelFunc) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	t := time.NewTimer(r.cfg.ShutdownTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		r.cfg.Logger.Warn("pubsub: handlers still running after ShutdownTimeout; cancelling them")
		cancel()
		<-done
	}
}

func (r *Router) releaseAll(recs []*kgo.Record) {
	for _, rec := range recs {
		rec.Ack(kgo.AckRelease)
	}
}

// handleOne runs the handler on one shared record and says how to
// acknowledge it.
func (r *Router) handleOne(ctx context.Context, rec *kgo.Record) kgo.AckStatus {
	h := r.handlers[rec.Topic]
	if h == nil {
		return kgo.AckRelease // not ours (a subscription change in flight)
	}
	m := &Message{Record: rec, Group: r.cfg.Group, Attempt: int(rec.DeliveryCount()), HighWatermark: -1}
	err := Permanent(decodeEvent(&m.Event, rec, string(rec.Key)))
	if err == nil {
		err = callHandler(ctx, h, m)
	}
	switch {
	case err == nil:
		return kgo.AckAccept
	case ctx.Err() != nil || IsTransient(err) || (!IsPermanent(err) && m.Attempt < r.cfg.MaxAttempts):
		return kgo.AckRelease
	}
	if !r.deadLetterShared(ctx, m, err) {
		return kgo.AckRelease // not dead-lettered: the broker delivers it again
	}
	return kgo.AckReject
}

// callHandler runs h once, turning a panic into a *PanicError.
func callHandler(ctx context.Context, h Handler, m *Message) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return h(ctx, m)
}

// deadLetterShared publishes m to its dead-letter topic, retrying with
// backoff until it is written or ctx ends.
func (r *Router) deadLetterShared(ctx context.Context, m *Message, cause error) bool {
	log := r.cfg.Logger.With("topic", m.Record.Topic, "partition", m.Record.Partition,
		"offset", m.Record.Offset, "attempts", m.Attempt, "err", cause)
	dlq := r.cfg.DeadLetterTopic(m.Record.Topic)
	if dlq == "" {
		log.Error("pubsub: handler failed; no dead-letter topic, dropping")
		return true
	}
	rec := DeadLetter(m, dlq, cause)
	for failed := 1; ; failed++ {
		err := r.cl.ProduceSync(ctx, rec).FirstErr()
		if err == nil {
			log.Warn("pubsub: handler failed; sent to dead-letter topic", "dlq", dlq)
			if mt := r.cfg.Metrics; mt != nil {
				mt.forTopic(m.Record.Topic).deadLettered.Inc()
			}
			return true
		}
		log.Error("pubsub: dead-letter publish failed", "dlq", dlq, "publish_err", err)
		t := time.NewTimer(r.cfg.Backoff.Delay(failed))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
}

// startAtEarliest sets the share group's share.auto.offset.reset to
// earliest unless the group has a value already, so that the group starts
// at the log start, as the router's consumer groups do (Kafka's default
// for share groups is latest).
func (r *Router) startAtEarliest(ctx context.Context, cl *kgo.Client) {
	const name = "share.auto.offset.reset"
	dreq := kmsg.NewPtrDescribeConfigsRequest()
	dres := kmsg.NewDescribeConfigsRequestResource()
	dres.ResourceType, dres.ResourceName, dres.ConfigNames = kmsg.ConfigResourceTypeGroupConfig, r.cfg.Group, []string{name}
	dreq.Resources = append(dreq.Resources, dres)
	dresp, err := dreq.RequestWith(ctx, cl)
	if err == nil && len(dresp.Resources) == 1 {
		err = kerr.ErrorForCode(dresp.Resources[0].ErrorCode)
		for _, c := range dresp.Resources[0].Configs {
			if err == nil && c.Name == name && c.Source == kmsg.ConfigSourceGroupConfig {
				return // set by the operator
			}
		}
	}
	if err == nil {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		res := kmsg.NewIncrementalAlterConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, r.cfg.Group
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value = name, kmsg.StringPtr("earliest")
		res.Configs = append(res.Configs, c)
		req.Resources = append(req.Resources, res)
		var resp *kmsg.IncrementalAlterConfigsResponse
		if resp, err = req.RequestWith(ctx, cl); err == nil && len(resp.Resources) == 1 {
			err = kerr.ErrorForCode(resp.Resources[0].ErrorCode)
		}
	}
	if err != nil {
		r.cfg.Logger.Warn("pubsub: could not set share.auto.offset.reset=earliest on the share group; it starts at the latest offset", "group", r.cfg.Group, "err", err)
	}
}
