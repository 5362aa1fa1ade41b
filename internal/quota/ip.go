package quota

import (
	"time"

	"github.com/heraldhq/herald/internal/metadata"
)

// Connection is the sensor kind of connection_creation_rate, per ip.
const Connection Kind = numKinds

// ipTable is the immutable lookup of connection_creation_rate by ip, ""
// being the default ip entity.
type ipTable struct{ m map[string]float64 }

// newIPTable builds the table of entries' ip quotas, or nil when none.
func newIPTable(entries []metadata.Quota) *ipTable {
	t := &ipTable{m: map[string]float64{}}
	for _, q := range entries {
		ip, ok := q.Entity[IP]
		if v := q.Values[ConnectionCreationRate]; ok && v > 0 {
			t.m[ip] = v
		}
	}
	if len(t.m) == 0 {
		return nil
	}
	return t
}

// RecordConnection counts a new connection from ip at now against the
// ip's connection_creation_rate (the ip's own, else the default ip's;
// KIP-612) and returns how long the connection must wait before it is
// served: 0 when within the quota or there is none. With no ip quota it
// is one atomic load.
func (m *Manager) RecordConnection(ip string, now time.Time) time.Duration {
	t := m.ipTab.Load()
	if t == nil {
		return 0
	}
	limit, ok := t.m[ip]
	if !ok {
		if limit, ok = t.m[""]; !ok {
			return 0
		}
	}
	s := m.sensor(sensorKey{kind: Connection, clientID: ip})
	d := s.record(now.UnixNano(), 1, limit, m.cfg.WindowSize, m.cfg.WindowSize)
	return min(d, time.Duration(m.cfg.WindowNum)*m.cfg.WindowSize)
}
