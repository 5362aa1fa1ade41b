package broker

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/buildinfo"
	"github.com/heraldhq/herald/internal/metadata"
)

// Dynamic broker configs, as Kafka's AlterConfigs and
// IncrementalAlterConfigs set them on a BROKER resource: a value set for
// this node (scope = its node id, DYNAMIC_BROKER_CONFIG) wins over one
// set for the cluster default (scope "", DYNAMIC_DEFAULT_BROKER_CONFIG),
// which wins over the `herald serve` flag (STATIC_BROKER_CONFIG) or
// Kafka's default (DEFAULT_CONFIG). Each scope is one set_broker_configs
// record of the metadata log, replayed at Open; a change takes effect for
// the next request that reads it. log.retention.ms, log.retention.bytes
// and message.max.bytes are the defaults of topics without their own
// value: a change re-applies every topic's log config and settings
// (under adminMu, taken under dynMu).
//
// Only the configs in dynamicConfigs can be altered; the others that
// DescribeBrokerConfigs lists are read-only, and an unknown name is
// refused, both with INVALID_CONFIG as Kafka does.

// dynamicDef is one broker config that can change without a restart.
type dynamicDef struct {
	name   string
	typ    kmsg.ConfigType
	check  func(string) error
	doc    string
	static func(*Broker) string // the value from Config (flags), or Kafka's default
	// topic is the topic config this one is the default of ("" for
	// none): topics without their own value follow it (topicDefault).
	topic string
	// fallback is the source of static: STATIC_BROKER_CONFIG for a
	// flag, DEFAULT_CONFIG for a value Herald has no flag for.
	fallback kmsg.ConfigSource
}

// dynamicConfigs is every dynamic broker config, sorted by name.
var dynamicConfigs = []dynamicDef{
	{name: "auto.create.topics.enable", typ: kmsg.ConfigTypeBoolean, check: checkBool,
		doc:      "Metadata and Produce requests create unknown topics.",
		static:   func(b *Broker) string { return strconv.FormatBool(b.cfg.AutoCreateTopics) },
		fallback: kmsg.ConfigSourceStaticBrokerConfig},
	{name: "log.retention.bytes", typ: kmsg.ConfigTypeLong, check: longAtLeast(-1),
		doc:    "retention.bytes of topics without their own.",
		static: constant("-1"), topic: "retention.bytes", fallback: kmsg.ConfigSourceDefaultConfig},
	{name: "log.retention.ms", typ: kmsg.ConfigTypeLong, check: longAtLeast(-1),
		doc:    "retention.ms of topics without their own.",
		static: constant("604800000"), topic: "retention.ms", fallback: kmsg.ConfigSourceDefaultConfig},
	{name: "message.max.bytes", typ: kmsg.ConfigTypeInt, check: intAtLeast(0),
		doc:    "max.message.bytes of topics without their own.",
		static: constant("1048588"), topic: "max.message.bytes", fallback: kmsg.ConfigSourceDefaultConfig},
	{name: "num.partitions", typ: kmsg.ConfigTypeInt, check: intBetween(1, MaxPartitions),
		doc:      "Partitions of auto-created topics and of CreateTopics with -1.",
		static:   func(b *Broker) string { return strconv.Itoa(int(b.cfg.DefaultPartitions)) },
		fallback: kmsg.ConfigSourceStaticBrokerConfig},
}

func constant(v string) func(*Broker) string { return func(*Broker) string { return v } }

// topicDefault returns the broker-level default of a topic config and
// its source, when a dynamic broker config provides it.
func (b *Broker) topicDefault(topicConfig string) (string, kmsg.ConfigSource, bool) {
	for i := range dynamicConfigs {
		if d := &dynamicConfigs[i]; d.topic == topicConfig {
			v, src := b.resolveDynamic(b.dyn.Load().scopes, d.name)
			return v, src, true
		}
	}
	return "", 0, false
}

func findDynamic(name string) (*dynamicDef, bool) {
	i, ok := slices.BinarySearchFunc(dynamicConfigs, name, func(d dynamicDef, n string) int {
		return strings.Compare(d.name, n)
	})
	if !ok {
		return nil, false
	}
	return &dynamicConfigs[i], true
}

// dynamicState is the dynamic configs by scope and what they resolve to;
// immutable once published in Broker.dyn.
type dynamicState struct {
	scopes     map[string]map[string]string
	autoCreate bool
	partitions int32
}

// setDynamic publishes the state scopes make.
func (b *Broker) setDynamic(scopes map[string]map[string]string) {
	d := &dynamicState{scopes: scopes}
	d.autoCreate, _ = strconv.ParseBool(b.dynamicValue(scopes, "auto.create.topics.enable"))
	n, _ := strconv.Atoi(b.dynamicValue(scopes, "num.partitions"))
	d.partitions = int32(n)
	b.dyn.Store(d)
}

