package group_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/heraldtestutil"
	"github.com/heraldhq/herald/internal/testenv"
)

func produceN(t *testing.T, cl *kgo.Client, topic string, partition int32, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		r := &kgo.Record{Topic: topic, Partition: partition, Value: []byte(strconv.Itoa(i))}
		if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCommitsSurviveRestart commits, restarts the broker, and checks the
// offsets, the group's description and the lag.
func TestCommitsSurviveRestart(t *testing.T) {
	b := heraldtest.NewBroker(t)
	topic, grp := "restart", "g-restart"
	createTopic(t, b.Addr(), topic, 2)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produceN(t, cl, topic, 0, 10)
	produceN(t, cl, topic, 1, 5)

	// A group member consumes 7 records of partition 0 and commits.
	mc, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumerGroup(grp), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	got := 0
	for got < 15 {
		fs := mc.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d: %v", got, err)
		}
		got += fs.NumRecords()
	}
	adm := kadm.NewClient(cl)
	var cerr error
	mc.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{topic: {0: {Epoch: -1, Offset: 7}, 1: {Epoch: -1, Offset: 5}}},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			cerr = err
			for _, rt := range resp.Topics {
				for _, rp := range rt.Partitions {
					if rp.ErrorCode != 0 {
						cerr = kerr.ErrorForCode(rp.ErrorCode)
					}
				}
			}
		})
	if cerr != nil {
		t.Fatal(cerr)
	}

	// DescribeGroups shows the member and its assignment.
	ds, err := adm.DescribeGroups(ctx, grp)
	if err != nil {
		t.Fatal(err)
	}
	d := ds[grp]
	if d.State != "Stable" || len(d.Members) != 1 {
		t.Fatalf("described %s with %d members", d.State, len(d.Members))
	}
	ca, ok := d.Members[0].Assigned.AsConsumer()
	if !ok || len(ca.Topics) != 1 || len(ca.Topics[0].Partitions) != 2 {
		t.Fatalf("member assignment %+v", d.Members[0].Assigned)
	}

	checkLag := func(when string) {
		lags, ok := heraldtestutil.Server(b).Groups().Lag(grp)
		if !ok || len(lags) != 2 || lags[0].Lag != 3 || lags[1].Lag != 0 || lags[0].End != 10 {
			t.Fatalf("%s: lag %+v", when, lags)
		}
	}
	checkLag("before restart")
	mc.Close()

	b.Restart()
	fetched, err := adm.FetchOffsets(ctx, grp)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := fetched.Lookup(topic, 0); o.At != 7 {
		t.Fatalf("after restart partition 0 committed %+v", o)
	}
	if o, _ := fetched.Lookup(topic, 1); o.At != 5 {
		t.Fatalf("after restart partition 1 committed %+v", o)
	}
	checkLag("after restart")

	// kadm's lag agrees with the broker's.
	lag, err := adm.Lag(ctx, grp)
	if err != nil {
		t.Fatal(err)
	}
	if l := lag[grp].Lag.TotalByTopic()[topic].Lag; l != 3 {
		t.Fatalf("kadm lag %d, want 3", l)
	}

	// An unknown group answers -1 offsets, no error.
	resp, err := adm.FetchOffsetsForTopics(ctx, "no-such-group", topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := resp.Lookup(topic, 0); !ok || o.At != -1 || o.Err != nil {
		t.Fatalf("unknown group offset %+v", o)
	}

	// The group is empty now: it can be deleted, and its offsets go.
	checkFor(t, 10*time.Second, func() error {
		r, err := adm.DeleteGroup(ctx, grp)
		if err != nil {
			return err
		}
		return r.Err
	})
	b.Restart()
	if _, ok := heraldtestutil.Server(b).Groups().Committed(grp); ok {
		t.Fatal("deleted group came back after restart")
	}
}

// TestKcatGroup consumes with librdkafka's balanced consumer (kcat -G).
func TestKcatGroup(t *testing.T) {
	kcat := testenv.Tool(t, "kcat", "scripts/ensure-tools.sh (as root) installs the Debian package kcat")
	b := heraldtest.NewBroker(t, heraldtest.WithDurability("none"))
	topic, grp := "kcat-group", "g-kcat"
	createTopic(t, b.Addr(), topic, 3)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := 0; i < 30; i++ {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte(fmt.Sprintf("v%d", i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-b", b.Addr(), "-G", grp, "-o", "beginning", "-c", "30", "-f", "%s\n",
		"-X", "session.timeout.ms=6000", "-X", "enable.auto.commit=true", "-X", "auto.commit.interval.ms=100", topic)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat: %v\n%s", err, stderr.String())
	}
	lines := strings.Fields(out.String())
	seen := map[string]bool{}
	for _, l := range lines {
		seen[l] = true
	}
	if len(seen) != 30 {
		t.Fatalf("kcat consumed %d distinct records: %q\n%s", len(seen), lines, stderr.String())
	}
	// kcat committed as it consumed (auto commit on close).
	checkFor(t, 5*time.Second, func() error {
		lags, ok := heraldtestutil.Server(b).Groups().Lag(grp)
		if !ok {
			return fmt.Errorf("group %s has no commits", grp)
		}
		total := int64(0)
		for _, l := range lags {
			total += l.Lag
		}
		if total != 0 {
			return fmt.Errorf("lag %d after kcat consumed everything: %+v", total, lags)
		}
		return nil
	})
}
