package quota

import "time"

// Client is one client's quotas resolved under one configuration: the
// limit and sensor of each kind, so that measuring it takes no lookup. A
// connection keeps its Client while Current says it still applies
// (the configuration and the client are unchanged). A Client is
// immutable; its sensors are safe for concurrent use.
type Client struct {
	m              *Manager
	tab            *table
	user, clientID string
	kinds          [numKinds]resolved
}

type resolved struct {
	limit float64
	s     *sensor // nil: no quota of this kind applies
}

// Client resolves the quotas of (user, clientID) under the current
// configuration; nil when no quota is configured.
func (m *Manager) Client(user, clientID string) *Client {
	t := m.tab.Load()
	if t == nil {
		return nil
	}
	c := &Client{m: m, tab: t, user: user, clientID: clientID}
	for k := range numKinds {
		if limit, key, ok := t.resolve(k, user, clientID); ok {
			c.kinds[k] = resolved{limit: limit, s: m.sensor(key)}
		}
	}
	return c
}

// Current reports whether c still applies to (user, clientID): it is
// for them and the configuration has not changed since. False for nil.
func (c *Client) Current(user, clientID string) bool {
	return c != nil && c.m != nil && c.m.tab.Load() == c.tab && c.clientID == clientID && c.user == user
}

// Record is Manager.Record for c's client.
func (c *Client) Record(k Kind, v float64, now time.Time) time.Duration {
	r := &c.kinds[k]
	if r.s == nil {
		return 0
	}
	d := r.s.record(now.UnixNano(), v, r.limit, c.m.cfg.WindowSize, 0)
	return min(d, time.Duration(c.m.cfg.WindowNum)*c.m.cfg.WindowSize)
}
