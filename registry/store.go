package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The _schemas topic holds one record per fact, keyed like Confluent
// Schema Registry's so that compaction keeps the last word on each:
//
//	key (JSON)                                                   value (JSON)
//	{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}     version (see state.go); null = hard-deleted
//	{"keytype":"CONFIG","subject":"s"|null,"magic":0}            {"compatibilityLevel":"BACKWARD"}; null = reset
//	{"keytype":"MODE","subject":"s"|null,"magic":0}              {"mode":"READONLY"}; null = reset
//	{"keytype":"DELETE_SUBJECT","subject":"s","magic":0}         {"subject":"s","version":N}: versions <= N soft-deleted
//	{"keytype":"NOOP","magic":0}                                 ignored
//	{"keytype":"ID_HIGH_WATER","magic":0}                        {"maxId":N}: ids <= N are never reused
//
// ID_HIGH_WATER is Herald's own: it is written with every permanent
// delete, so that compaction removing the record of the highest id cannot
// make a restarted registry hand that id out again. Confluent's registry
// ignores key types it does not know.
//
// Part of the storage format; do not change.
const (
	keySchema        = "SCHEMA"
	keyConfig        = "CONFIG"
	keyMode          = "MODE"
	keyDeleteSubject = "DELETE_SUBJECT"
	keyClearSubject  = "CLEAR_SUBJECT"
	keyNoop          = "NOOP"
	keyIDHighWater   = "ID_HIGH_WATER"
)

// recordKey is a _schemas key. Field order is the JSON order, which must
// stay stable: compaction compares key bytes.
type recordKey struct {
	KeyType string  `json:"keytype"`
	Subject *string `json:"subject"`
	Version int     `json:"version,omitempty"`
	Magic   int     `json:"magic"`
}

type configValue struct {
	CompatibilityLevel string `json:"compatibilityLevel"`
}

type modeValue struct {
	Mode string `json:"mode"`
}

type deleteSubjectValue struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// entry is one record to write: key and value (nil value = tombstone).
type entry struct {
	key   recordKey
	value any
}

func subjectPtr(s string) *string {
	if s == "" {
		return nil // the global config and mode
	}
	return &s
}

func schemaEntry(v *version) entry {
	return entry{key: recordKey{KeyType: keySchema, Subject: &v.Subject, Version: v.Version, Magic: 1}, value: v}
}

func schemaTombstone(subject string, ver int) entry {
	return entry{key: recordKey{KeyType: keySchema, Subject: &subject, Version: ver, Magic: 1}}
}

func configEntry(subject, level string) entry {
	e := entry{key: recordKey{KeyType: keyConfig, Subject: subjectPtr(subject)}}
	if level != "" {
		e.value = configValue{CompatibilityLevel: level}
	}
	return e
}

func modeEntry(subject, mode string) entry {
	e := entry{key: recordKey{KeyType: keyMode, Subject: subjectPtr(subject)}}
	if mode != "" {
		e.value = modeValue{Mode: mode}
	}
	return e
}

type highWaterValue struct {
	MaxID int `json:"maxId"`
}

func highWaterEntry(maxID int) entry {
	return entry{key: recordKey{KeyType: keyIDHighWater}, value: highWaterValue{MaxID: maxID}}
}