// dynamicValue resolves name: node scope, cluster default, then static.
func (b *Broker) dynamicValue(scopes map[string]map[string]string, name string) string {
	v, _ := b.resolveDynamic(scopes, name)
	return v
}

func (b *Broker) resolveDynamic(scopes map[string]map[string]string, name string) (string, kmsg.ConfigSource) {
	if v, ok := scopes[b.nodeScope()][name]; ok {
		return v, kmsg.ConfigSourceDynamicBrokerConfig
	}
	if v, ok := scopes[""][name]; ok {
		return v, kmsg.ConfigSourceDynamicDefaultBrokerConfig
	}
	d, _ := findDynamic(name)
	return d.static(b), d.fallback
}

func (b *Broker) nodeScope() string { return strconv.Itoa(int(b.cfg.NodeID)) }

// AutoCreateTopics reports whether unknown topics are created on use
// (auto.create.topics.enable).
func (b *Broker) AutoCreateTopics() bool { return b.dyn.Load().autoCreate }

// defaultPartitions is num.partitions.
func (b *Broker) defaultPartitions() int32 { return b.dyn.Load().partitions }

// checkScope accepts "" (the cluster default) and this node's id.
func (b *Broker) checkScope(scope string) error {
	if scope == "" || scope == b.nodeScope() {
		return nil
	}
	return kafkaErr(kerr.InvalidRequest, fmt.Sprintf("unknown broker %q", scope))
}

// AlterBrokerConfigs replaces the dynamic configs of scope ("" for the
// cluster default, or this node's id) with configs (AlterConfigs: names
// left out return to the next source). On error nothing changed.
func (b *Broker) AlterBrokerConfigs(scope string, configs map[string]string, validateOnly bool) error {
	return b.editBrokerConfigs(scope, validateOnly, func(map[string]string) (map[string]string, error) {
		return maps.Clone(configs), nil
	})
}

// IncrementalAlterBrokerConfigs applies SET and DELETE ops to the
// dynamic configs of scope; no dynamic broker config is a list, so
// APPEND and SUBTRACT are refused. On error nothing changed.
func (b *Broker) IncrementalAlterBrokerConfigs(scope string, ops []ConfigOp, validateOnly bool) error {
	return b.editBrokerConfigs(scope, validateOnly, func(cur map[string]string) (map[string]string, error) {
		next := maps.Clone(cur)
		if next == nil {
			next = map[string]string{}
		}
		seen := map[string]bool{}
		for _, op := range ops {
			if seen[op.Name] {
				return nil, kafkaErr(kerr.InvalidRequest, fmt.Sprintf("config %q appears more than once", op.Name))
			}
			seen[op.Name] = true
			if err := checkDynamicName(op.Name); err != nil {
				return nil, err
			}
			switch op.Op {
			case kmsg.IncrementalAlterConfigOpSet:
				next[op.Name] = deref(op.Value)
			case kmsg.IncrementalAlterConfigOpDelete:
				delete(next, op.Name)
			case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
				return nil, kafkaErr(kerr.InvalidConfig, fmt.Sprintf("config %q is not a list; APPEND and SUBTRACT need one", op.Name))
			default:
				return nil, kafkaErr(kerr.InvalidRequest, fmt.Sprintf("unknown config operation %d", op.Op))
			}
		}
		return next, nil
	})
}

// editBrokerConfigs validates the scope's next configs, appends them to
// the metadata log (fsynced) and publishes them, under dynMu.
func (b *Broker) editBrokerConfigs(scope string, validateOnly bool, edit func(map[string]string) (map[string]string, error)) error {
	if err := b.checkScope(scope); err != nil {
		return err
	}
	b.dynMu.Lock()
	defer b.dynMu.Unlock()
	cur := b.dyn.Load().scopes
	next, err := edit(cur[scope])
	if err != nil {
		return err
	}
	if err := validateDynamic(next); err != nil {
		return err
	}
	if validateOnly || maps.Equal(next, cur[scope]) {
		return nil
	}
	rec := metadata.Record{Type: metadata.SetBrokerConfigs, BrokerConfigs: &metadata.BrokerConfigs{Scope: scope, Configs: next}}
	if err := b.meta.Append(rec); err != nil {
		return err
	}
	scopes := make(map[string]map[string]string, len(cur)+1)
	maps.Copy(scopes, cur)
	if len(next) == 0 {
		delete(scopes, scope)
	} else {
		scopes[scope] = next
	}
	b.setDynamic(scopes)
	if touchesTopicDefaults(cur[scope], next) {
		b.reapplyTopicConfigs()
	}
	return nil
}

// touchesTopicDefaults reports whether a change from cur to next alters a
// config that topics inherit.
func touchesTopicDefaults(cur, next map[string]string) bool {
	for i := range dynamicConfigs {
		d := &dynamicConfigs[i]
		if d.topic == "" {
			continue
		}
		a, aok := cur[d.name]
		c, cok := next[d.name]
		if a != c || aok != cok {
			return true
		}
	}
	return false
}

