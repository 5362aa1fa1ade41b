package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

type chargeCmd struct {
	Order  string `json:"order"`
	Amount int    `json:"amount"`
}

type chargeResult struct {
	Receipt string `json:"receipt"`
}

// TestRequestReply: two requesters (two instances of a service) share a
// reply topic of two partitions and send requests at once; each gets the
// replies to its own requests, matched by command id. A Permanent
// failure and a command that does not decode come back as a
// *RemoteError, a plain Send gets no reply, and a command nobody handles
// times out with ErrRequestTimeout.
func TestRequestReply(t *testing.T) {
	b := pubsubtest.New(t)
	cmds := b.Topic("billing.charge", 3)
	b.CreateTopic(cmds+".dlq", 1)
	replies := b.Topic("replies", 2)
	pub := pubsub.NewPublisher(b.Client(), pubsub.WithSource("/shop"))
	bus := pubsub.NewCommandBus(pub, func(string) string { return cmds })

	r := newRouter(t, testConfig(b, pubsubtest.Group("billing")))
	var mu sync.Mutex
	sent := 0 // commands handled that asked no reply
	err := pubsub.HandleRequest(r, pub, cmds, "billing.charge", func(_ context.Context, c chargeCmd) (chargeResult, error) {
		switch {
		case c.Amount < 0:
			return chargeResult{}, pubsub.Permanent(errors.New("negative amount"))
		case c.Amount == 0:
			mu.Lock()
			sent++
			mu.Unlock()
		}
		return chargeResult{Receipt: fmt.Sprintf("r-%s-%d", c.Order, c.Amount)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	start(t, r)

	ctx := context.Background()
	var qs [2]*pubsub.Requester
	for i := range qs {
		q, err := pubsub.NewRequester(ctx, bus, pubsub.RequesterConfig{Brokers: b.Seeds, ReplyTopic: replies, Timeout: 20 * time.Second, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = q.Close() })
		qs[i] = q
	}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i, q := range qs {
		for j := range 20 {
			wg.Go(func() {
				order := fmt.Sprintf("o%d-%d", i, j)
				res, err := pubsub.Request[chargeResult](ctx, q, "billing.charge", order, chargeCmd{Order: order, Amount: j + 1})
				if want := fmt.Sprintf("r-%s-%d", order, j+1); err != nil || res.Receipt != want {
					errs <- fmt.Errorf("request %s: %+v, %w; want %s", order, res, err, want)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	_, err = pubsub.Request[chargeResult](ctx, qs[0], "billing.charge", "bad", chargeCmd{Order: "bad", Amount: -1})
	var re *pubsub.RemoteError
	if !errors.As(err, &re) || re.Msg != "permanent: negative amount" {
		t.Errorf("failed command: err %v, want a RemoteError", err)
	}

	_, err = pubsub.Request[chargeResult](ctx, qs[1], "billing.charge", "garbled", "not a charge")
	if !errors.As(err, &re) || !strings.Contains(re.Msg, "decode command") {
		t.Errorf("undecodable command: err %v, want a RemoteError", err)
	}

	if _, err := bus.Send(ctx, "billing.charge", "x", chargeCmd{Order: "x"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the plain command", func() bool { mu.Lock(); defer mu.Unlock(); return sent == 1 })

	lost := pubsub.NewCommandBus(pub, func(string) string { return b.Topic("nobody", 1) })
	q, err := pubsub.NewRequester(ctx, lost, pubsub.RequesterConfig{Brokers: b.Seeds, ReplyTopic: replies, Timeout: time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.Send(ctx, "billing.charge", "y", chargeCmd{Order: "y"}); !errors.Is(err, pubsub.ErrRequestTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("unhandled command: err %v, want ErrRequestTimeout", err)
	}
}
