package broker

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/metadata"
)

// Consumer group configs (KIP-848, Kafka 4.0): AlterConfigs and
// IncrementalAlterConfigs on a GROUP resource set a consumer group's
// session timeout and heartbeat interval, which the group coordinator
// reads (ConsumerGroupTimeouts) at each new heartbeat. Each group's set is
// one set_group_configs record of the metadata log, replayed at Open.
// Values must lie within the broker's bounds, Kafka's
// group.consumer.{min,max}.{session.timeout,heartbeat.interval}.ms
// (45s-60s, 5s-15s), widened to take in Config's defaults, and the
// heartbeat interval must be below the session timeout.

// Consumer group config names.
const (
	ConsumerSessionConfig   = "consumer.session.timeout.ms"
	ConsumerHeartbeatConfig = "consumer.heartbeat.interval.ms"
)

// IsConsumerGroupConfig reports whether name is a consumer group config
// (the others of a GROUP resource belong to share groups).
func IsConsumerGroupConfig(name string) bool {
	return name == ConsumerSessionConfig || name == ConsumerHeartbeatConfig
}

// groupBounds returns the allowed range of a consumer group config.
func (b *Broker) groupBounds(name string) (lo, hi time.Duration) {
	if name == ConsumerSessionConfig {
		return min(45*time.Second, b.cfg.ConsumerSession), max(60*time.Second, b.cfg.ConsumerSession)
	}
	return min(5*time.Second, b.cfg.ConsumerHeartbeat), max(15*time.Second, b.cfg.ConsumerHeartbeat)
}

func (b *Broker) groupDefault(name string) time.Duration {
	if name == ConsumerSessionConfig {
		return b.cfg.ConsumerSession
	}
	return b.cfg.ConsumerHeartbeat
}

// groupValue is the group's value of name, or the broker's default.
func (b *Broker) groupValue(set map[string]string, name string) time.Duration {
	if v, ok := set[name]; ok {
		n, _ := strconv.ParseInt(v, 10, 32)
		return time.Duration(n) * time.Millisecond
	}
	return b.groupDefault(name)
}

// ConsumerGroupTimeouts returns the session timeout and heartbeat
// interval of a consumer group: its configs, else the broker's defaults.
// It takes no lock.
func (b *Broker) ConsumerGroupTimeouts(group string) (session, heartbeat time.Duration) {
	set := (*b.groupCfg.Load())[group]
	return b.groupValue(set, ConsumerSessionConfig), b.groupValue(set, ConsumerHeartbeatConfig)
}

// DescribeGroupConfigs lists a group's consumer configs: set on the
// group (GROUP_CONFIG) or the broker's default (DEFAULT_CONFIG).
func (b *Broker) DescribeGroupConfigs(group string) []ConfigEntry {
	set := (*b.groupCfg.Load())[group]
	var out []ConfigEntry
	for _, name := range []string{ConsumerHeartbeatConfig, ConsumerSessionConfig} {
		e := ConfigEntry{Name: name, Value: strconv.FormatInt(b.groupDefault(name).Milliseconds(), 10),
			Source: kmsg.ConfigSourceDefaultConfig, Type: kmsg.ConfigTypeInt}
		if v, ok := set[name]; ok {
			e.Value, e.Source = v, kmsg.ConfigSourceGroupConfig
		}
		out = append(out, e)
	}
	return out
}

// AlterGroupConfigs replaces a consumer group's configs (names left out
// return to the broker's default). On error nothing changed.
func (b *Broker) AlterGroupConfigs(group string, configs map[string]string, validateOnly bool) error {
	return b.editGroupConfigs(group, validateOnly, func(map[string]string) (map[string]string, error) {
		return maps.Clone(configs), nil
	})
}

// IncrementalAlterGroupConfigs applies SET and DELETE ops to a consumer
// group's configs. On error nothing changed.
func (b *Broker) IncrementalAlterGroupConfigs(group string, ops []ConfigOp, validateOnly bool) error {
	return b.editGroupConfigs(group, validateOnly, func(cur map[string]string) (map[string]string, error) {
		next := maps.Clone(cur)
		if next == nil {
			next = map[string]string{}
		}
		for _, op := range ops {
			switch op.Op {
			case kmsg.IncrementalAlterConfigOpSet:
				next[op.Name] = deref(op.Value)
			case kmsg.IncrementalAlterConfigOpDelete:
				delete(next, op.Name)
			default:
				return nil, kafkaErr(kerr.InvalidConfig, fmt.Sprintf("config %q is not a list; only SET and DELETE apply", op.Name))
			}
		}
		return next, nil
	})
}

func (b *Broker) editGroupConfigs(group string, validateOnly bool, edit func(map[string]string) (map[string]string, error)) error {
	if group == "" {
		return kafkaErr(kerr.InvalidRequest, "group configs need a group name")
	}
	b.dynMu.Lock()
	defer b.dynMu.Unlock()
	cur := *b.groupCfg.Load()
	next, err := edit(cur[group])
	if err != nil {
		return err
	}
	if err := b.validateGroupConfigs(next); err != nil {
		return err
	}
	if validateOnly || maps.Equal(next, cur[group]) {
		return nil // nothing to write: AlterConfigs of share configs only
	}
	rec := metadata.Record{Type: metadata.SetGroupConfigs, GroupConfigs: &metadata.GroupConfigs{Group: group, Configs: next}}
	if err := b.meta.Append(rec); err != nil {
		return err
	}
	all := maps.Clone(cur)
	if all == nil {
		all = map[string]map[string]string{}
	}
	if len(next) == 0 {
		delete(all, group)
	} else {
		all[group] = next
	}
	b.groupCfg.Store(&all)
	return nil
}

// validateGroupConfigs checks names, values against the bounds, and
// that the heartbeat interval is below the session timeout.
func (b *Broker) validateGroupConfigs(c map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(c)) {
		if !IsConsumerGroupConfig(k) {
			return kafkaErr(kerr.InvalidConfig, fmt.Sprintf("unknown group config %q", k))
		}
		lo, hi := b.groupBounds(k)
		n, err := strconv.ParseInt(strings.TrimSpace(c[k]), 10, 32)
		if err != nil || n < lo.Milliseconds() || n > hi.Milliseconds() {
			return kafkaErr(kerr.InvalidConfig, fmt.Sprintf("invalid value %q for %s: must be an integer between %d and %d", c[k], k, lo.Milliseconds(), hi.Milliseconds()))
		}
	}
	if s, h := b.groupValue(c, ConsumerSessionConfig), b.groupValue(c, ConsumerHeartbeatConfig); h >= s {
		return kafkaErr(kerr.InvalidConfig, fmt.Sprintf("%s (%d) must be below %s (%d)", ConsumerHeartbeatConfig, h.Milliseconds(), ConsumerSessionConfig, s.Milliseconds()))
	}
	return nil
}
