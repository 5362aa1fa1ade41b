package broker

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	hlog "github.com/heraldhq/herald/internal/log"
)

// DurabilityConfig is Herald's topic config for the fsync policy: "always",
// "interval=<duration>" or "none" (see log.ParseDurability).
const DurabilityConfig = "herald.durability"

// SchemaValidationConfig is Herald's topic config that makes the broker
// reject records whose value does not carry a schema id registered for the
// topic's value subject (see SetSchemaValidator).
const SchemaValidationConfig = "herald.schema.validation"

// configDef describes one topic config: its Kafka type, default, check and
// documentation. Configs marked noEffect are accepted and stored so that
// tools which set them keep working, but Herald does not act on them.
type configDef struct {
	name     string
	typ      kmsg.ConfigType
	def      string // "" with brokerDefault: taken from the broker
	check    func(string) error
	doc      string
	noEffect bool
}

// topicConfigs is every topic config Herald accepts, sorted by name.
var topicConfigs = []configDef{
	{name: "cleanup.policy", typ: kmsg.ConfigTypeList, def: "delete", check: checkCleanupPolicy,
		doc: "delete: remove old segments by retention.ms and retention.bytes; compact: keep the last record per key."},
	{name: "compression.type", typ: kmsg.ConfigTypeString, def: "producer",
		check: oneOf("producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"),
		doc:   "Herald stores batches as the producer compressed them.", noEffect: true},
	{name: "delete.retention.ms", typ: kmsg.ConfigTypeLong, def: "86400000", check: longAtLeast(0),
		doc: "How long tombstones are kept on a compacted topic."},
	{name: "file.delete.delay.ms", typ: kmsg.ConfigTypeLong, def: "60000", check: longAtLeast(0), noEffect: true},
	{name: "flush.messages", typ: kmsg.ConfigTypeLong, def: "9223372036854775807", check: longAtLeast(1), noEffect: true,
		doc: "Use herald.durability."},
	{name: "flush.ms", typ: kmsg.ConfigTypeLong, def: "9223372036854775807", check: longAtLeast(0), noEffect: true,
		doc: "Use herald.durability."},
	{name: DurabilityConfig, typ: kmsg.ConfigTypeString, check: checkDurability,
		doc: "When acknowledged writes are fsynced: always (acks=all waits for fdatasync), interval=<duration>, or none."},
	{name: SchemaValidationConfig, typ: kmsg.ConfigTypeBoolean, def: "false", check: checkBool,
		doc: "Reject records whose value does not start with a schema id registered under <topic>-value (Confluent wire format)."},
	{name: "index.interval.bytes", typ: kmsg.ConfigTypeInt, def: "4096", check: intAtLeast(0),
		doc: "Bytes between entries of the sparse offset index."},
	{name: "local.retention.bytes", typ: kmsg.ConfigTypeLong, def: "-2", check: longAtLeast(-2), noEffect: true},
	{name: "local.retention.ms", typ: kmsg.ConfigTypeLong, def: "-2", check: longAtLeast(-2), noEffect: true},
	{name: "max.compaction.lag.ms", typ: kmsg.ConfigTypeLong, def: "9223372036854775807", check: longAtLeast(1), noEffect: true},
	{name: "max.message.bytes", typ: kmsg.ConfigTypeInt, def: "1048588", check: intAtLeast(0),
		doc: "The largest record batch the topic accepts."},
	{name: "message.downconversion.enable", typ: kmsg.ConfigTypeBoolean, def: "true", check: checkBool, noEffect: true},
	{name: "message.timestamp.after.max.ms", typ: kmsg.ConfigTypeLong, def: "9223372036854775807", check: longAtLeast(0), noEffect: true},
	{name: "message.timestamp.before.max.ms", typ: kmsg.ConfigTypeLong, def: "9223372036854775807", check: longAtLeast(0), noEffect: true},
	{name: "message.timestamp.difference.max.ms", typ: kmsg.ConfigTypeLong, def: "9223372036854775807", check: longAtLeast(0), noEffect: true},
	{name: "message.timestamp.type", typ: kmsg.ConfigTypeString, def: "CreateTime", check: oneOf("CreateTime", "LogAppendTime"),
		doc: "CreateTime keeps the producer's timestamps; LogAppendTime replaces them with the broker's clock."},
	{name: "min.cleanable.dirty.ratio", typ: kmsg.ConfigTypeDouble, def: "0.5", check: checkRatio, noEffect: true},
	{name: "min.compaction.lag.ms", typ: kmsg.ConfigTypeLong, def: "0", check: longAtLeast(0), noEffect: true},
	{name: "min.insync.replicas", typ: kmsg.ConfigTypeInt, def: "1", check: intAtLeast(1), noEffect: true,
		doc: "Herald is one broker: every write is in sync."},
	{name: "preallocate", typ: kmsg.ConfigTypeBoolean, def: "false", check: checkBool, noEffect: true},
	{name: "remote.storage.enable", typ: kmsg.ConfigTypeBoolean, def: "false", check: oneOf("false"), noEffect: true},
	{name: "retention.bytes", typ: kmsg.ConfigTypeLong, def: "-1", check: longAtLeast(-1),
		doc: "Largest size a partition keeps before old segments are deleted; -1 for no limit."},
	{name: "retention.ms", typ: kmsg.ConfigTypeLong, def: "604800000", check: longAtLeast(-1),
		doc: "How long records are kept before their segment is deleted; -1 for ever."},
	{name: "segment.bytes", typ: kmsg.ConfigTypeInt, def: "1073741824", check: intAtLeast(14),
		doc: "Size at which a partition rolls to a new segment."},
	{name: "segment.index.bytes", typ: kmsg.ConfigTypeInt, def: "10485760", check: intAtLeast(4), noEffect: true},
	{name: "segment.jitter.ms", typ: kmsg.ConfigTypeLong, def: "0", check: longAtLeast(0), noEffect: true},
	{name: "segment.ms", typ: kmsg.ConfigTypeLong, def: "604800000", check: longAtLeast(1),
		doc: "Age at which a partition rolls to a new segment."},
	{name: "unclean.leader.election.enable", typ: kmsg.ConfigTypeBoolean, def: "false", check: checkBool, noEffect: true},
}

