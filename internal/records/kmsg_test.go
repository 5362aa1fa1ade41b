package records

// Cross-checks against franz-go: its kmsg types encode and decode the
// RecordBatch v2 wire format, and kgo's codecs are what a franz-go client
// produces and consumes. If these agree with us, our format is Kafka's.

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func kgoCodec(c Codec) kgo.CompressionCodec {
	switch c {
	case CodecGzip:
		return kgo.GzipCompression()
	case CodecSnappy:
		return kgo.SnappyCompression()
	case CodecLZ4:
		return kgo.Lz4Compression()
	case CodecZstd:
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

// TestKmsgReadsOurBatches builds with us and decodes with kmsg and kgo.
func TestKmsgReadsOurBatches(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			spec := testSpec(c)
			recs := testRecords(25)
			b := BuildBatch(spec, recs...)
			var kb kmsg.RecordBatch
			if err := kb.ReadFrom(b); err != nil {
				t.Fatal(err)
			}
			checkKmsgHeader(t, &kb, b, spec, len(recs))
			raw, err := kgo.DefaultDecompressor().Decompress(kb.Records, kgo.CompressionCodecType(c))
			if err != nil {
				t.Fatalf("kgo decompress: %v", err)
			}
			got := kmsgRecords(t, raw, int(kb.NumRecords), spec.BaseOffset, spec.BaseTimestamp)
			if err := equalDecoded(got, want(spec, recs)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func checkKmsgHeader(t *testing.T, kb *kmsg.RecordBatch, b []byte, spec BatchSpec, n int) {
	t.Helper()
	crc := crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli))
	switch {
	case kb.FirstOffset != spec.BaseOffset, int(kb.Length) != len(b)-12, kb.Magic != 2,
		uint32(kb.CRC) != crc, kb.PartitionLeaderEpoch != spec.LeaderEpoch:
		t.Fatalf("offset %d length %d magic %d crc %#x (want %#x)", kb.FirstOffset, kb.Length, kb.Magic, uint32(kb.CRC), crc)
	case kb.Attributes != spec.Attributes, kb.LastOffsetDelta != int32(n-1), kb.NumRecords != int32(n):
		t.Fatalf("attrs %d lastDelta %d count %d", kb.Attributes, kb.LastOffsetDelta, kb.NumRecords)
	case kb.FirstTimestamp != spec.BaseTimestamp, kb.ProducerID != spec.ProducerID,
		kb.ProducerEpoch != spec.ProducerEpoch, kb.FirstSequence != spec.BaseSequence:
		t.Fatalf("ts %d pid %d epoch %d seq %d", kb.FirstTimestamp, kb.ProducerID, kb.ProducerEpoch, kb.FirstSequence)
	}
}

// kmsgRecords decodes n records with kmsg.Record, splitting them by their
// length prefix.
func kmsgRecords(t *testing.T, raw []byte, n int, base, baseTs int64) []decoded {
	t.Helper()
	var out []decoded
	for i := 0; i < n; i++ {
		l, m := binary.Varint(raw)
		if m <= 0 || int(l)+m > len(raw) {
			t.Fatalf("record %d: bad length", i)
		}
		var kr kmsg.Record
		if err := kr.ReadFrom(raw[:m+int(l)]); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		raw = raw[m+int(l):]
		d := decoded{Offset: base + int64(kr.OffsetDelta), Timestamp: baseTs + kr.TimestampDelta64,
			Attributes: kr.Attributes, Key: kr.Key, Value: kr.Value}
		for _, h := range kr.Headers {
			d.Headers = append(d.Headers, RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		out = append(out, d)
	}
	if len(raw) != 0 {
		t.Fatalf("%d bytes after the last record", len(raw))
	}
	return out
}

// TestWeReadKmsgBatches builds with kmsg and kgo's compressor (which
// writes bare snappy blocks) and decodes with us.
func TestWeReadKmsgBatches(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			spec := testSpec(c)
			recs := testRecords(25)
			b := kmsgBatch(t, spec, recs)
			if err := Validate(b); err != nil {
				t.Fatal(err)
			}
			checkHeader(t, b, spec, len(recs))
			if err := equalDecoded(decodeAll(t, b), want(spec, recs)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func kmsgBatch(t *testing.T, spec BatchSpec, recs []Record) []byte {
	t.Helper()
	var raw []byte
	maxTs := spec.BaseTimestamp
	for i, r := range recs {
		raw = kmsgRecord(raw, i, &r)
		maxTs = max(maxTs, spec.BaseTimestamp+r.TimestampDelta)
	}
	records := raw
	if c := spec.Codec(); c != CodecNone {
		comp, err := kgo.DefaultCompressor(kgoCodec(c))
		if err != nil {
			t.Fatal(err)
		}
		out, used := comp.Compress(new(bytes.Buffer), raw)
		if used != kgo.CompressionCodecType(c) {
			t.Fatalf("kgo compressed with %d", used)
		}
		records = append([]byte(nil), out...)
	}
	kb := kmsg.RecordBatch{
		FirstOffset: spec.BaseOffset, PartitionLeaderEpoch: spec.LeaderEpoch, Magic: 2,
		Attributes: spec.Attributes, LastOffsetDelta: int32(len(recs) - 1),
		FirstTimestamp: spec.BaseTimestamp, MaxTimestamp: maxTs,
		ProducerID: spec.ProducerID, ProducerEpoch: spec.ProducerEpoch, FirstSequence: spec.BaseSequence,
		NumRecords: int32(len(recs)), Records: records,
	}
	kb.Length = int32(len(kb.AppendTo(nil)) - 12)
	b := kb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// kmsgRecord appends r encoded by kmsg, with offset delta i.
func kmsgRecord(dst []byte, i int, r *Record) []byte {
	kr := kmsg.Record{
		Attributes: r.Attributes, TimestampDelta64: r.TimestampDelta, OffsetDelta: int32(i),
		Key: r.Key, Value: r.Value,
	}
	for _, h := range r.Headers {
		kr.Headers = append(kr.Headers, kmsg.Header{Key: string(h.Key), Value: h.Value})
	}
	kr.Length = int32(len(kr.AppendTo(nil)) - 1) // a zero Length encodes in one byte
	return kr.AppendTo(dst)
}

// TestKmsgReadsFilteredBatches checks that a compacted batch, with its
// offset gaps, is still a batch Kafka clients read.
func TestKmsgReadsFilteredBatches(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			spec := testSpec(c)
			b := BuildBatch(spec, testRecords(20)...)
			out, _, kept, err := Filter(nil, b, nil, func(_ *Record, off, _ int64) bool { return (off-spec.BaseOffset)%3 == 0 })
			if err != nil || kept != 7 {
				t.Fatalf("kept %d, %v", kept, err)
			}
			var kb kmsg.RecordBatch
			if err := kb.ReadFrom(out); err != nil {
				t.Fatal(err)
			}
			if crc := crc32.Checksum(out[21:], crc32.MakeTable(crc32.Castagnoli)); uint32(kb.CRC) != crc {
				t.Fatalf("crc %#x, computed %#x", uint32(kb.CRC), crc)
			}
			raw, err := kgo.DefaultDecompressor().Decompress(kb.Records, kgo.CompressionCodecType(c))
			if err != nil {
				t.Fatal(err)
			}
			got := kmsgRecords(t, raw, int(kb.NumRecords), kb.FirstOffset, kb.FirstTimestamp)
			for i, d := range got {
				if d.Offset != spec.BaseOffset+int64(3*i) {
					t.Fatalf("record %d at offset %d", i, d.Offset)
				}
			}
		})
	}
}
