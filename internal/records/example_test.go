package records_test

import (
	"fmt"

	"github.com/heraldhq/herald/internal/records"
)

// Build a compressed batch, compact it to the latest record per key, and
// read what is left.
func ExampleFilter() {
	var raw []byte
	for i, kv := range [][2]string{{"a", "1"}, {"b", "2"}, {"a", "3"}, {"b", ""}} {
		r := records.Record{OffsetDelta: int32(i), Key: []byte(kv[0]), Value: []byte(kv[1])}
		if kv[1] == "" {
			r.Value = nil // a tombstone
		}
		raw = records.AppendRecord(raw, &r)
	}
	b, err := records.AppendBatch(nil, records.BatchSpec{
		BaseOffset: 100, Attributes: int16(records.CodecZstd),
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, LastOffsetDelta: -1,
	}, raw, 4)
	if err != nil {
		panic(err)
	}

	latest := map[string]int64{}
	it, scratch, err := records.Decode(b, nil)
	if err != nil {
		panic(err)
	}
	for it.Next() {
		latest[string(it.Record().Key)] = 100 + int64(it.Record().OffsetDelta)
	}

	out, scratch, kept, err := records.Filter(nil, b, scratch, func(r *records.Record, offset, _ int64) bool {
		return latest[string(r.Key)] == offset
	})
	if err != nil {
		panic(err)
	}
	h := records.Header(out)
	fmt.Printf("kept %d of 4, offsets %d..%d, %v\n", kept, h.BaseOffset(), h.LastOffset(), h.Codec())
	it, _, _ = records.Decode(out, scratch)
	for it.Next() {
		r := it.Record()
		fmt.Printf("offset %d: %s=%q tombstone=%v\n", h.BaseOffset()+int64(r.OffsetDelta), r.Key, r.Value, r.Value == nil)
	}
	// Output:
	// kept 2 of 4, offsets 100..103, zstd
	// offset 102: a="3" tombstone=false
	// offset 103: b="" tombstone=true
}
