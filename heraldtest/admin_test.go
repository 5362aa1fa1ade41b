package heraldtest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/heraldtest"
)

// TestAdmin drives the admin APIs through kadm.
func TestAdmin(t *testing.T) {
	b := heraldtest.NewBroker(t, heraldtest.WithDurability("none"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := newAdmin(t, b)

	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "adm"); err != nil {
		t.Fatal(err)
	}
	// Produce records with known timestamps.
	cl := newClient(t, b, kgo.DefaultProduceTopic("adm"))
	base := time.UnixMilli(1_700_000_000_000)
	for i := range 10 {
		r := &kgo.Record{Value: []byte{byte(i)}, Timestamp: base.Add(time.Duration(i) * time.Second)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	// ListOffsets: by time, max timestamp, start.
	lo, err := adm.ListOffsetsAfterMilli(ctx, base.Add(4500*time.Millisecond).UnixMilli(), "adm")
	if err != nil || lo["adm"][0].Err != nil || lo["adm"][0].Offset != 5 {
		t.Fatalf("offset after time: %v %+v", err, lo["adm"][0])
	}
	lo, err = adm.ListMaxTimestampOffsets(ctx, "adm")
	if err != nil || lo["adm"][0].Offset != 9 || lo["adm"][0].Timestamp != base.Add(9*time.Second).UnixMilli() {
		t.Fatalf("max timestamp: %v %+v", err, lo["adm"][0])
	}

	// DeleteRecords moves the start offset.
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "adm", Partition: 0, At: 3})
	dr, err := adm.DeleteRecords(ctx, os)
	if err != nil || dr.Error() != nil {
		t.Fatalf("delete records: %v %v", err, dr.Error())
	}
	lo, err = adm.ListStartOffsets(ctx, "adm")
	if err != nil || lo["adm"][0].Offset != 3 {
		t.Fatalf("start after delete records: %v %+v", err, lo["adm"][0])
	}

	// Incremental configs, then describe.
	ac, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "message.timestamp.type", Value: kadm.StringPtr("LogAppendTime")},
		{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")},
	}, "adm")
	if err != nil || ac[0].Err != nil {
		t.Fatalf("alter configs: %v %+v", err, ac)
	}
	ac, _ = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("x")}}, "adm")
	if !errors.Is(ac[0].Err, kerr.InvalidConfig) {
		t.Fatalf("bad config: %v", ac[0].Err)
	}
	rc, err := adm.DescribeTopicConfigs(ctx, "adm")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"message.timestamp.type": "LogAppendTime", "cleanup.policy": "delete,compact", "retention.ms": "604800000"}
	for _, c := range rc[0].Configs {
		if w, ok := want[c.Key]; ok {
			if c.MaybeValue() != w {
				t.Errorf("%s = %q, want %q", c.Key, c.MaybeValue(), w)
			}
			delete(want, c.Key)
		}
	}
	if len(want) != 0 {
		t.Fatalf("configs not described: %v", want)
	}
	// LogAppendTime now replaces producer timestamps; the topic is
	// compacted now, so the record needs a key.
	pr := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: []byte("lat"), Timestamp: base})
	if _, err := pr.First(); err != nil {
		t.Fatal(err)
	}
	cons := newClient(t, b, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"adm": {0: kgo.NewOffset().At(10)}}))
	fs := cons.PollFetches(ctx)
	if recs := fs.Records(); len(recs) != 1 || recs[0].Timestamp.Equal(base) || recs[0].Attrs.TimestampType() != 1 {
		t.Fatalf("log append time: %v %+v", fs.Err(), recs)
	}
	cons.Close()

	// Partitions, log dirs, cluster.
	cp, err := adm.UpdatePartitions(ctx, 4, "adm")
	if err != nil || cp.Error() != nil {
		t.Fatalf("create partitions: %v %v", err, cp.Error())
	}
	ld, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatalf("log dirs: %v", err)
	}
	parts := 0
	ld.Each(func(d kadm.DescribedLogDir) {
		if d.Err != nil {
			t.Errorf("log dir %s: %v", d.Dir, d.Err)
		}
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			if p.Topic == "adm" {
				parts++
			}
		})
	})
	if parts != 4 {
		t.Fatalf("log dirs list %d partitions of adm, want 4", parts)
	}
	md, err := adm.BrokerMetadata(ctx)
	if err != nil || len(md.Brokers) != 1 || md.Cluster == "" {
		t.Fatalf("metadata: %v %+v", err, md)
	}

	// Delete, and the name is free again.
	dt, err := adm.DeleteTopics(ctx, "adm")
	if err != nil || dt.Error() != nil {
		t.Fatalf("delete topics: %v %v", err, dt.Error())
	}
	td, err := adm.ListTopics(ctx, "adm")
	if err != nil || td.Has("adm") && td["adm"].Err == nil {
		t.Fatalf("topic still listed: %v %+v", err, td)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "adm"); err != nil {
		t.Fatal(err)
	}
	lo, err = adm.ListEndOffsets(ctx, "adm")
	if err != nil || lo["adm"][0].Offset != 0 {
		t.Fatalf("recreated topic is not empty: %v %+v", err, lo["adm"][0])
	}
}