// reapplyTopicConfigs gives every partition the log config, and every
// topic the settings, that its configs now make with the broker's
// defaults. It takes adminMu (under dynMu). A partition that fails keeps
// its old config until the next Open; the error is logged.
func (b *Broker) reapplyTopicConfigs() {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	for _, t := range b.topics.Load().byName {
		b.reapplyTopicLocked(t)
	}
}

// reapplyTopicLocked applies t's configs with the current broker defaults
// to its partitions and settings. adminMu must be held.
func (b *Broker) reapplyTopicLocked(t *Topic) {
	st := t.state.Load()
	lc := b.logConfig(st.configs)
	for _, p := range st.parts {
		if err := p.log.SetConfig(lc); err != nil {
			b.logger.Error("apply broker default configs", "topic", t.Name, "partition", p.Index, "err", err)
		}
	}
	t.state.Store(&topicState{parts: st.parts, configs: st.configs, settings: b.parseSettings(st.configs)})
}

// validateDynamic checks every name and value, in name order.
func validateDynamic(configs map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		if err := checkDynamicName(k); err != nil {
			return err
		}
		d, _ := findDynamic(k)
		if err := d.check(configs[k]); err != nil {
			return kafkaErr(kerr.InvalidConfig, fmt.Sprintf("invalid value %q for %s: %v", configs[k], k, err))
		}
	}
	return nil
}

// checkDynamicName refuses read-only and unknown broker configs.
func checkDynamicName(name string) error {
	if _, ok := findDynamic(name); ok {
		return nil
	}
	if slices.Contains(staticBrokerConfigs, name) {
		return kafkaErr(kerr.InvalidConfig, fmt.Sprintf("broker config %q is read-only: it is set by herald serve flags and cannot be updated dynamically", name))
	}
	return kafkaErr(kerr.InvalidConfig, fmt.Sprintf("unknown broker config %q, or one Herald cannot update dynamically", name))
}

// staticBrokerConfigs are the read-only configs DescribeBrokerConfigs lists.
var staticBrokerConfigs = []string{"broker.id", buildinfo.ConfigName, DurabilityConfig, "log.dirs", "node.id"}

// DescribeBrokerConfigs lists the broker-level settings sorted by name,
// each with its source and, for dynamic configs, its synonyms (every
// source that has a value, highest precedence first). Configs that are
// not dynamic are read-only.
func (b *Broker) DescribeBrokerConfigs() []ConfigEntry {
	src := kmsg.ConfigSourceStaticBrokerConfig
	id := strconv.Itoa(int(b.cfg.NodeID))
	out := []ConfigEntry{
		{Name: "broker.id", Value: id, Source: src, Type: kmsg.ConfigTypeInt, ReadOnly: true},
		{Name: buildinfo.ConfigName, Value: buildinfo.Read().Software(), Source: src, Type: kmsg.ConfigTypeString, ReadOnly: true,
			Doc: "the Herald version this broker runs (read-only; the Kafka protocol has no server-version field)"},
		{Name: DurabilityConfig, Value: b.durability.String(), Source: src, Type: kmsg.ConfigTypeString, ReadOnly: true},
		{Name: "log.dirs", Value: b.cfg.DataDir, Source: src, Type: kmsg.ConfigTypeString, ReadOnly: true},
		{Name: "node.id", Value: id, Source: src, Type: kmsg.ConfigTypeInt, ReadOnly: true},
	}
	scopes := b.dyn.Load().scopes
	for i := range dynamicConfigs {
		out = append(out, b.describeDynamic(scopes, &dynamicConfigs[i]))
	}
	slices.SortFunc(out, func(x, y ConfigEntry) int { return strings.Compare(x.Name, y.Name) })
	return out
}

func (b *Broker) describeDynamic(scopes map[string]map[string]string, d *dynamicDef) ConfigEntry {
	e := ConfigEntry{Name: d.name, Type: d.typ, Doc: d.doc}
	e.Value, e.Source = b.resolveDynamic(scopes, d.name)
	if v, ok := scopes[b.nodeScope()][d.name]; ok {
		e.Synonyms = append(e.Synonyms, ConfigSynonym{Name: d.name, Value: v, Source: kmsg.ConfigSourceDynamicBrokerConfig})
	}
	if v, ok := scopes[""][d.name]; ok {
		e.Synonyms = append(e.Synonyms, ConfigSynonym{Name: d.name, Value: v, Source: kmsg.ConfigSourceDynamicDefaultBrokerConfig})
	}
	e.Synonyms = append(e.Synonyms, ConfigSynonym{Name: d.name, Value: d.static(b), Source: d.fallback})
	return e
}

func intBetween(lo, hi int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return fmt.Errorf("not a 32-bit integer")
		}
		if n < lo || n > hi {
			return fmt.Errorf("not between %d and %d", lo, hi)
		}
		return nil
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