func findConfig(name string) (*configDef, bool) {
	i, ok := slices.BinarySearchFunc(topicConfigs, name, func(d configDef, n string) int {
		return strings.Compare(d.name, n)
	})
	if !ok {
		return nil, false
	}
	return &topicConfigs[i], true
}

// validateConfigs is ValidateConfigs plus the storage engine's own check
// of the config the values make.
func (b *Broker) validateConfigs(configs map[string]string) error {
	if err := ValidateConfigs(configs); err != nil {
		return err
	}
	if err := b.logConfig(configs).Validate(); err != nil {
		return kafkaErr(kerr.InvalidConfig, err.Error())
	}
	return nil
}

// ValidateConfigs checks every name and value; the error is INVALID_CONFIG
// naming the first problem.
func ValidateConfigs(configs map[string]string) error {
	names := make([]string, 0, len(configs))
	for k := range configs {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if err := ValidateConfig(k, configs[k]); err != nil {
			return err
		}
	}
	return nil
}

// ValidateConfig checks one topic config.
func ValidateConfig(name, value string) error {
	d, ok := findConfig(name)
	if !ok {
		return kafkaErr(kerr.InvalidConfig, fmt.Sprintf("unknown topic config %q", name))
	}
	if err := d.check(value); err != nil {
		return kafkaErr(kerr.InvalidConfig, fmt.Sprintf("invalid value %q for %s: %v", value, name, err))
	}
	return nil
}

// IsListConfig reports whether name is a list-typed config (for APPEND and
// SUBTRACT in IncrementalAlterConfigs).
func IsListConfig(name string) bool {
	d, ok := findConfig(name)
	return ok && d.typ == kmsg.ConfigTypeList
}

