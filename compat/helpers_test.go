package compat

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/heraldhq/herald/internal/testenv"
)

// checkFor polls cond until it returns nil; see testenv.CheckFor.
var checkFor = testenv.CheckFor

// testCtx returns a context that ends after d or when the test ends, so
// that no wait in the suite is unbounded.
func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// topicName returns a topic name unique to this test and run; external
// clusters may hold topics from earlier runs.
func topicName(t testing.TB, suffix ...string) string {
	name := strings.NewReplacer("/", ".", " ", "_", "=", "-").Replace(t.Name())
	if len(name) > 180 {
		name = name[len(name)-180:]
	}
	parts := append([]string{"compat", name}, suffix...)
	parts = append(parts, fmt.Sprintf("%06x", mrand.Uint32()&0xffffff))
	return strings.Join(parts, ".")
}

// createTopic creates topic with partitions partitions through kadm and
// waits until the broker's metadata lists it. On an external cluster the
// topic is deleted when the test ends.
func createTopic(t testing.TB, tg target, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	adm := newAdmin(t, tg)
	ctx := testCtx(t, 15*time.Second)
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	if tg.external {
		t.Cleanup(func() { deleteTopic(t, tg, topic) })
	}
	waitForTopic(t, tg, topic, partitions)
}

// waitForTopic waits until metadata lists topic with partitions partitions,
// each with a leader.
func waitForTopic(t testing.TB, tg target, topic string, partitions int32) {
	t.Helper()
	adm := newAdmin(t, tg)
	checkFor(t, 10*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		tds, err := adm.ListTopics(ctx, topic)
		if err != nil {
			return err
		}
		td, ok := tds[topic]
		if !ok {
			return fmt.Errorf("topic %s not in metadata", topic)
		}
		if td.Err != nil {
			return fmt.Errorf("topic %s: %w", topic, td.Err)
		}
		if got := int32(len(td.Partitions)); got != partitions {
			return fmt.Errorf("topic %s has %d partitions, want %d", topic, got, partitions)
		}
		for _, p := range td.Partitions {
			if p.Leader < 0 || p.Err != nil {
				return fmt.Errorf("topic %s partition %d: leader %d, err %w", topic, p.Partition, p.Leader, p.Err)
			}
		}
		return nil
	})
}

func deleteTopic(t testing.TB, tg target, topic string) {
	adm := newAdmin(t, tg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := adm.DeleteTopics(ctx, topic); err != nil {
		t.Logf("delete topic %s: %v", topic, err)
	}
}

// endOffsets returns the high watermark of each partition of topic.
func endOffsets(t testing.TB, tg target, topic string) map[int32]int64 {
	t.Helper()
	adm := newAdmin(t, tg)
	ctx := testCtx(t, 10*time.Second)
	listed, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	ends := make(map[int32]int64)
	listed.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset })
	return ends
}

// record is one Kafka record as a test writes or reads it.
type record struct {
	Key, Value []byte
	Headers    []header
	// Timestamp is the record's timestamp, millisecond precision. Zero in
	// a record to produce means "let the client set it".
	Timestamp time.Time
	Partition int32
	Offset    int64
}

type header struct {
	Key   string
	Value []byte
}

func (r record) String() string {
	return fmt.Sprintf("{p%d@%d key=%s value=%s headers=%v ts=%d}",
		r.Partition, r.Offset, showBytes(r.Key), showBytes(r.Value), r.Headers, r.Timestamp.UnixMilli())
}

func (h header) String() string { return h.Key + "=" + showBytes(h.Value) }

func showBytes(b []byte) string {
	switch {
	case b == nil:
		return "null"
	case len(b) > 24:
		return fmt.Sprintf("%q...(%d bytes)", b[:24], len(b))
	default:
		return fmt.Sprintf("%q", b)
	}
}

// caps says what a client can express when it produces. The records a
// test writes are generated to fit the producing client, and compared as
// finely as the consuming client can see (client.readsNulls).
type caps struct {
	// binary: keys and values may hold any byte (kcat splits its input
	// on delimiters, so it produces text).
	binary bool
	// nullKeys, nullValues: the producer can send a null key, a null
	// value, apart from an empty one.
	nullKeys, nullValues bool
	// recordHeaders: each record can carry its own headers; otherwise all
	// records of one produce call carry the same ones.
	recordHeaders bool
	// timestamps: the producer sets each record's timestamp.
	timestamps bool
}

// codec is a compression codec as the suite names it.
type codec string

const (
	codecNone   codec = "none"
	codecGzip   codec = "gzip"
	codecSnappy codec = "snappy"
	codecLz4    codec = "lz4"
	codecZstd   codec = "zstd"
)

// codecs are all of them; a record batch's attributes&7 is the index.
var codecs = []codec{codecNone, codecGzip, codecSnappy, codecLz4, codecZstd}

// textAlphabet is what text-only clients may produce: printable ASCII,
// free of any delimiter the kcat client uses.
const textAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .:;_-+*/!?()[]{}<>@#$%^&|~'\"`,="

// headerAlphabet is what header keys and values are made of: kcat prints
// headers as k=v,k=v, so ',' and '=' cannot appear.
const headerAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_."

