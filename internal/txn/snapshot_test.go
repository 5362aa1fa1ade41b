package txn

import (
	"reflect"
	"testing"
)

// TestSnapshotRoundTrip: a snapshot decodes to the state it encoded, and
// any damaged byte or truncation is refused rather than misread.
func TestSnapshotRoundTrip(t *testing.T) {
	s := newState()
	s.producers[7] = &producer{epoch: 3, txnFirst: 40, batches: []batchMeta{
		{firstSeq: 0, lastSeq: 4, firstOffset: 10, lastOffset: 14},
		{firstSeq: 5, lastSeq: 5, firstOffset: 40, lastOffset: 40},
	}}
	s.producers[9] = &producer{epoch: 0, txnFirst: -1}
	s.open = []openTxn{{pid: 7, first: 40, marker: -1}, {pid: 9, first: 20, marker: 30}}
	s.aborted = []AbortedTxn{{ProducerID: 9, FirstOffset: 1, LastOffset: 5}}
	b := encodeSnapshot(s, 41)
	got, off, err := decodeSnapshot(b)
	if err != nil || off != 41 {
		t.Fatalf("decode: %v, offset %d", err, off)
	}
	s.open = s.open[:1] // transactions with a marker are left out
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("decoded %+v, want %+v", got, s)
	}
	for i := range b {
		bad := append([]byte(nil), b...)
		bad[i] ^= 0x40
		if _, _, err := decodeSnapshot(bad); err == nil {
			t.Fatalf("flipped byte %d accepted", i)
		}
		if _, _, err := decodeSnapshot(b[:i]); err == nil {
			t.Fatalf("truncation at %d accepted", i)
		}
	}
}

// TestStateChecks covers the sequence rules without a broker.
func TestStateChecks(t *testing.T) {
	s := newState()
	s.producers[1] = &producer{epoch: 2, txnFirst: -1, batches: []batchMeta{{firstSeq: 0, lastSeq: 9, firstOffset: 0, lastOffset: 9}}}
	if got := addSeq(2147483647, 1); got != 0 {
		t.Fatalf("sequence wraps to %d, want 0", got)
	}
	s.applyMarker(1, 3, false, 10) // a marker at a newer epoch forgets the batches
	if pr := s.producers[1]; pr.epoch != 3 || len(pr.batches) != 0 {
		t.Fatalf("after marker: %+v", pr)
	}
	if err := s.checkMarker(1, 2); err == nil {
		t.Fatal("marker from an older epoch accepted")
	}
	if lso := s.lso(100); lso != 100 {
		t.Fatalf("lso %d with nothing open", lso)
	}
	s.open = append(s.open, openTxn{pid: 1, first: 50, marker: -1})
	if lso := s.lso(100); lso != 50 {
		t.Fatalf("lso %d, want 50", lso)
	}
	s.open[0].marker = 60
	if lso := s.lso(60); lso != 50 {
		t.Fatalf("lso %d before the marker is below the high watermark, want 50", lso)
	}
	if lso := s.lso(61); lso != 61 || len(s.open) != 0 {
		t.Fatalf("lso %d after the marker is visible, open %v", lso, s.open)
	}
	s.aborted = []AbortedTxn{{1, 0, 5}, {2, 3, 20}, {3, 30, 40}}
	if got := s.abortedIn(6, 31); len(got) != 2 || got[0].ProducerID != 2 || got[1].ProducerID != 3 {
		t.Fatalf("abortedIn(6, 31) = %v", got)
	}
}
