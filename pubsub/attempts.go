package pubsub

import (
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// The attempt record: how many attempts the records of a partition that
// are not handled yet have had, kept where the partition's position is
// kept, in the metadata string of its committed offset. It survives
// restarts and rebalances with the offset, on any Kafka cluster, and costs
// no store of its own.
//
// Format (part of the wire format; do not change):
//
//	herald.attempts/1 h=<mark> a=<offset>:<n>,<offset>:<n>,...
//
//	mark    the dispatch mark: no record past it was handed to a handler
//	        before the mark was committed; -1 after a clean stop
//	offset  a record at or after the committed offset
//	n       attempts begun on it (at most metaMaxCounts entries, lowest
//	        offsets first)
const attemptsPrefix = "herald.attempts/1 "

// metaMaxCounts bounds the entries of the record, so that it stays far
// below offset.metadata.max.bytes (4096 by default).
const metaMaxCounts = 64

type attemptRecord struct {
	mark   int64
	counts map[int64]int
}

// parseAttempts reads an attempt record; ok is false for metadata that is
// not one (another client's, or empty).
func parseAttempts(s string) (rec attemptRecord, ok bool) {
	rest, ok := strings.CutPrefix(s, attemptsPrefix)
	if !ok {
		return rec, false
	}
	rec.mark = -1
	for _, f := range strings.Fields(rest) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "h":
			m, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return rec, false
			}
			rec.mark = m
		case "a":
			for _, e := range strings.Split(v, ",") {
				o, n, _ := strings.Cut(e, ":")
				off, err1 := strconv.ParseInt(o, 10, 64)
				cnt, err2 := strconv.Atoi(n)
				if err := errors.Join(err1, err2); err != nil || cnt < 0 {
					return rec, false
				}
				if rec.counts == nil {
					rec.counts = make(map[int64]int)
				}
				rec.counts[off] = cnt
			}
		}
	}
	return rec, true
}

// encodeAttempts writes the record of the counts at or after from.
func encodeAttempts(mark int64, counts map[int64]int, from int64) string {
	var b strings.Builder
	b.WriteString(attemptsPrefix)
	b.WriteString("h=")
	b.WriteString(strconv.FormatInt(mark, 10))
	sep, n := " a=", 0
	for _, off := range slices.Sorted(maps.Keys(counts)) {
		if off < from || counts[off] == 0 || n == metaMaxCounts {
			continue
		}
		n++
		b.WriteString(sep)
		sep = ","
		b.WriteString(strconv.FormatInt(off, 10))
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(counts[off]))
	}
	return b.String()
}

// errInterrupted is the dead-letter cause of a record whose recorded
// attempts are used up by attempts that never finished.
var errInterrupted = errors.New("pubsub: the last attempts did not finish (the process crashed, or stopped while the handler ran)")
