package quota

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/metadata"
)

// set is an Alteration setting key=v on e.
func set(e Entity, key string, v float64) Alteration {
	return Alteration{Entity: e, Ops: []Op{{Key: key, Value: v}}}
}

// TestPrecedence: each client resolves to the first entity of KIP-55's
// order that sets the quota, and its sensor is per the parts Kafka tags
// it with.
func TestPrecedence(t *testing.T) {
	all := []Alteration{
		set(Entity{User: "alice", ClientID: "app"}, ProducerByteRate, 1),
		set(Entity{User: "alice", ClientID: ""}, ProducerByteRate, 2),
		set(Entity{User: "alice"}, ProducerByteRate, 3),
		set(Entity{User: "", ClientID: "app"}, ProducerByteRate, 4),
		set(Entity{User: "", ClientID: ""}, ProducerByteRate, 5),
		set(Entity{User: ""}, ProducerByteRate, 6),
		set(Entity{ClientID: "app"}, ProducerByteRate, 7),
		set(Entity{ClientID: ""}, ProducerByteRate, 8),
	}
	for drop := 0; drop < len(all); drop++ {
		m := New(Config{})
		if err := m.Alter(all[drop:], false); err != nil {
			t.Fatal(err)
		}
		// The most specific entity left for (alice, app) is all[drop].
		want := float64(drop + 1)
		if got, ok := m.Limit(Produce, "alice", "app"); !ok || got != want {
			t.Errorf("entities %d..8: alice/app resolves to %v %v, want %v", drop+1, got, ok, want)
		}
	}
	m := New(Config{})
	if err := m.Alter([]Alteration{all[2], all[6], all[7]}, false); err != nil {
		t.Fatal(err)
	}
	tab := m.tab.Load()
	tests := []struct {
		user, client string
		want         float64
		key          sensorKey
	}{
		{"alice", "x", 3, sensorKey{Produce, "alice", ""}},
		{"bob", "app", 7, sensorKey{Produce, "", "app"}},
		{"bob", "other", 8, sensorKey{Produce, "", "other"}},
	}
	for _, tc := range tests {
		l, k, ok := tab.resolve(Produce, tc.user, tc.client)
		if !ok || l != tc.want || k != tc.key {
			t.Errorf("%s/%s: %v %+v %v, want %v %+v", tc.user, tc.client, l, k, ok, tc.want, tc.key)
		}
	}
	if _, _, ok := tab.resolve(Fetch, "alice", "x"); ok {
		t.Error("a fetch quota resolved where only producer rates are set")
	}
}

// TestKeysResolveOnTheirOwn: each quota type takes the most specific
// entity that sets it, as Kafka's per-type quota managers do.
func TestKeysResolveOnTheirOwn(t *testing.T) {
	m := New(Config{})
	err := m.Alter([]Alteration{
		set(Entity{User: "alice", ClientID: "app"}, ProducerByteRate, 100),
		set(Entity{User: "alice"}, ConsumerByteRate, 200),
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := m.Limit(Produce, "alice", "app"); !ok || l != 100 {
		t.Errorf("produce %v %v", l, ok)
	}
	if l, ok := m.Limit(Fetch, "alice", "app"); !ok || l != 200 {
		t.Errorf("fetch %v %v", l, ok)
	}
}

// TestActiveOnlyWithEnforcedQuotas: unenforced keys and ip entities leave
// the hot path off; removing the last enforced value turns it off.
func TestActiveOnlyWithEnforcedQuotas(t *testing.T) {
	var nilM *Manager
	if nilM.Active() {
		t.Fatal("nil manager active")
	}
	m := New(Config{})
	must(t, m.Alter([]Alteration{
		set(Entity{User: "a"}, ControllerMutationRate, 5),
		set(Entity{IP: "10.0.0.1"}, ConnectionCreationRate, 5),
	}, false))
	if m.Active() {
		t.Fatal("active with only unenforced quotas")
	}
	must(t, m.Alter([]Alteration{set(Entity{ClientID: "c"}, RequestPercentage, 50)}, false))
	if !m.Active() {
		t.Fatal("not active with a request_percentage quota")
	}
	must(t, m.Alter([]Alteration{{Entity: Entity{ClientID: "c"}, Ops: []Op{{Key: RequestPercentage, Remove: true}}}}, false))
	if m.Active() || len(m.Describe(Filter{Components: []Component{{Type: ClientID, Match: MatchAny}}})) != 0 {
		t.Fatal("removing the only value left the entity or the hot path on")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestValidate: what Kafka refuses is refused with ErrInvalid.
func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		a    Alteration
		ok   bool
	}{
		{"user rate", set(Entity{User: "u"}, ProducerByteRate, 1024), true},
		{"default client pct", set(Entity{ClientID: ""}, RequestPercentage, 12.5), true},
		{"ip rate", set(Entity{IP: "1.2.3.4"}, ConnectionCreationRate, 3), true},
		{"empty entity", set(Entity{}, ProducerByteRate, 1), false},
		{"unknown type", set(Entity{"group": "g"}, ProducerByteRate, 1), false},
		{"ip with user", set(Entity{IP: "1.2.3.4", User: "u"}, ConnectionCreationRate, 1), false},
		{"unknown key", set(Entity{User: "u"}, "bogus", 1), false},
		{"byte rate on ip", set(Entity{IP: "1.2.3.4"}, ProducerByteRate, 1), false},
		{"connection rate on user", set(Entity{User: "u"}, ConnectionCreationRate, 1), false},
		{"zero", set(Entity{User: "u"}, ProducerByteRate, 0), false},
		{"negative", set(Entity{User: "u"}, ConsumerByteRate, -1), false},
		{"fraction", set(Entity{User: "u"}, ProducerByteRate, 1.5), false},
		{"nan", set(Entity{User: "u"}, RequestPercentage, math.NaN()), false},
		{"twice", Alteration{Entity: Entity{User: "u"}, Ops: []Op{{Key: ProducerByteRate, Value: 1}, {Key: ProducerByteRate, Remove: true}}}, false},
		{"remove unknown", Alteration{Entity: Entity{User: "u"}, Ops: []Op{{Key: "bogus", Remove: true}}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.a.Validate()
			if tc.ok != (err == nil) || err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestFilter: EXACT, DEFAULT, ANY and strict, as DescribeClientQuotas
// applies them.
func TestFilter(t *testing.T) {
	m := New(Config{})
	ents := []Entity{{User: "alice"}, {User: ""}, {User: "alice", ClientID: "app"}, {ClientID: "app"}, {IP: "1.2.3.4"}}
	for _, e := range ents {
		key := ProducerByteRate
		if _, ip := e[IP]; ip {
			key = ConnectionCreationRate
		}
		must(t, m.Alter([]Alteration{set(e, key, 10)}, false))
	}
	tests := []struct {
		name string
		f    Filter
		want []string
	}{
		{"all", Filter{}, []string{"client-id=app", "ip=1.2.3.4", "client-id=app,user=alice", "user=<default>", "user=alice"}},
		{"exact user", Filter{Components: []Component{{Type: User, Name: "alice"}}}, []string{"client-id=app,user=alice", "user=alice"}},
		{"exact user strict", Filter{Components: []Component{{Type: User, Name: "alice"}}, Strict: true}, []string{"user=alice"}},
		{"default user", Filter{Components: []Component{{Type: User, Match: MatchDefault}}}, []string{"user=<default>"}},
		{"any user", Filter{Components: []Component{{Type: User, Match: MatchAny}}}, []string{"client-id=app,user=alice", "user=alice"}},
		{"user and client", Filter{Components: []Component{{Type: User, Match: MatchAny}, {Type: ClientID, Name: "app"}}}, []string{"client-id=app,user=alice"}},
		{"ip", Filter{Components: []Component{{Type: IP, Match: MatchAny}}, Strict: true}, []string{"ip=1.2.3.4"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, e := range m.Describe(tc.f) {
				got = append(got, e.Entity.String())
			}
			slices.Sort(got)
			slices.Sort(tc.want)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	if err := (Filter{Components: []Component{{Type: User}, {Type: User}}}).Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("a type twice: %v", err)
	}
	if err := (Filter{Components: []Component{{Type: "topic"}}}).Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown type: %v", err)
	}
}

// memStore is an in-memory Store that can fail.
type memStore struct {
	st   metadata.State
	fail error
}

func (s *memStore) Quotas() []metadata.Quota { return s.st.Quotas }
func (s *memStore) SetQuotas(qs []metadata.Quota) error {
	if s.fail != nil {
		return s.fail
	}
	return s.st.Apply(metadata.Record{Type: metadata.SetQuotas, Quotas: qs})
}

// TestAlterStoreAndValidateOnly: a change reaches the store as whole
// entities and a new Manager starts from it; validate_only and a failing
// store change nothing.
func TestAlterStoreAndValidateOnly(t *testing.T) {
	st := &memStore{}
	m := New(Config{Store: st})
	must(t, m.Alter([]Alteration{set(Entity{User: "u"}, ProducerByteRate, 100)}, true))
	if len(st.st.Quotas) != 0 || m.Active() {
		t.Fatal("validate_only changed something")
	}
	must(t, m.Alter([]Alteration{set(Entity{User: "u"}, ProducerByteRate, 100), set(Entity{User: "u"}, ConsumerByteRate, 200)}, false))
	m2 := New(Config{Store: st})
	es := m2.Describe(Filter{})
	if len(es) != 1 || es[0].Values[ProducerByteRate] != 100 || es[0].Values[ConsumerByteRate] != 200 {
		t.Fatalf("a new manager on the store describes %+v", es)
	}
	st.fail = errors.New("disk full")
	if err := m2.Alter([]Alteration{set(Entity{User: "v"}, ProducerByteRate, 1)}, false); err == nil {
		t.Fatal("a failing store was not reported")
	}
	if len(m2.Describe(Filter{})) != 1 {
		t.Fatal("a failed alter changed the quotas")
	}
}

// TestSensorThrottle: the throttle is the time for the average over the
// ring to fall back to the limit, starting from the first request (no
// burst), and samples older than the ring no longer count.
func TestSensorThrottle(t *testing.T) {
	s := newSensor(11)
	sec := int64(time.Second)
	t0 := int64(1000) * sec
	if d := s.record(t0, 1000, 1000, time.Second, 0); d != time.Second {
		t.Fatalf("1000 bytes at once under a 1000 B/s limit: throttle %v, want 1s", d)
	}
	if d := s.record(t0+sec, 0, 1000, time.Second, 0); d != 0 {
		t.Fatalf("after a second: throttle %v, want 0", d)
	}
	if d := s.record(t0+2*sec, 3000, 1000, time.Second, 0); d != 2*time.Second {
		t.Fatalf("4000 bytes over 2s: throttle %v, want 2s", d)
	}
	if r := s.rate(t0+4*sec, time.Second); r != 1000 {
		t.Fatalf("rate after 4s = %v, want 1000", r)
	}
	// Everything is older than the 11 s ring: a new start.
	if d := s.record(t0+30*sec, 500, 1000, time.Second, 0); d != 500*time.Millisecond {
		t.Fatalf("after the ring has passed: throttle %v, want 500ms", d)
	}
}

// TestConnectionRate: connection_creation_rate applies per ip (the ip's
// own, else the default ip's), a first connection is not delayed, and a
// burst beyond the rate is.
func TestConnectionRate(t *testing.T) {
	m := New(Config{})
	must(t, m.Alter([]Alteration{
		set(Entity{IP: "10.0.0.1"}, ConnectionCreationRate, 2),
		set(Entity{IP: ""}, ConnectionCreationRate, 100),
	}, false))
	if err := set(Entity{IP: "not-an-ip"}, ConnectionCreationRate, 1).Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a bad ip: %v", err)
	}
	now := time.Unix(1000, 0)
	if d := m.RecordConnection("10.0.0.1", now); d != 0 {
		t.Fatalf("first connection delayed %v", d)
	}
	m.RecordConnection("10.0.0.1", now)
	if d := m.RecordConnection("10.0.0.1", now); d != 500*time.Millisecond {
		t.Fatalf("third connection within a second at 2/s: delay %v, want 500ms", d)
	}
	for range 50 {
		if d := m.RecordConnection("10.0.0.2", now); d != 0 {
			t.Fatalf("an ip under the default 100/s was delayed %v", d)
		}
	}
	if New(Config{}).RecordConnection("10.0.0.1", now) != 0 {
		t.Fatal("delayed without a quota")
	}
}
