package records

import "math"

// Filter appends to dst a copy of the stored batch holding only the records
// for which keep returns true, for log compaction. keep sees each record
// with its absolute offset and timestamp; the record's slices are only
// valid during the call.
//
// The result keeps the batch's base offset, lastOffsetDelta (so the log's
// offsets and idempotent producer state do not move), leader epoch,
// attributes, codec (the records are compressed again), base timestamp,
// producer id, epoch and base sequence. Records keep their offset and
// timestamp deltas, so offsets may have gaps; ValidateStored accepts the
// result. maxTimestamp is recomputed over the kept records, except under
// LogAppendTime, where it is every record's timestamp and stays. The CRC
// is recomputed.
//
// If keep accepts every record, the batch is appended unchanged. If it
// accepts none, nothing is appended and kept is 0. scratch is used and
// returned as Decode uses it, and also holds the kept records before they
// are compressed. dst, batch and scratch must not overlap. On error dst is
// returned unchanged.
func Filter(dst, batch, scratch []byte, keep func(r *Record, offset int64, timestamp int64) bool) (out, scratch2 []byte, kept int, err error) {
	it, scratch, err := Decode(batch, scratch)
	if err != nil {
		return dst, scratch, 0, err
	}
	h := Header(batch)
	raw, kept, maxTs, err := filterRecords(h, &it, scratch[:0], keep)
	scratch = raw // an uncompressed batch's kept records may have grown it
	switch {
	case err != nil:
		return dst, scratch, 0, err
	case kept == 0:
		return dst, scratch, 0, nil
	case kept == int(h.RecordCount()):
		return append(dst, batch...), scratch, kept, nil
	}
	spec := specOf(h)
	if h.Attributes()&AttrLogAppendTime == 0 {
		spec.MaxTimestamp = maxTs
	}
	out, err = AppendBatch(dst, spec, raw, kept)
	return out, scratch, kept, err
}

// filterRecords appends the records keep accepts to raw and returns them
// with their count and largest timestamp. raw may share its array with the
// records it walks (Filter compacts a decompressed section in place): the
// write position never passes the start of the record being read, and
// append copies with memmove.
func filterRecords(h Header, it *Iter, raw []byte, keep func(*Record, int64, int64) bool) ([]byte, int, int64, error) {
	kept, maxTs := 0, int64(math.MinInt64)
	for it.Next() {
		r := it.Record()
		ts := recordTime(h, r)
		if !keep(r, h.BaseOffset()+int64(r.OffsetDelta), ts) {
			continue
		}
		raw = append(raw, r.Raw...)
		kept++
		maxTs = max(maxTs, ts)
	}
	return raw, kept, maxTs, it.Err()
}

// specOf returns the spec that rebuilds a batch with header h.
func specOf(h Header) BatchSpec {
	return BatchSpec{
		BaseOffset:      h.BaseOffset(),
		LeaderEpoch:     h.LeaderEpoch(),
		Attributes:      h.Attributes(),
		BaseTimestamp:   h.BaseTimestamp(),
		MaxTimestamp:    h.MaxTimestamp(),
		ProducerID:      h.ProducerID(),
		ProducerEpoch:   h.ProducerEpoch(),
		BaseSequence:    h.BaseSequence(),
		LastOffsetDelta: h.LastOffsetDelta(),
	}
}
