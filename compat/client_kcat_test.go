package compat

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testenv"
)

// kcat speaks to the broker through librdkafka. It is the one non-Go
// client of the suite, run as a subprocess.
//
// Produce input is key 0x1f value 0x1e per record (-K, -D); a record
// without the 0x1f is produced with a null key. kcat sets the same headers
// (-H) on every record of a run and lets librdkafka stamp the time, so the
// records the suite gives it are made to fit (caps).
//
// Consume output is one record per kcatFormat, with lengths before the key
// and value so that they may hold any byte.
func kcatClient() client {
	return client{
		name:       "kcat",
		caps:       caps{binary: false, nullKeys: true},
		readsNulls: true,
		open: func(t testing.TB, tg target) session {
			return &kcatSession{t: t, tg: tg, path: kcatPath(t)}
		},
	}
}

const (
	kcatFieldSep  = 0x1f
	kcatRecordSep = 0x1e
	// kcatFormat: partition, offset, timestamp, key length (-1 = null),
	// key, value length, value, headers (k=v,k=v).
	kcatFormat = `%p\x1f%o\x1f%T\x1f%K\x1f%k\x1f%S\x1f%s\x1f%h\x1e`
)

// kcatPath finds kcat. A missing kcat skips the test under a plain go
// test and fails it under make test (HERALD_REQUIRE_TOOLS=1), which
// installs it with scripts/ensure-tools.sh.
func kcatPath(t testing.TB) string {
	t.Helper()
	return testenv.Tool(t, "kcat", "scripts/ensure-tools.sh (as root) installs the Debian package kcat")
}

type kcatSession struct {
	t    testing.TB
	tg   target
	path string
}

// run runs kcat with args and stdin, and returns its stdout; a failure
// carries stderr.
func (s *kcatSession) run(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	args = append([]string{"-b", strings.Join(s.tg.seeds, ","), "-m", "10"}, args...)
	cmd := exec.CommandContext(ctx, s.path, args...)
	cmd.WaitDelay = time.Second
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	// kcat reports delivery failures on stderr; some exit 0 anyway.
	if err == nil && bytes.Contains(stderr.Bytes(), []byte("Delivery failed")) {
		err = errors.New("delivery failed")
	}
	if err != nil {
		return stdout.Bytes(), &kcatError{args: args, err: err, stderr: strings.TrimSpace(stderr.String())}
	}
	return stdout.Bytes(), nil
}

type kcatError struct {
	args   []string
	err    error
	stderr string
}

func (e *kcatError) Error() string {
	return fmt.Sprintf("kcat %s: %v: %s", strings.Join(e.args, " "), e.err, e.stderr)
}

func (s *kcatSession) produce(ctx context.Context, topic string, c codec, recs []record) ([]int64, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	args := []string{"-P", "-t", topic, "-p", strconv.Itoa(int(recs[0].Partition)), "-z", string(c),
		"-K", `\x1f`, "-D", `\x1e`, "-X", "acks=all", "-X", "message.max.bytes=10000000"}
	for _, h := range recs[0].Headers {
		args = append(args, "-H", h.Key+"="+string(h.Value))
	}
	var in bytes.Buffer
	for i, r := range recs {
		if r.Partition != recs[0].Partition || !sameHeaders(r.Headers, recs[0].Headers) || !r.Timestamp.IsZero() {
			return nil, fmt.Errorf("record %d: kcat produces one partition with one header set and its own timestamps per run", i)
		}
		if r.Key != nil {
			in.Write(r.Key)
			in.WriteByte(kcatFieldSep)
		}
		in.Write(r.Value)
		in.WriteByte(kcatRecordSep)
	}
	_, err := s.run(ctx, in.Bytes(), args...)
	return nil, err
}

func (s *kcatSession) consume(ctx context.Context, topic string, partition int32, offset int64, n int) ([]record, error) {
	from := strconv.FormatInt(offset, 10)
	if offset == 0 {
		from = "beginning"
	}
	out, err := s.run(ctx, nil, "-C", "-t", topic, "-p", strconv.Itoa(int(partition)),
		"-o", from, "-c", strconv.Itoa(n), "-e", "-q", "-f", kcatFormat)
	if err != nil {
		return nil, err
	}
	recs, err := parseKcat(out)
	if err != nil {
		return recs, err
	}
	if len(recs) != n {
		return recs, fmt.Errorf("kcat read %d of %d records before the end of the partition", len(recs), n)
	}
	return recs, nil
}

// parseKcat parses records printed with kcatFormat.
func parseKcat(out []byte) ([]record, error) {
	br := bufio.NewReader(bytes.NewReader(out))
	var recs []record
	for {
		if _, err := br.Peek(1); errors.Is(err, io.EOF) {
			return recs, nil
		}
		r, err := parseKcatRecord(br)
		if err != nil {
			return recs, fmt.Errorf("kcat output, record %d: %w", len(recs), err)
		}
		recs = append(recs, r)
	}
}

