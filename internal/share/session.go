package share

// sessionKey names a share session: one per member (a client has one
// member id and talks to one broker here).
type sessionKey struct{ group, member string }

// TP is a topic partition of a share session, by topic id.
type TP struct {
	Topic     [16]byte
	Partition int32
}

// session is a share session (KIP-932's ShareSessionEpoch): the
// partitions a member fetches, added to and forgotten incrementally.
// Guarded by Coordinator.mu.
type session struct {
	epoch int32 // the epoch the next request must carry
	parts []TP  // in the order added
}

// nextEpoch is the epoch after e: MaxInt32 wraps to 1, as in Kafka.
func nextEpoch(e int32) int32 {
	if e == 1<<31-1 {
		return 1
	}
	return e + 1
}

// Session applies a request's ShareSessionEpoch: 0 opens a new session
// with add, -1 names the session to close (CloseSession closes it after
// its acknowledgements), any other epoch must be the session's next. It
// returns the session's partitions after add and forget. A session is
// opened only by a member of the group (else ErrUnknownMember).
func (c *Coordinator) Session(group, member string, epoch int32, add, forget []TP) ([]TP, error) {
	if group == "" || member == "" {
		return nil, ErrInvalidRequest
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := sessionKey{group, member}
	s := c.mu.sessions[k]
	switch {
	case epoch == 0 && !c.isMemberLocked(group, member):
		// Only members open sessions: sessions (and the share
		// partitions they name) cannot be made up by any client.
		return nil, ErrUnknownMember
	case epoch == 0:
		s = &session{epoch: 1}
		c.mu.sessions[k] = s
	case s == nil:
		return nil, ErrSessionNotFound
	case epoch == -1:
		return append([]TP(nil), s.parts...), nil
	case epoch != s.epoch:
		return nil, ErrInvalidEpoch
	default:
		s.epoch = nextEpoch(s.epoch)
	}
	s.parts = removeTPs(s.parts, forget)
	for _, tp := range add {
		if !containsTP(s.parts, tp) {
			s.parts = append(s.parts, tp)
		}
	}
	return append([]TP(nil), s.parts...), nil
}

// CloseSession ends member's session and releases the records it holds,
// as Kafka does when a share session closes.
func (c *Coordinator) CloseSession(group, member string) {
	c.mu.Lock()
	delete(c.mu.sessions, sessionKey{group, member})
	c.mu.Unlock()
	c.releaseMember(group, member)
}

func containsTP(ps []TP, tp TP) bool {
	for _, p := range ps {
		if p == tp {
			return true
		}
	}
	return false
}

func removeTPs(ps, drop []TP) []TP {
	if len(drop) == 0 {
		return ps
	}
	out := ps[:0]
	for _, p := range ps {
		if !containsTP(drop, p) {
			out = append(out, p)
		}
	}
	return out
}

// isMemberLocked reports whether member is in group. c.mu must be held.
func (c *Coordinator) isMemberLocked(group, member string) bool {
	g := c.mu.groups[group]
	return g != nil && g.Members[member] != nil
}