// ConfigEntry is one config as DescribeConfigs reports it.
type ConfigEntry struct {
	Name   string
	Value  string
	Source kmsg.ConfigSource
	Type   kmsg.ConfigType
	Doc    string
	// ReadOnly marks a broker config that cannot be altered.
	ReadOnly bool
	// Synonyms are the sources that have a value for the config,
	// highest precedence first (DescribeConfigs IncludeSynonyms); nil
	// when the entry is its only source.
	Synonyms []ConfigSynonym
}

// ConfigSynonym is one source's value for a config.
type ConfigSynonym struct {
	Name   string
	Value  string
	Source kmsg.ConfigSource
}

// describeTopicConfigs merges set over defaults, sorted by name.
func (b *Broker) describeTopicConfigs(set map[string]string) []ConfigEntry {
	out := make([]ConfigEntry, 0, len(topicConfigs))
	for i := range topicConfigs {
		d := &topicConfigs[i]
		e := ConfigEntry{Name: d.name, Value: b.configDefault(d), Source: kmsg.ConfigSourceDefaultConfig, Type: d.typ, Doc: d.doc}
		if d.name == DurabilityConfig {
			e.Source = kmsg.ConfigSourceStaticBrokerConfig
		}
		if _, src, ok := b.topicDefault(d.name); ok {
			e.Source = src
		}
		if v, ok := set[d.name]; ok {
			e.Value, e.Source = v, kmsg.ConfigSourceDynamicTopicConfig
		}
		out = append(out, e)
	}
	return out
}

func (b *Broker) configDefault(d *configDef) string {
	if d.name == DurabilityConfig {
		return b.durability.String()
	}
	if v, _, ok := b.topicDefault(d.name); ok {
		return v
	}
	return d.def
}

// settings are the parsed configs the broker acts on per produce request.
type settings struct {
	maxMessageBytes int
	logAppendTime   bool
	always          bool // herald.durability is always: acks=-1 waits for fsync
	schemas         bool // herald.schema.validation
	compact         bool // cleanup.policy has compact: every record needs a key
}

// parseSettings and logConfig read configs that ValidateConfigs accepted,
// so parse errors cannot happen and fall back to defaults.
func (b *Broker) parseSettings(c map[string]string) settings {
	s := settings{maxMessageBytes: int(b.topicDefaultInt("max.message.bytes", 1048588)), always: b.logConfig(c).Durability.Always}
	if v, ok := c["max.message.bytes"]; ok {
		s.maxMessageBytes, _ = strconv.Atoi(v)
	}
	s.logAppendTime = c["message.timestamp.type"] == "LogAppendTime"
	s.schemas = c[SchemaValidationConfig] == "true"
	s.compact = b.logConfig(c).Compact
	return s
}

// logConfig turns topic configs into the storage engine's config.
func (b *Broker) logConfig(c map[string]string) hlog.Config {
	cfg := hlog.DefaultConfig()
	cfg.Durability = b.durability
	if v, ok := c[DurabilityConfig]; ok {
		cfg.Durability, _ = hlog.ParseDurability(v)
	}
	cfg.SegmentBytes = configInt(c, "segment.bytes", 1<<30)
	cfg.SegmentAge = time.Duration(configInt(c, "segment.ms", 604800000)) * time.Millisecond
	cfg.RetentionMs = configInt(c, "retention.ms", b.topicDefaultInt("retention.ms", 604800000))
	cfg.RetentionBytes = configInt(c, "retention.bytes", b.topicDefaultInt("retention.bytes", -1))
	cfg.DeleteRetentionMs = configInt(c, "delete.retention.ms", 86400000)
	// Kafka allows 0 (index every batch); the log wants at least 1.
	cfg.IndexIntervalBytes = max(int(configInt(c, "index.interval.bytes", 4096)), 1)
	policy := "delete"
	if v, ok := c["cleanup.policy"]; ok {
		policy = v
	}
	cfg.Compact = strings.Contains(policy, "compact")
	cfg.Delete = strings.Contains(policy, "delete")
	return cfg
}

// topicDefaultInt is the broker's default of a topic config (a dynamic
// broker config), or def.
func (b *Broker) topicDefaultInt(name string, def int64) int64 {
	v, _, ok := b.topicDefault(name)
	if !ok {
		return def
	}
	return configInt(map[string]string{name: v}, name, def)
}

