package records

// Decode checks a batch with ValidateStored and returns an iterator over its
// records. A compressed batch is decompressed into scratch (its contents
// are overwritten), which is returned, perhaps grown, for reuse; the
// iterator's records alias batch or that buffer, so keep both unchanged
// while iterating. batch and scratch must not overlap.
//
// Decode also checks the decompressed records, as Validate checks an
// uncompressed batch's: when it succeeds, the iterator yields exactly
// RecordCount records, with increasing offset deltas no larger than
// LastOffsetDelta, and no error. Validate followed by Decode therefore
// checks a produced compressed batch completely: deltas that increase
// from 0 and end at LastOffsetDelta == RecordCount-1 are 0..count-1.
func Decode(batch, scratch []byte) (Iter, []byte, error) {
	if err := ValidateStored(batch); err != nil {
		return Iter{}, scratch, err
	}
	return decodeValid(batch, scratch)
}

// DecodeValidated is Decode for a batch that already passed Validate or
// ValidateStored: it skips the second CRC pass.
func DecodeValidated(batch, scratch []byte) (Iter, []byte, error) { return decodeValid(batch, scratch) }

// decodeValid is Decode for a batch that passed ValidateStored.
func decodeValid(batch, scratch []byte) (Iter, []byte, error) {
	h := Header(batch)
	count := int(h.RecordCount())
	recs := batch[HeaderSize:]
	if h.Codec() == CodecNone {
		return NewIter(recs, count), scratch, nil
	}
	out, err := Decompress(h.Codec(), scratch[:0], recs)
	if err != nil {
		return Iter{}, scratch, err
	}
	if err := checkRecords(out, count, h.LastOffsetDelta(), false); err != nil {
		return Iter{}, out, err
	}
	return NewIter(out, count), out, nil
}

// recordTime returns the timestamp of a record in the batch with header h:
// the batch's maxTimestamp for all records under LogAppendTime, else
// baseTimestamp plus the record's delta.
func recordTime(h Header, r *Record) int64 {
	if h.Attributes()&AttrLogAppendTime != 0 {
		return h.MaxTimestamp()
	}
	return h.BaseTimestamp() + r.TimestampDelta
}

// OffsetAtTime finds the first record in batch whose timestamp is at least
// ts, as ListOffsets does, and returns its offset and timestamp; found is
// false when there is none. It skips batches whose maxTimestamp is below
// ts without decompressing them, as Kafka does. scratch is used and
// returned as Decode uses it.
func OffsetAtTime(batch, scratch []byte, ts int64) (offset, recordTs int64, found bool, scratch2 []byte, err error) {
	if err := ValidateStored(batch); err != nil {
		return 0, 0, false, scratch, err
	}
	h := Header(batch)
	if h.MaxTimestamp() < ts {
		return 0, 0, false, scratch, nil
	}
	it, scratch, err := decodeValid(batch, scratch)
	if err != nil {
		return 0, 0, false, scratch, err
	}
	for it.Next() {
		r := it.Record()
		if t := recordTime(h, r); t >= ts {
			return h.BaseOffset() + int64(r.OffsetDelta), t, true, scratch, nil
		}
	}
	return 0, 0, false, scratch, it.Err()
}
