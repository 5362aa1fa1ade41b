package share

import (
	"maps"

	"github.com/heraldhq/herald/internal/broker"
)

// StartOffset is a share partition's start offset as
// DescribeShareGroupOffsets answers it.
type StartOffset struct {
	Topic     [16]byte
	Partition int32
	Start     int64
}

// StartOffsets lists the start offsets of every initialized share
// partition of group.
func (c *Coordinator) StartOffsets(group string) []StartOffset {
	c.mu.Lock()
	var parts []*sharePart
	for k, sp := range c.mu.parts {
		if k.group == group {
			parts = append(parts, sp)
		}
	}
	c.mu.Unlock()
	var out []StartOffset
	for _, sp := range parts {
		sp.mu.Lock()
		if sp.loaded && !sp.deleted {
			out = append(out, StartOffset{sp.key.topic, sp.key.part, sp.st.Start})
		}
		sp.mu.Unlock()
	}
	return out
}

// StartOffsetOf is one partition's start offset; ok is false when the
// group has no state there.
func (c *Coordinator) StartOffsetOf(group string, topic [16]byte, part int32) (int64, bool) {
	c.mu.Lock()
	sp := c.mu.parts[partKey{group, topic, part}]
	c.mu.Unlock()
	if sp == nil {
		return 0, false
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.st.Start, sp.loaded && !sp.deleted
}

// AlterStartOffset sets a share partition's start offset, dropping its
// in-flight records; the group must have no members (ErrNotEmpty).
func (c *Coordinator) AlterStartOffset(group string, topic [16]byte, part int32, off int64) error {
	if c.Members(group) > 0 {
		return ErrNotEmpty
	}
	sp := c.part(partKey{group, topic, part})
	sp.mu.Lock()
	sp.st.Reset(off)
	sp.loaded = true
	app, err := c.persistLocked(sp)
	sp.mu.Unlock()
	if err != nil {
		return err
	}
	return app.Durable()
}

// DeleteStartOffsets deletes the group's state of every partition of
// topic; the group must have no members (ErrNotEmpty).
func (c *Coordinator) DeleteStartOffsets(group string, topic [16]byte) error {
	if c.Members(group) > 0 {
		return ErrNotEmpty
	}
	return c.deleteParts(func(k partKey) bool { return k.group == group && k.topic == topic }, nil)
}

// DeleteGroup deletes an empty share group's state and configs.
func (c *Coordinator) DeleteGroup(group string) error {
	if !c.Has(group) {
		return ErrGroupNotFound
	}
	if c.Members(group) > 0 {
		return ErrNotEmpty
	}
	c.mu.Lock()
	delete(c.mu.groups, group)
	hadConfigs := c.mu.configs[group] != nil
	delete(c.mu.configs, group)
	c.mu.Unlock()
	var extra [][2][]byte
	if hadConfigs {
		extra = append(extra, [2][]byte{configsKey(group), nil})
	}
	return c.deleteParts(func(k partKey) bool { return k.group == group }, extra)
}

// deleteParts removes the share partitions match selects and writes their
// tombstones (and extra).
func (c *Coordinator) deleteParts(match func(partKey) bool, extra [][2][]byte) error {
	c.mu.Lock()
	var gone []*sharePart
	for k, sp := range c.mu.parts {
		if match(k) {
			gone = append(gone, sp)
			delete(c.mu.parts, k)
		}
	}
	c.mu.Unlock()
	kvs := extra
	for _, sp := range gone {
		sp.mu.Lock()
		sp.deleted = true
		sp.signalLocked()
		sp.mu.Unlock()
		kvs = append(kvs, [2][]byte{partitionKey(sp.key), nil})
	}
	if len(kvs) == 0 {
		return nil
	}
	app, err := c.write(kvs)
	if err != nil {
		return err
	}
	return app.Durable()
}

// Configs is the group's dynamic configs (a copy).
func (c *Coordinator) Configs(group string) map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.mu.configs[group])
}

// ConfigOp is one IncrementalAlterConfigs operation: Op 0 sets, 1
// deletes (Kafka's SET and DELETE; APPEND and SUBTRACT do not apply).
type ConfigOp struct {
	Name  string
	Op    int8
	Value string
}

// AlterConfigs applies ops to the group's configs, all or none, and
// persists them; validateOnly checks without changing.
func (c *Coordinator) AlterConfigs(group string, ops []ConfigOp, validateOnly bool) error {
	c.mu.Lock()
	m := maps.Clone(c.mu.configs[group])
	c.mu.Unlock()
	if m == nil {
		m = map[string]string{}
	}
	for _, op := range ops {
		switch op.Op {
		case 0:
			if err := validConfig(op.Name, op.Value); err != nil {
				return err
			}
			m[op.Name] = op.Value
		case 1:
			if err := validConfig(op.Name, "0"); err != nil && !isKnown(op.Name) {
				return err
			}
			delete(m, op.Name)
		default:
			return ErrInvalidConfig
		}
	}
	if validateOnly {
		return nil
	}
	return c.setConfigs(group, m)
}

// SetConfigs replaces the group's configs (AlterConfigs), validated.
func (c *Coordinator) SetConfigs(group string, m map[string]string, validateOnly bool) error {
	for k, v := range m {
		if err := validConfig(k, v); err != nil {
			return err
		}
	}
	if validateOnly {
		return nil
	}
	return c.setConfigs(group, maps.Clone(m))
}

func (c *Coordinator) setConfigs(group string, m map[string]string) error {
	var v []byte
	if len(m) > 0 {
		v = encodeConfigs(m)
	}
	var app broker.Appended
	var err error
	c.mu.Lock()
	app, err = c.write([][2][]byte{{configsKey(group), v}})
	if err == nil {
		if len(m) == 0 {
			delete(c.mu.configs, group)
		} else {
			c.mu.configs[group] = m
		}
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return app.Durable()
}

func isKnown(name string) bool {
	for _, n := range ConfigNames {
		if n == name {
			return true
		}
	}
	return false
}