func (e entry) record(topic string) (*kgo.Record, error) {
	k, err := json.Marshal(e.key)
	if err != nil {
		return nil, err
	}
	r := &kgo.Record{Topic: topic, Key: k, Partition: 0}
	if e.value != nil {
		if r.Value, err = json.Marshal(e.value); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// apply applies one _schemas record to st. Records it does not understand
// are skipped, so that a topic written by a newer registry still loads.
func (s *Server) applyRecord(st *state, key, value []byte) error {
	var k recordKey
	if err := json.Unmarshal(key, &k); err != nil {
		return fmt.Errorf("bad key %q: %w", key, err)
	}
	subject := ""
	if k.Subject != nil {
		subject = *k.Subject
	}
	switch k.KeyType {
	case keySchema:
		return s.applySchema(st, subject, k.Version, value)
	case keyConfig:
		return applySetting(st.configs, subject, value, func(b []byte) (string, error) {
			var c configValue
			err := json.Unmarshal(b, &c)
			return c.CompatibilityLevel, err
		})
	case keyMode:
		return applySetting(st.modes, subject, value, func(b []byte) (string, error) {
			var m modeValue
			err := json.Unmarshal(b, &m)
			return m.Mode, err
		})
	case keyDeleteSubject:
		return applyDeleteSubject(st, value)
	case keyIDHighWater:
		var h highWaterValue
		if value != nil && json.Unmarshal(value, &h) == nil && h.MaxID > st.maxID {
			st.maxID = h.MaxID
		}
	}
	return nil // NOOP, CLEAR_SUBJECT (we write tombstones instead) and the unknown
}

func (s *Server) applySchema(st *state, subject string, ver int, value []byte) error {
	if value == nil {
		st.removeVersion(subject, ver, s.canonicalOf)
		return nil
	}
	v := new(version)
	if err := json.Unmarshal(value, v); err != nil {
		return fmt.Errorf("bad schema value for %s/%d: %w", subject, ver, err)
	}
	st.putVersion(v, s.canonical(v.typ(), v.Schema))
	return nil
}

func applySetting(m map[string]string, subject string, value []byte, parse func([]byte) (string, error)) error {
	if value == nil {
		delete(m, subject)
		return nil
	}
	v, err := parse(value)
	if err != nil {
		return err
	}
	m[subject] = v
	return nil
}

func applyDeleteSubject(st *state, value []byte) error {
	var d deleteSubjectValue
	if err := json.Unmarshal(value, &d); err != nil {
		return err
	}
	for _, v := range st.subjects[d.Subject] {
		if v.Version <= d.Version {
			v.Deleted = true
		}
	}
	return nil
}

// ensureTopic creates the compacted single-partition topic if missing.
func ensureTopic(ctx context.Context, adm *kadm.Client, topic string) error {
	cfg := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	resp, err := adm.CreateTopic(ctx, 1, -1, cfg, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	tds, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return fmt.Errorf("describe topic %s: %w", topic, err)
	}
	if td, ok := tds[topic]; ok && td.Err == nil && len(td.Partitions) != 1 {
		return fmt.Errorf("topic %s has %d partitions; the registry needs exactly one", topic, len(td.Partitions))
	}
	return nil
}

// replay reads the topic from the start to its current end and applies
// every record to st. The end is marked by a NOOP record this call
// produces first (as Confluent's registry does): waiting for the high
// watermark instead could hang if the last records were compacted away.
// The NOOP is a tombstone, so compaction leaves nothing of it behind.
func (s *Server) replay(ctx context.Context, st *state) error {
	marker, err := entry{key: recordKey{KeyType: keyNoop}}.record(s.cfg.Topic)
	if err != nil {
		return err
	}
	if err := s.cl.ProduceSync(ctx, marker).FirstErr(); err != nil {
		return fmt.Errorf("write end marker to %s: %w", s.cfg.Topic, err)
	}
	rd, err := kgo.NewClient(append(s.cl.Opts(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.cfg.Topic: {0: kgo.NewOffset().AtStart()}}),
	)...)
	if err != nil {
		return err
	}
	defer rd.Close()
	return s.consumeTo(ctx, rd, st, marker.Offset+1)
}

func (s *Server) consumeTo(ctx context.Context, rd *kgo.Client, st *state, end int64) error {
	for {
		fs := rd.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read %s: %w", s.cfg.Topic, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return fmt.Errorf("read %s: %w", s.cfg.Topic, ferr)
		}
		done := false
		var aerr error
		fs.EachRecord(func(r *kgo.Record) {
			if err := s.applyRecord(st, r.Key, r.Value); err != nil && aerr == nil {
				aerr = fmt.Errorf("offset %d: %w", r.Offset, err)
			}
			if r.Offset >= end-1 {
				done = true
			}
		})
		if aerr != nil {
			s.cfg.Logger.Warn("registry: skipping bad _schemas record", "err", aerr)
		}
		if done {
			return nil
		}
	}
}

