// Package sqlrow holds what the SQL outbox stores share: header encoding,
// row scanning and the per-key hold-back rule.
package sqlrow

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/outbox"
)

// Columns are the outbox columns Scan reads, in order.
const Columns = "seq, id, topic, msg_key, headers, value, traceparent, tracestate"

// TraceColumns are the columns added after the first release, which
// stores add to an existing table that lacks them (name, then SQL type
// and default).
var TraceColumns = [][2]string{
	{"traceparent", "TEXT NOT NULL DEFAULT ''"},
	{"tracestate", "TEXT NOT NULL DEFAULT ''"},
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// CheckTable rejects table names that are not plain identifiers.
func CheckTable(name string) error {
	if !identRE.MatchString(name) {
		return fmt.Errorf("outbox: bad table name %q", name)
	}
	return nil
}

// header is the stored form of a record header.
type header struct {
	K string `json:"k"`
	V string `json:"v"`
}

// EncodeHeaders encodes headers as a JSON array of {"k","v"} objects.
func EncodeHeaders(hs []kgo.RecordHeader) string {
	out := make([]header, len(hs))
	for i, h := range hs {
		out[i] = header{K: h.Key, V: string(h.Value)}
	}
	b, _ := json.Marshal(out) // strings only: cannot fail
	return string(b)
}

func decodeHeaders(s string) ([]kgo.RecordHeader, error) {
	var in []header
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return nil, err
	}
	hs := make([]kgo.RecordHeader, len(in))
	for i, h := range in {
		hs[i] = kgo.RecordHeader{Key: h.K, Value: []byte(h.V)}
	}
	return hs, nil
}

// Scan reads rows of Columns.
func Scan(rows *sql.Rows) ([]outbox.Message, error) {
	defer rows.Close()
	var out []outbox.Message
	for rows.Next() {
		var m outbox.Message
		var hs string
		if err := rows.Scan(&m.Seq, &m.ID, &m.Topic, &m.Key, &hs, &m.Value, &m.TraceParent, &m.TraceState); err != nil {
			return nil, err
		}
		var err error
		if m.Headers, err = decodeHeaders(hs); err != nil {
			return nil, fmt.Errorf("outbox: row %d headers: %w", m.Seq, err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// KeySeq is an unpublished row's key and position.
type KeySeq struct {
	Key string
	Seq int64
}

// Publishable splits claimed rows into those that may be published and
// those held back: a claimed row is held back if an earlier unpublished
// row of its key (in all, every unpublished row of the claimed keys up to
// the last claimed Seq, in Seq order) is not claimed by us, because
// publishing it would overtake that row.
func Publishable(claimed []outbox.Message, all []KeySeq) (publish, hold []outbox.Message) {
	mine := make(map[int64]bool, len(claimed))
	for _, m := range claimed {
		mine[m.Seq] = true
	}
	blocked := map[string]bool{}
	ok := map[int64]bool{}
	for _, r := range all {
		switch {
		case blocked[r.Key]:
		case mine[r.Seq]:
			ok[r.Seq] = true
		default:
			blocked[r.Key] = true
		}
	}
	for _, m := range claimed {
		if ok[m.Seq] {
			publish = append(publish, m)
		} else {
			hold = append(hold, m)
		}
	}
	return publish, hold
}

// Keys returns the distinct keys of msgs and their largest Seq.
func Keys(msgs []outbox.Message) (keys []string, maxSeq int64) {
	seen := map[string]bool{}
	for _, m := range msgs {
		if !seen[m.Key] {
			seen[m.Key] = true
			keys = append(keys, m.Key)
		}
		maxSeq = max(maxSeq, m.Seq)
	}
	return keys, maxSeq
}

// ScanKeySeqs reads (key, seq) rows.
func ScanKeySeqs(rows *sql.Rows) ([]KeySeq, error) {
	defer rows.Close()
	var out []KeySeq
	for rows.Next() {
		var k KeySeq
		if err := rows.Scan(&k.Key, &k.Seq); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}
