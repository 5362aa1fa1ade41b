package broker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/heraldhq/herald/internal/records"
)

// openTestBroker opens a broker on a temp dir, closed at cleanup.
func openTestBroker(t *testing.T, cfg Config) *Broker {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	b, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// producerBatch is a batch as a producer sends it: CreateTime, n records.
func producerBatch(ts int64, n int) []byte {
	recs := make([]records.Record, n)
	for i := range recs {
		recs[i] = records.Record{Key: []byte{'k', byte('0' + i)}, Value: []byte("value")}
	}
	return records.BuildBatch(records.BatchSpec{
		BaseTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
	}, recs...)
}

// flipByte changes one byte of the last record's value without fixing the
// CRC: the batch still parses, only the checksum can tell.
func flipByte(b []byte) []byte {
	b[bytes.LastIndex(b, []byte("value"))] = 'V'
	return b
}

func controlBatch() []byte {
	// A commit marker: key version 0, type 1; value version 0, epoch 0.
	return records.BuildBatch(records.BatchSpec{
		Attributes: records.AttrControl | records.AttrTransactional, BaseTimestamp: 1,
		ProducerID: 7, ProducerEpoch: 0, BaseSequence: -1,
	}, records.Record{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 0}})
}

// TestPartitionAppend is the broker's produce-path table: each bad batch is
// answered with Kafka's error code and leaves the log untouched, on
// CreateTime and LogAppendTime topics alike.
func TestPartitionAppend(t *testing.T) {
	const ts = 1_700_000_000_000
	now := time.UnixMilli(1_800_000_000_000)
	for _, tc := range []struct {
		name    string
		configs map[string]string
		batch   func() []byte
		want    *kerr.Error // nil: accepted
	}{
		{"create time ok", nil, func() []byte { return producerBatch(ts, 3) }, nil},
		{"log append time ok", logAppend(), func() []byte { return producerBatch(ts, 3) }, nil},
		{"corrupt byte, create time", nil, func() []byte { return flipByte(producerBatch(ts, 3)) }, kerr.CorruptMessage},
		{"corrupt byte, log append time", logAppend(), func() []byte { return flipByte(producerBatch(ts, 3)) }, kerr.CorruptMessage},
		{"corrupt header byte, log append time", logAppend(), func() []byte {
			b := producerBatch(ts, 3)
			b[records.HeaderSize-1] ^= 0x01 // recordCount, covered by the CRC
			return b
		}, kerr.CorruptMessage},
		{"truncated", nil, func() []byte { b := producerBatch(ts, 3); return b[:len(b)-5] }, kerr.CorruptMessage},
		{"truncated, log append time", logAppend(), func() []byte { b := producerBatch(ts, 3); return b[:len(b)-5] }, kerr.CorruptMessage},
		{"shorter than a header", nil, func() []byte { return producerBatch(ts, 1)[:20] }, kerr.CorruptMessage},
		{"two batches", nil, func() []byte { return append(producerBatch(ts, 1), producerBatch(ts, 1)...) }, kerr.InvalidRecord},
		{"two batches, log append time", logAppend(), func() []byte {
			return append(producerBatch(ts, 1), producerBatch(ts, 1)...)
		}, kerr.InvalidRecord},
		{"control batch", nil, controlBatch, kerr.InvalidRecord},
		{"control batch, log append time", logAppend(), controlBatch, kerr.InvalidRecord},
		{"magic 1", nil, func() []byte { b := producerBatch(ts, 1); b[16] = 1; return b }, kerr.InvalidRecord},
		{"magic 1, log append time", logAppend(), func() []byte { b := producerBatch(ts, 1); b[16] = 1; return b }, kerr.InvalidRecord},
		{"record count disagrees, CRC fixed", logAppend(), func() []byte {
			b := producerBatch(ts, 3)
			binary.BigEndian.PutUint32(b[records.HeaderSize-4:], 2)
			records.SetCRC(b)
			return b
		}, kerr.InvalidRecord},
		{"over max.message.bytes", map[string]string{"max.message.bytes": "80"},
			func() []byte { return producerBatch(ts, 3) }, kerr.MessageTooLarge},
		{"under the default max.message.bytes", nil, func() []byte { return producerBatch(ts, 3) }, nil},
		{"schema validation without a registry", map[string]string{SchemaValidationConfig: "true"},
			func() []byte { return producerBatch(ts, 1) }, kerr.InvalidRecord},
		{"corrupt byte, schema validation", map[string]string{SchemaValidationConfig: "true"},
			func() []byte { return flipByte(producerBatch(ts, 1)) }, kerr.CorruptMessage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := openTestBroker(t, Config{})
			top, err := b.CreateTopic("t", 1, tc.configs, false)
			if err != nil {
				t.Fatal(err)
			}
			p := top.Partition(0)
			batch := tc.batch()
			a, err := p.Append(batch, now, AckAll)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("Append = %v, want %s", err, tc.want.Message)
				}
				if code, _ := Code(err); code != tc.want.Code {
					t.Fatalf("Code = %d, want %d", code, tc.want.Code)
				}
				if leo := p.log.LogEndOffset(); leo != 0 {
					t.Fatalf("log end offset %d after a refused batch, want 0", leo)
				}
				if n := p.log.Size(); n != 0 {
					t.Fatalf("log holds %d bytes after a refused batch", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("Append: %v", err)
			}
			if a.BaseOffset != 0 || a.LastOffset != 2 {
				t.Fatalf("appended at %d..%d, want 0..2", a.BaseOffset, a.LastOffset)
			}
			if err := a.Durable(); err != nil {
				t.Fatal(err)
			}
			got, err := p.log.Read(nil, 0, 1<<20, true)
			if err != nil {
				t.Fatal(err)
			}
			if err := records.Validate(got); err != nil {
				t.Fatalf("stored batch does not validate: %v", err)
			}
			h := records.Header(got)
			stamped := h.Attributes()&records.AttrLogAppendTime != 0
			if wantStamp := tc.configs["message.timestamp.type"] == "LogAppendTime"; stamped != wantStamp {
				t.Fatalf("stored batch LogAppendTime bit = %v, want %v", stamped, wantStamp)
			}
			switch {
			case stamped && (a.LogAppendTime != now.UnixMilli() || h.MaxTimestamp() != now.UnixMilli()):
				t.Fatalf("LogAppendTime: answered %d, stored maxTimestamp %d, want %d", a.LogAppendTime, h.MaxTimestamp(), now.UnixMilli())
			case !stamped && (a.LogAppendTime != -1 || h.MaxTimestamp() != ts):
				t.Fatalf("CreateTime: answered logAppendTime %d (want -1), stored maxTimestamp %d (want %d)", a.LogAppendTime, h.MaxTimestamp(), ts)
			}
		})
	}
}

func logAppend() map[string]string {
	return map[string]string{"message.timestamp.type": "LogAppendTime"}
}

// BenchmarkPartitionAppend: the produce path's append, for both timestamp
// types; it must not allocate (LogAppendTime validates once more).
func BenchmarkPartitionAppend(b *testing.B) {
	for _, tc := range []struct {
		name    string
		configs map[string]string
	}{{"CreateTime", nil}, {"LogAppendTime", logAppend()}, {"Compact", map[string]string{"cleanup.policy": "compact"}}} {
		b.Run(tc.name, func(b *testing.B) {
			br, err := Open(Config{DataDir: b.TempDir(), Durability: "none", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			defer br.Close()
			top, err := br.CreateTopic("t", 1, tc.configs, false)
			if err != nil {
				b.Fatal(err)
			}
			p := top.Partition(0)
			batch := producerBatch(1, 10)
			buf := make([]byte, len(batch))
			now := time.Now()
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				copy(buf, batch)
				if _, err := p.Append(buf, now, AckAll); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