// commit produces entries with acks=all, waits for every ack, then
// applies the same records to the in-memory state. The caller holds
// writeMu, so no other write runs between its reads of the state and this.
//
// Read-your-writes by construction: this registry is the only writer of
// its topic (run one instance per topic), so applying what was just
// acknowledged gives the state a replay of the topic would give.
func (s *Server) commit(ctx context.Context, entries ...entry) error {
	recs := make([]*kgo.Record, 0, len(entries))
	for _, e := range entries {
		r, err := e.record(s.cfg.Topic)
		if err != nil {
			return err
		}
		recs = append(recs, r)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
	defer cancel()
	// The topic may have been deleted under us (Kafka allows that).
	// Asking first costs a metadata round trip per write, which are rare;
	// a produce to a missing topic would instead wait out the client's
	// unknown-topic retries.
	gone, err := s.topicGone(ctx)
	if err == nil && gone {
		err = s.recreateTopic(ctx)
	}
	if err == nil {
		err = s.cl.ProduceSync(ctx, recs...).FirstErr()
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(err, kerr.UnknownTopicID) {
		// Deleted between the check and the produce.
		if err = s.recreateTopic(ctx); err == nil {
			err = s.cl.ProduceSync(ctx, s.freshRecords(recs)...).FirstErr()
		}
	}
	if err != nil {
		return errStore(fmt.Errorf("write %s: %w", s.cfg.Topic, err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		if err := s.applyRecord(s.st, r.Key, r.Value); err != nil {
			return errStore(err)
		}
	}
	s.gen.Add(1)
	return nil
}

// recreateTopic creates the topic again after it was deleted and writes
// the whole state into it (every version with its deleted flag, every
// config and mode, the id high water), so that a restart reads back what
// this registry serves. The caller holds writeMu, so the state cannot
// change meanwhile.
func (s *Server) recreateTopic(ctx context.Context) error {
	s.cfg.Logger.Warn("registry: topic is gone; recreating it from memory", "topic", s.cfg.Topic)
	// The client still knows the deleted topic (its id, its partitions);
	// forget it so that the writes below look the new one up.
	s.cl.PurgeTopicsFromClient(s.cfg.Topic)
	if err := ensureTopic(ctx, kadm.NewClient(s.cl), s.cfg.Topic); err != nil {
		return err
	}
	s.mu.RLock()
	entries := s.st.entries()
	s.mu.RUnlock()
	recs := make([]*kgo.Record, 0, len(entries))
	for _, e := range entries {
		r, err := e.record(s.cfg.Topic)
		if err != nil {
			return err
		}
		recs = append(recs, r)
	}
	if err := s.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("rewrite recreated %s: %w", s.cfg.Topic, err)
	}
	s.cfg.Logger.Info("registry: topic recreated", "topic", s.cfg.Topic, "records", len(recs))
	return nil
}

// topicGone asks the cluster whether the topic still exists. It sends its
// own Metadata request: kadm's answers may come from the client's cache.
func (s *Server) topicGone(ctx context.Context) (bool, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(s.cfg.Topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, s.cl)
	if err != nil {
		return false, fmt.Errorf("describe topic %s: %w", s.cfg.Topic, err)
	}
	for _, t := range resp.Topics {
		if t.Topic != nil && *t.Topic == s.cfg.Topic {
			return t.ErrorCode == kerr.UnknownTopicOrPartition.Code, nil
		}
	}
	return true, nil
}

// entries is the state as records that replay to it: the id high water,
// then the versions in id order (so identical schemas keep sharing the
// first id), then configs and modes.
func (st *state) entries() []entry {
	var vs []*version
	for _, sv := range st.subjects {
		vs = append(vs, sv...)
	}
	sort.Slice(vs, func(i, j int) bool {
		if vs[i].ID != vs[j].ID {
			return vs[i].ID < vs[j].ID
		}
		return vs[i].Subject < vs[j].Subject || vs[i].Subject == vs[j].Subject && vs[i].Version < vs[j].Version
	})
	out := []entry{highWaterEntry(st.maxID)}
	for _, v := range vs {
		out = append(out, schemaEntry(v))
	}
	for subject, level := range st.configs {
		out = append(out, configEntry(subject, level))
	}
	for subject, mode := range st.modes {
		out = append(out, modeEntry(subject, mode))
	}
	return out
}

// freshRecords copies records for a second produce: a produced record
// carries its first attempt's offset and timestamp.
func (s *Server) freshRecords(recs []*kgo.Record) []*kgo.Record {
	out := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		out[i] = &kgo.Record{Topic: r.Topic, Partition: r.Partition, Key: r.Key, Value: r.Value}
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }
