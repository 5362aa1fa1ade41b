package quota

import (
	"sync"
	"time"
)

// sensor measures one rate over a ring of samples, as Kafka's SampledStat:
// a sample covers one window from its start; a record after the window
// ends starts the next sample, overwriting the oldest; samples older than
// the whole ring are dropped. The rate is the ring's total over the time
// since the oldest sample's start. Unlike Kafka, which counts a young
// sensor's elapsed time as at least num-1 windows (a new client may burst
// ten seconds of quota), the elapsed time is the real one: a client is
// held to its rate from its first request.
type sensor struct {
	mu sync.Mutex
	// samples[cur] is the current sample; the ring's others are older,
	// in order cur+1, cur+2, ... (oldest first). A zero start is unused.
	samples []sample
	cur     int
}

type sample struct {
	start int64 // unix nanoseconds
	v     float64
}

func newSensor(num int) *sensor { return &sensor{samples: make([]sample, num)} }

// record adds v at now and returns how long the client must wait for the
// ring's rate to come back down to limit (per second): 0 when it is
// within limit. The wait is what Kafka's throttle time is: the time for
// the average over the ring to reach the limit if nothing more comes.
//
// minElapsed pads a young sensor's elapsed time (Kafka pads it to num-1
// windows): 0 for byte rates and request time, one window for connection
// creation, so that a first connection is not delayed.
func (s *sensor) record(now int64, v, limit float64, window, minElapsed time.Duration) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rollLocked(now, window)
	s.samples[s.cur].v += v
	total, oldest := s.sumLocked(now, window)
	over := total - limit*max(float64(now-oldest), float64(minElapsed))/1e9
	if over <= 0 {
		return 0
	}
	return time.Duration(over / limit * 1e9)
}

// rate is the measured rate per second at now.
func (s *sensor) rate(now int64, window time.Duration) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	total, oldest := s.sumLocked(now, window)
	el := max(float64(now-oldest), float64(window)) / 1e9
	return total / el
}

// rollLocked starts a new sample at now when the current one's window
// has passed. mu must be held.
func (s *sensor) rollLocked(now int64, window time.Duration) {
	c := &s.samples[s.cur]
	if c.start != 0 && now-c.start < int64(window) {
		return
	}
	if c.start != 0 {
		s.cur = (s.cur + 1) % len(s.samples)
	}
	s.samples[s.cur] = sample{start: now}
}

// sumLocked totals the samples still inside the ring's span and returns
// the oldest one's start. mu must be held.
func (s *sensor) sumLocked(now int64, window time.Duration) (total float64, oldest int64) {
	span := int64(window) * int64(len(s.samples))
	oldest = now
	for i := range s.samples {
		sm := &s.samples[i]
		if sm.start == 0 || now-sm.start >= span {
			continue
		}
		total += sm.v
		oldest = min(oldest, sm.start)
	}
	return total, oldest
}
