package metadata

import (
	"maps"
	"slices"
)

// SetGroupConfigs is the consumer group config record type: its
// Record.GroupConfigs replaces the configs of one group (an empty Configs
// removes them). Part of the file format; do not change.
const SetGroupConfigs = "set_group_configs"

// GroupConfigs is the configs set on one consumer group, as Kafka's
// AlterConfigs on a GROUP resource sets them (KIP-848:
// consumer.session.timeout.ms, consumer.heartbeat.interval.ms). They are
// kept here, not with the group's state, because a group may be
// configured before it has members or offsets, as in Kafka (whose
// controller keeps them as config records). Share group configs live in
// internal/share. The JSON names are part of the file format; do not
// change.
type GroupConfigs struct {
	Group   string            `json:"group"`
	Configs map[string]string `json:"configs,omitempty"`
}

// applyGroupConfigs applies a set_group_configs record to s.GroupConfigs,
// which holds no empty group.
func (s *State) applyGroupConfigs(r Record) {
	if r.GroupConfigs == nil {
		return
	}
	if len(r.GroupConfigs.Configs) == 0 {
		delete(s.GroupConfigs, r.GroupConfigs.Group)
		return
	}
	if s.GroupConfigs == nil {
		s.GroupConfigs = make(map[string]map[string]string)
	}
	s.GroupConfigs[r.GroupConfigs.Group] = maps.Clone(r.GroupConfigs.Configs)
}

// groupConfigsSorted returns every group's configs, sorted by group.
func (s *State) groupConfigsSorted() []GroupConfigs {
	out := make([]GroupConfigs, 0, len(s.GroupConfigs))
	for _, g := range slices.Sorted(maps.Keys(s.GroupConfigs)) {
		out = append(out, GroupConfigs{Group: g, Configs: s.GroupConfigs[g]})
	}
	return out
}

// GroupConfigs returns a copy of the consumer group configs the log
// holds, by group.
func (l *Log) GroupConfigs() map[string]map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return cloneBrokerConfigs(l.mu.st.GroupConfigs)
}