// genRecords returns n records for partition that exercise what a client
// with caps pc can produce: null, empty, short and long keys and values,
// compressible and random bytes, zero to three headers (repeated keys,
// empty values) and timestamps that are not monotonic.
func genRecords(rng *mrand.Rand, n int, partition int32, pc caps) []record {
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	shared := []header{{"shared", []byte("yes")}, {"trace-id", []byte("4bf92f3577b34da6")}, {"empty", []byte{}}}
	recs := make([]record, n)
	for i := range recs {
		r := &recs[i]
		r.Partition = partition
		r.Key = genKey(rng, i, pc)
		r.Value = genValue(rng, i, pc)
		if r.Key == nil && len(r.Value) == 0 && !pc.nullValues {
			// kcat skips an empty input line: it cannot send a
			// record with a null key and an empty value.
			r.Value = []byte("v")
		}
		r.Headers = shared
		if pc.recordHeaders {
			r.Headers = genHeaders(rng, i)
		}
		if pc.timestamps {
			r.Timestamp = base.Add(time.Duration(i) * 10 * time.Millisecond)
			if i%10 == 9 {
				r.Timestamp = base.Add(-5 * time.Second) // older than its predecessors
			}
		}
	}
	return recs
}

func genKey(rng *mrand.Rand, i int, pc caps) []byte {
	switch i % 5 {
	case 0:
		if pc.nullKeys {
			return nil
		}
		return fmt.Appendf(nil, "k%d", i)
	case 1:
		return []byte{}
	case 2:
		return genBytes(rng, 1+rng.IntN(300), pc.binary)
	default:
		return fmt.Appendf(nil, "key-%d", i%7) // repeated keys
	}
}

func genValue(rng *mrand.Rand, i int, pc caps) []byte {
	switch {
	case i%23 == 7 && pc.nullValues:
		return nil // a tombstone
	case i%11 == 3:
		return []byte{}
	case i%37 == 5:
		return bytes.Repeat([]byte("compressible "), 1000) // 13 KiB
	case i%4 == 0:
		return genBytes(rng, rng.IntN(4096), pc.binary)
	default:
		return fmt.Appendf(nil, "value %d: %s", i, strings.Repeat("abc", rng.IntN(100)))
	}
}

func genHeaders(rng *mrand.Rand, i int) []header {
	switch i % 4 {
	case 0:
		return nil
	case 1:
		return []header{{"h", genText(rng, 1+rng.IntN(20), headerAlphabet)}}
	case 2:
		return []header{{"dup", []byte("first")}, {"dup", []byte("second")}, {"empty", []byte{}}}
	default:
		return []header{{"content-type", []byte("application/octet-stream")}, {"n", fmt.Appendf(nil, "%d", i)}}
	}
}

func genBytes(rng *mrand.Rand, n int, binary bool) []byte {
	if !binary {
		return genText(rng, n, textAlphabet)
	}
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func genText(rng *mrand.Rand, n int, alphabet string) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return b
}

// window is the time span of a produce call: records the client
// timestamped itself must carry a time inside it.
type window struct{ from, to time.Time }

// slack covers the millisecond truncation and the client stamping a
// record a little before the produce call we measure starts.
const slack = time.Second

func (w window) contains(ts time.Time) bool {
	return !ts.Before(w.from.Add(-slack)) && !ts.After(w.to.Add(slack))
}

// compareRecords checks that got is exactly want, read back from offset
// first on: same partition, contiguous offsets, same keys, values, headers
// and timestamps. nulls says whether the consumer tells null from empty.
// Records in want without a timestamp must have one inside w.
func compareRecords(t testing.TB, want, got []record, first int64, nulls bool, w window) {
	t.Helper()
	var problems []string
	add := func(format string, args ...any) {
		if len(problems) < 10 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	if len(got) != len(want) {
		add("read %d records, wrote %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		wr, gr := want[i], got[i]
		if diff := diffRecord(wr, gr, first+int64(i), nulls, w); diff != "" {
			add("record %d: %s\n\twant %v\n\tgot  %v", i, diff, wr, gr)
		}
	}
	if len(problems) > 0 {
		t.Errorf("read back differs from what was written:\n%s", strings.Join(problems, "\n"))
	}
}

func diffRecord(want, got record, offset int64, nulls bool, w window) string {
	var d []string
	if got.Partition != want.Partition {
		d = append(d, fmt.Sprintf("partition %d, want %d", got.Partition, want.Partition))
	}
	if got.Offset != offset {
		d = append(d, fmt.Sprintf("offset %d, want %d", got.Offset, offset))
	}
	if !sameBytes(got.Key, want.Key, nulls) {
		d = append(d, "key")
	}
	if !sameBytes(got.Value, want.Value, nulls) {
		d = append(d, "value")
	}
	if !sameHeaders(got.Headers, want.Headers) {
		d = append(d, "headers")
	}
	switch {
	case want.Timestamp.IsZero():
		if !w.contains(got.Timestamp) {
			d = append(d, fmt.Sprintf("timestamp %d outside produce window [%d, %d]",
				got.Timestamp.UnixMilli(), w.from.UnixMilli(), w.to.UnixMilli()))
		}
	case got.Timestamp.UnixMilli() != want.Timestamp.UnixMilli():
		d = append(d, "timestamp")
	}
	return strings.Join(d, ", ")
}

// sameBytes compares a and b; null and empty differ only if nulls.
func sameBytes(a, b []byte, nulls bool) bool {
	if nulls && (a == nil) != (b == nil) {
		return false
	}
	return bytes.Equal(a, b)
}

// sameHeaders compares headers in order. Header values are compared
// without telling null from empty: not every client can.
func sameHeaders(a, b []header) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}