func configInt(c map[string]string, name string, def int64) int64 {
	v, ok := c[name]
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return def
	}
	return n
}

func checkCleanupPolicy(v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("empty policy")
	}
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "delete" && p != "compact" {
			return fmt.Errorf("%q is not delete or compact", p)
		}
	}
	return nil
}

func checkDurability(v string) error {
	_, err := hlog.ParseDurability(v)
	return err
}

func checkBool(v string) error {
	if v != "true" && v != "false" {
		return fmt.Errorf("not true or false")
	}
	return nil
}

func checkRatio(v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1 {
		return fmt.Errorf("not a number between 0 and 1")
	}
	return nil
}

func oneOf(vals ...string) func(string) error {
	return func(v string) error {
		if !slices.Contains(vals, v) {
			return fmt.Errorf("must be one of %s", strings.Join(vals, ", "))
		}
		return nil
	}
}

func longAtLeast(lo int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("not a 64-bit integer")
		}
		if n < lo {
			return fmt.Errorf("below the minimum %d", lo)
		}
		return nil
	}
}

func intAtLeast(lo int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return fmt.Errorf("not a 32-bit integer")
		}
		if n < lo {
			return fmt.Errorf("below the minimum %d", lo)
		}
		return nil
	}
}

// ConfigOp is one IncrementalAlterConfigs operation.
type ConfigOp struct {
	Name  string
	Op    kmsg.IncrementalAlterConfigOp
	Value *string
}

// IncrementalAlterConfigs applies ops to t's configs: SET, DELETE (back to
// the default), and APPEND and SUBTRACT on list configs, starting from the
// current value (the default when unset).
func (b *Broker) IncrementalAlterConfigs(t *Topic, ops []ConfigOp, validateOnly bool) error {
	configs := t.Configs()
	if configs == nil {
		configs = map[string]string{}
	}
	seen := map[string]bool{}
	for _, op := range ops {
		if seen[op.Name] {
			return kafkaErr(kerr.InvalidRequest, fmt.Sprintf("config %q appears more than once", op.Name))
		}
		seen[op.Name] = true
		if err := b.applyConfigOp(configs, op); err != nil {
			return err
		}
	}
	return b.SetTopicConfigs(t, configs, validateOnly)
}

func (b *Broker) applyConfigOp(configs map[string]string, op ConfigOp) error {
	d, ok := findConfig(op.Name)
	if !ok {
		return kafkaErr(kerr.InvalidConfig, fmt.Sprintf("unknown topic config %q", op.Name))
	}
	value := ""
	if op.Value != nil {
		value = *op.Value
	}
	switch op.Op {
	case kmsg.IncrementalAlterConfigOpSet:
		configs[op.Name] = value
	case kmsg.IncrementalAlterConfigOpDelete:
		delete(configs, op.Name)
	case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
		if d.typ != kmsg.ConfigTypeList {
			return kafkaErr(kerr.InvalidConfig, fmt.Sprintf("config %q is not a list; APPEND and SUBTRACT need one", op.Name))
		}
		cur, ok := configs[op.Name]
		if !ok {
			cur = b.configDefault(d)
		}
		configs[op.Name] = editList(cur, value, op.Op == kmsg.IncrementalAlterConfigOpAppend)
	default:
		return kafkaErr(kerr.InvalidRequest, fmt.Sprintf("unknown config operation %d", op.Op))
	}
	return nil
}

// editList appends the items of change missing from cur, or removes them.
func editList(cur, change string, add bool) string {
	var items []string
	for _, s := range strings.Split(cur, ",") {
		if s = strings.TrimSpace(s); s != "" {
			items = append(items, s)
		}
	}
	for _, s := range strings.Split(change, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		i := slices.Index(items, s)
		switch {
		case add && i < 0:
			items = append(items, s)
		case !add && i >= 0:
			items = slices.Delete(items, i, i+1)
		}
	}
	return strings.Join(items, ",")
}
