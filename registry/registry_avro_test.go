package registry

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
)

const (
	avroV1 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"}]}`
	avroV2 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"qty","type":"int","default":1}]}`
	avroV3 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"qty","type":"int","default":1},{"name":"note","type":"string"}]}`
)

func TestSRAvroLifecycle(t *testing.T) {
	tr := newTestRegistry(t)
	ctx := ctxT(t)
	cl := tr.cl

	ss, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: avroV1})
	if err != nil {
		t.Fatal(err)
	}
	if ss.Version != 1 || ss.ID != 1 {
		t.Fatalf("first schema: got version %d id %d", ss.Version, ss.ID)
	}
	// Identical (modulo white space) again: same id, no new version.
	again, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: " " + avroV1 + "\n"})
	if err != nil || again.ID != ss.ID || again.Version != 1 {
		t.Fatalf("re-register: %+v %v", again, err)
	}
	// The same schema in another subject shares the id.
	other, err := cl.CreateSchema(ctx, "other-value", sr.Schema{Schema: avroV1})
	if err != nil || other.ID != ss.ID {
		t.Fatalf("other subject: %+v %v", other, err)
	}

	v2, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: avroV2})
	if err != nil || v2.Version != 2 || v2.ID != 2 {
		t.Fatalf("evolve: %+v %v", v2, err)
	}
	_, err = cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: avroV3})
	if srCode(err) != 409 || !strings.Contains(err.Error(), "note") {
		t.Fatalf("incompatible: got %v", err)
	}

	look, err := cl.LookupSchema(ctx, "orders-value", sr.Schema{Schema: avroV1})
	if err != nil || look.Version != 1 || look.ID != 1 {
		t.Fatalf("lookup: %+v %v", look, err)
	}
	if _, err := cl.LookupSchema(ctx, "orders-value", sr.Schema{Schema: avroV3}); srCode(err) != 40403 {
		t.Fatalf("lookup missing: %v", err)
	}
	if _, err := cl.LookupSchema(ctx, "nope", sr.Schema{Schema: avroV3}); srCode(err) != 40401 {
		t.Fatalf("lookup missing subject: %v", err)
	}
	got, err := cl.SchemaByID(ctx, 2)
	if err != nil || got.Schema != avroV2 {
		t.Fatalf("by id: %+v %v", got, err)
	}
	subs, err := cl.Subjects(ctx)
	if err != nil || !slices.Equal(subs, []string{"orders-value", "other-value"}) {
		t.Fatalf("subjects: %v %v", subs, err)
	}
	latest, err := cl.SchemaByVersion(ctx, "orders-value", -1)
	if err != nil || latest.Version != 2 {
		t.Fatalf("latest: %+v %v", latest, err)
	}

	// Delete: soft, then permanent.
	if err := cl.DeleteSchema(ctx, "orders-value", 2, sr.HardDelete); srCode(err) != 40407 {
		t.Fatalf("hard delete before soft: %v", err)
	}
	if err := cl.DeleteSchema(ctx, "orders-value", 2, sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if err := cl.DeleteSchema(ctx, "orders-value", 2, sr.HardDelete); err != nil {
		t.Fatal(err)
	}
	vers, err := cl.DeleteSubject(ctx, "other-value", sr.SoftDelete)
	if err != nil || !slices.Equal(vers, []int{1}) {
		t.Fatalf("delete subject: %v %v", vers, err)
	}
	if _, err := cl.DeleteSubject(ctx, "other-value", sr.SoftDelete); srCode(err) != 40404 {
		t.Fatalf("delete subject twice: %v", err)
	}
	if _, err := cl.DeleteSubject(ctx, "other-value", sr.HardDelete); err != nil {
		t.Fatal(err)
	}
	subs, _ = cl.Subjects(sr.WithParams(ctx, sr.ShowDeleted))
	if !slices.Equal(subs, []string{"orders-value"}) {
		t.Fatalf("after delete: %v", subs)
	}

	// Restart: same state, ids never reused.
	tr.restart()
	cl = tr.cl
	look, err = cl.LookupSchema(ctx, "orders-value", sr.Schema{Schema: avroV1})
	if err != nil || look.ID != 1 {
		t.Fatalf("lookup after restart: %+v %v", look, err)
	}
	if _, err := cl.SchemaByID(ctx, 2); srCode(err) != 40403 {
		t.Fatalf("hard-deleted id after restart: %v", err)
	}
	v2b, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: avroV2})
	// Version 2 was removed for good, so its number is free again; its id
	// is not.
	if err != nil || v2b.Version != 2 || v2b.ID != 3 {
		t.Fatalf("register after restart: %+v %v", v2b, err)
	}
	var re *sr.ResponseError
	if _, err := cl.SchemaByID(ctx, 99); !errors.As(err, &re) || re.StatusCode != 404 {
		t.Fatalf("missing id: %v", err)
	}
}

// TestBrokerRestart restarts Herald's broker under a running registry's
// feet, then opens a new registry: what was acknowledged is all there.
func TestBrokerRestart(t *testing.T) {
	b := newTestBroker(t, "") // durable: acks=all waits for fsync
	tr := &testRegistry{t: t, brokers: []string{b.Addr()}, topic: "_schemas"}
	tr.cfg = Config{Brokers: tr.brokers, Topic: tr.topic}
	tr.start()
	t.Cleanup(tr.stop)
	ctx := ctxT(t)
	s1, err := tr.cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: avroV1})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := tr.cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: avroV2})
	if err != nil {
		t.Fatal(err)
	}
	b.Restart()
	tr.restart()
	for _, want := range []sr.SubjectSchema{s1, s2} {
		got, err := tr.cl.SchemaByVersion(ctx, "orders-value", want.Version)
		if err != nil || got.ID != want.ID || got.Schema.Schema != want.Schema.Schema {
			t.Fatalf("version %d after broker restart: %+v %v", want.Version, got, err)
		}
	}
	s3, err := tr.cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: avroV2 + " "})
	if err != nil || s3.ID != s2.ID {
		t.Fatalf("re-register after restart: %+v %v", s3, err)
	}
}