func parseKcatRecord(br *bufio.Reader) (record, error) {
	var r record
	var ints [4]int64 // partition, offset, timestamp, key length
	for i := range ints {
		n, err := kcatInt(br)
		if err != nil {
			return r, err
		}
		ints[i] = n
	}
	r.Partition, r.Offset, r.Timestamp = int32(ints[0]), ints[1], time.UnixMilli(ints[2])
	var err error
	if r.Key, err = kcatBytes(br, ints[3]); err != nil {
		return r, fmt.Errorf("key: %w", err)
	}
	valueLen, err := kcatInt(br)
	if err != nil {
		return r, err
	}
	if r.Value, err = kcatBytes(br, valueLen); err != nil {
		return r, fmt.Errorf("value: %w", err)
	}
	hs, err := br.ReadString(kcatRecordSep)
	if err != nil {
		return r, fmt.Errorf("headers: %w", err)
	}
	r.Headers = parseKcatHeaders(strings.TrimSuffix(hs, string(rune(kcatRecordSep))))
	return r, nil
}

func kcatInt(br *bufio.Reader) (int64, error) {
	s, err := br.ReadString(kcatFieldSep)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSuffix(s, string(rune(kcatFieldSep))), 10, 64)
}

// kcatBytes reads n bytes (nil for n == -1) and the field separator.
func kcatBytes(br *bufio.Reader, n int64) ([]byte, error) {
	var b []byte
	if n >= 0 {
		b = make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, err
		}
	}
	if sep, err := br.ReadByte(); err != nil || sep != kcatFieldSep {
		return nil, fmt.Errorf("no field separator after %d bytes (%w)", n, err)
	}
	return b, nil
}

func parseKcatHeaders(s string) []header {
	if s == "" {
		return nil
	}
	var hs []header
	for kv := range strings.SplitSeq(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		hs = append(hs, header{k, []byte(v)})
	}
	return hs
}

func (s *kcatSession) createTopic(context.Context, string, int32) error { return errUnsupported }

type kcatBroker struct {
	ID   int32  `json:"id"`
	Name string `json:"name"`
}

// kcatMetadata is the part of `kcat -L -J` the suite reads.
type kcatMetadata struct {
	Brokers []kcatBroker `json:"brokers"`
	Topics  []struct {
		Topic      string `json:"topic"`
		Error      string `json:"error"`
		Partitions []struct {
			Partition int32  `json:"partition"`
			Leader    int32  `json:"leader"`
			Error     string `json:"error"`
		} `json:"partitions"`
	} `json:"topics"`
}

func (s *kcatSession) metadata(ctx context.Context, topic string) (kcatMetadata, error) {
	var md kcatMetadata
	out, err := s.run(ctx, nil, "-L", "-J", "-t", topic)
	if err != nil {
		return md, err
	}
	if err := json.Unmarshal(out, &md); err != nil {
		return md, fmt.Errorf("kcat -L -J output %q: %w", out, err)
	}
	return md, nil
}

func (s *kcatSession) partitions(ctx context.Context, topic string) ([]int32, error) {
	md, err := s.metadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	for _, tm := range md.Topics {
		if tm.Topic != topic {
			continue
		}
		if tm.Error != "" {
			return nil, fmt.Errorf("topic %s: %s", topic, tm.Error)
		}
		var ps []int32
		for _, p := range tm.Partitions {
			if p.Error != "" {
				return nil, fmt.Errorf("partition %d: %s", p.Partition, p.Error)
			}
			if !slices.ContainsFunc(md.Brokers, func(b kcatBroker) bool { return b.ID == p.Leader }) {
				return nil, fmt.Errorf("partition %d: leader %d is not a listed broker", p.Partition, p.Leader)
			}
			ps = append(ps, p.Partition)
		}
		return slices.Sorted(slices.Values(ps)), nil
	}
	return nil, fmt.Errorf("topic %s not in kcat -L output", topic)
}

// kcatCodes maps librdkafka's broker error strings to Kafka error codes.
var kcatCodes = map[string]int16{
	"Broker: Message size too large":           10,
	"Broker: Unknown topic or partition":       3,
	"Broker: Invalid topic":                    17,
	"Broker: Record batch too large":           18,
	"Broker: Not enough in-sync replicas":      19,
	"Broker: Corrupt message":                  2,
	"Broker: Broker failed to validate record": 87, // INVALID_RECORD
}

func (s *kcatSession) errorCode(err error) int16 {
	var ke *kcatError
	if !errors.As(err, &ke) {
		return -1
	}
	for text, code := range kcatCodes {
		if strings.Contains(ke.stderr, text) {
			return code
		}
	}
	return -1
}
