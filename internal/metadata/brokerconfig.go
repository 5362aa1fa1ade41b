package metadata

import (
	"maps"
	"slices"
)

// SetBrokerConfigs is the dynamic broker config record type: its
// Record.BrokerConfigs replaces the configs of one scope (an empty
// Configs removes the scope). Part of the file format; do not change.
const SetBrokerConfigs = "set_broker_configs"

// BrokerConfigs is the dynamic broker configs of one scope, as Kafka's
// AlterConfigs on a BROKER resource sets them: Scope is "" for the
// cluster-wide default (DYNAMIC_DEFAULT_BROKER_CONFIG) or a node id in
// decimal for that broker (DYNAMIC_BROKER_CONFIG). internal/broker gives
// the names meaning. The JSON names are part of the file format; do not
// change.
type BrokerConfigs struct {
	Scope   string            `json:"scope"`
	Configs map[string]string `json:"configs,omitempty"` // "num.partitions": "3", ...
}

// applyBrokerConfigs applies a set_broker_configs record to
// s.BrokerConfigs, which holds no empty scope.
func (s *State) applyBrokerConfigs(r Record) {
	if r.BrokerConfigs == nil {
		return
	}
	if len(r.BrokerConfigs.Configs) == 0 {
		delete(s.BrokerConfigs, r.BrokerConfigs.Scope)
		return
	}
	if s.BrokerConfigs == nil {
		s.BrokerConfigs = make(map[string]map[string]string)
	}
	s.BrokerConfigs[r.BrokerConfigs.Scope] = maps.Clone(r.BrokerConfigs.Configs)
}

// brokerConfigsSorted returns every scope, sorted by scope.
func (s *State) brokerConfigsSorted() []BrokerConfigs {
	out := make([]BrokerConfigs, 0, len(s.BrokerConfigs))
	for _, scope := range slices.Sorted(maps.Keys(s.BrokerConfigs)) {
		out = append(out, BrokerConfigs{Scope: scope, Configs: s.BrokerConfigs[scope]})
	}
	return out
}

func cloneBrokerConfigs(m map[string]map[string]string) map[string]map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]map[string]string, len(m))
	for k, v := range m {
		out[k] = maps.Clone(v)
	}
	return out
}

func equalBrokerConfigs(a, b map[string]map[string]string) bool {
	return maps.EqualFunc(a, b, func(x, y map[string]string) bool { return maps.Equal(x, y) })
}

// BrokerConfigs returns a copy of the dynamic broker configs the log
// holds, by scope.
func (l *Log) BrokerConfigs() map[string]map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return cloneBrokerConfigs(l.mu.st.BrokerConfigs)
}
