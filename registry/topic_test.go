package registry

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

// registryWrites runs every kind of write the registry makes, then
// restarts it and checks that the state came back from the topic.
func registryWrites(t *testing.T, tr *testRegistry) {
	t.Helper()
	ctx := ctxT(t)
	a, err := tr.cl.CreateSchema(ctx, "a-value", sr.Schema{Schema: `"string"`})
	if err != nil {
		t.Fatal(err)
	}
	if r := tr.cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone}, "a-value"); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	if _, err := tr.cl.CreateSchema(ctx, "a-value", sr.Schema{Schema: `"int"`}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.cl.CreateSchema(ctx, "gone-value", sr.Schema{Schema: `"long"`}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.cl.DeleteSubject(ctx, "gone-value", sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.cl.DeleteSubject(ctx, "gone-value", sr.HardDelete); err != nil {
		t.Fatal(err)
	}
	if r := tr.cl.SetMode(ctx, sr.ModeReadOnly, "a-value"); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	tr.restart()
	got, err := tr.cl.SchemaByVersion(ctx, "a-value", 1)
	if err != nil || got.ID != a.ID {
		t.Fatalf("after restart a-value v1 = %+v, %v; want id %d", got, err, a.ID)
	}
	if _, err := tr.cl.SchemaByVersion(ctx, "a-value", 2); err != nil {
		t.Fatalf("after restart a-value v2: %v", err)
	}
	if r := tr.cl.Mode(ctx, "a-value"); r[0].Err != nil || r[0].Mode != sr.ModeReadOnly {
		t.Fatalf("after restart mode = %+v", r[0])
	}
	subs, err := tr.cl.Subjects(ctx)
	if err != nil || len(subs) != 1 || subs[0] != "a-value" {
		t.Fatalf("after restart subjects = %v, %v; want [a-value]", subs, err)
	}
}

// TestRegistryOnHeraldSchemasTopic: the broker takes only registry records
// into _schemas; every write the registry makes is one.
func TestRegistryOnHeraldSchemasTopic(t *testing.T) {
	brokers := []string{newTestBroker(t, "").Addr()}
	tr := &testRegistry{t: t, brokers: brokers, topic: "_schemas", cfg: Config{Brokers: brokers}}
	tr.start()
	t.Cleanup(tr.stop)
	registryWrites(t, tr)
}

// TestRegistryRecreatesTopic: on a cluster that lets the topic be deleted
// (kfake, like Kafka), the next write recreates it and writes the state
// back, so a restarted registry still has every schema.
func TestRegistryRecreatesTopic(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	brokers := c.ListenAddrs()
	tr := &testRegistry{t: t, brokers: brokers, topic: "_schemas", cfg: Config{Brokers: brokers}}
	tr.start()
	t.Cleanup(tr.stop)
	ctx := ctxT(t)
	a, err := tr.cl.CreateSchema(ctx, "a-value", sr.Schema{Schema: `"string"`})
	if err != nil {
		t.Fatal(err)
	}
	if r := tr.cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone}, "a-value"); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if resp, err := adm.DeleteTopics(ctx, "_schemas"); err != nil || resp["_schemas"].Err != nil {
		t.Fatalf("delete _schemas on kfake: %v %v", err, resp["_schemas"].Err)
	}

	b, err := tr.cl.CreateSchema(ctx, "b-value", sr.Schema{Schema: `"int"`})
	if err != nil {
		t.Fatalf("register after the topic was deleted: %v", err)
	}
	tds, err := adm.ListTopics(ctx, "_schemas")
	if err != nil {
		t.Fatal(err)
	}
	if td := tds["_schemas"]; td.Err != nil || len(td.Partitions) != 1 {
		t.Fatalf("_schemas not recreated with one partition: %+v", td)
	}
	tr.restart()
	for _, want := range []struct {
		subject string
		id      int
	}{{"a-value", a.ID}, {"b-value", b.ID}} {
		got, err := tr.cl.SchemaByVersion(ctx, want.subject, 1)
		if err != nil || got.ID != want.id {
			t.Fatalf("after restart %s v1 = %+v, %v; want id %d", want.subject, got, err, want.id)
		}
	}
	if r := tr.cl.Compatibility(ctx, "a-value"); r[0].Err != nil || r[0].Level != sr.CompatNone {
		t.Fatalf("after restart a-value compatibility = %+v, want NONE", r[0])
	}
}
