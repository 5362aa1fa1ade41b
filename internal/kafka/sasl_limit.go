package kafka

import (
	"sync"
	"time"
)

// failLimiter bounds failed SASL authentications per client host: a
// token bucket of Config.FailedAuthPerSecond refilled each second, with a
// burst of failLimiterBurst seconds' worth. While a host's bucket is
// empty its SASL exchanges are refused before the credentials are
// looked at, so a password-guessing client gets a few tries a second
// however many connections it opens, and PLAIN's PBKDF2 cannot be used
// to burn the broker's CPU. Clients on the same host share the bucket.
type failLimiter struct {
	rate float64 // tokens a second; <= 0: no limit
	mu   struct {
		sync.Mutex
		hosts map[string]*failBucket
	}
}

// failLimiterBurst is the bucket size, in seconds of rate.
const failLimiterBurst = 5

// failLimiterPrune is the map size at which full buckets are dropped.
const failLimiterPrune = 4096

type failBucket struct {
	tokens float64
	last   time.Time
}

func newFailLimiter(rate float64) *failLimiter {
	l := &failLimiter{rate: rate}
	l.mu.hosts = make(map[string]*failBucket)
	return l
}

// refillLocked brings b up to now. mu must be held.
func (l *failLimiter) refillLocked(b *failBucket, now time.Time) {
	b.tokens = min(l.rate*failLimiterBurst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
}

// blocked reports whether host has used up its failures.
func (l *failLimiter) blocked(host string, now time.Time) bool {
	if l.rate <= 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.mu.hosts[host]
	if !ok {
		return false
	}
	l.refillLocked(b, now)
	return b.tokens < 1
}

// fail takes one failure from host's bucket.
func (l *failLimiter) fail(host string, now time.Time) {
	if l.rate <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.mu.hosts[host]
	if !ok {
		if len(l.mu.hosts) >= failLimiterPrune {
			l.pruneLocked(now)
		}
		b = &failBucket{tokens: l.rate * failLimiterBurst, last: now}
		l.mu.hosts[host] = b
	}
	l.refillLocked(b, now)
	b.tokens = max(0, b.tokens-1)
}

// pruneLocked drops the buckets that have refilled: hosts with no recent
// failures. mu must be held.
func (l *failLimiter) pruneLocked(now time.Time) {
	for h, b := range l.mu.hosts {
		l.refillLocked(b, now)
		if b.tokens >= l.rate*failLimiterBurst {
			delete(l.mu.hosts, h)
		}
	}
}
