package stream

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// localTask builds top's first subtopology as one task over stores in a
// temporary dir, with no broker: records go in through processRecords.
func localTask(t *testing.T, top *Topology) *task {
	t.Helper()
	return sessionTask(t, top, t.TempDir(), nil)
}

func is(want string) func(string, Match[string]) bool {
	return func(v string, _ Match[string]) bool { return strings.HasPrefix(v, want) }
}

// feed sends "key:value@second" records through tk.
func feed(t *testing.T, tk *task, topic string, in ...string) {
	t.Helper()
	for _, s := range in {
		kv, ts, _ := strings.Cut(s, "@")
		k, v, _ := strings.Cut(kv, ":")
		var sec int64
		fmt.Sscan(ts, &sec)
		r := &kgo.Record{Topic: topic, Key: []byte(k), Value: []byte(v), Timestamp: time.Unix(sec, 0)}
		tk.streamTime = max(tk.streamTime, r.Timestamp.UnixMilli())
		if err := tk.handlers[topic](r); err != nil {
			t.Fatal(err)
		}
	}
}

func describeMatch(k string, m Match[string], steps []string) string {
	var parts []string
	for _, s := range steps {
		if evs := m.Events[s]; len(evs) > 0 {
			parts = append(parts, s+"="+strings.Join(evs, ","))
		}
	}
	out := k + "{" + strings.Join(parts, " ") + "}"
	if m.TimedOut {
		out += fmt.Sprintf("timeout@%d", m.End.Unix())
	}
	return out
}

func TestPatterns(t *testing.T) {
	cases := []struct {
		name  string
		p     func() *Pattern[string]
		in    []string
		want  string
		steps []string
	}{
		{"relaxed skips noise", func() *Pattern[string] { return Begin("a", is("A")).FollowedBy("b", is("B")) },
			[]string{"k:A1@1", "k:x@2", "k:B1@3"}, "k{a=A1 b=B1}", nil},
		{"strict drops on noise", func() *Pattern[string] { return Begin("a", is("A")).Next("b", is("B")) },
			[]string{"k:A1@1", "k:x@2", "k:B1@3", "k:A2@4", "k:B2@5"}, "k{a=A2 b=B2}", nil},
		{"keys are separate", func() *Pattern[string] { return Begin("a", is("A")).FollowedBy("b", is("B")) },
			[]string{"k:A1@1", "j:B1@2", "j:A2@3", "k:B2@4"}, "k{a=A1 b=B2}", nil},
		{"within expires", func() *Pattern[string] {
			return Begin("a", is("A")).FollowedBy("b", is("B")).Within(10 * time.Second)
		}, []string{"k:A1@1", "k:B1@12", "k:A2@20", "k:B2@30"}, "k{a=A2 b=B2}", nil},
		{"no skip: each start matches", func() *Pattern[string] { return Begin("a", is("A")).FollowedBy("b", is("B")) },
			[]string{"k:A1@1", "k:A2@2", "k:B1@3"}, "k{a=A1 b=B1} k{a=A2 b=B1}", nil},
		{"skip past last event", func() *Pattern[string] {
			return Begin("a", is("A")).FollowedBy("b", is("B")).AfterMatch(SkipPastLastEvent)
		}, []string{"k:A1@1", "k:A2@2", "k:B1@3", "k:B2@4"}, "k{a=A1 b=B1}", nil},
		{"times", func() *Pattern[string] { return Begin("a", is("A")).FollowedBy("b", is("B")).Times(3) },
			[]string{"k:A1@1", "k:B1@2", "k:x@3", "k:B2@4", "k:B3@5"}, "k{a=A1 b=B1,B2,B3}", nil},
		{"one or more is greedy up to the next step", func() *Pattern[string] {
			return Begin("a", is("A")).FollowedBy("b", is("B")).OneOrMore().FollowedBy("c", is("C")).AfterMatch(SkipPastLastEvent)
		}, []string{"k:A1@1", "k:B1@2", "k:B2@3", "k:C1@4"}, "k{a=A1 b=B1,B2 c=C1}", nil},
		{"optional taken or skipped", func() *Pattern[string] {
			return Begin("a", is("A")).FollowedBy("b", is("B")).Optional().FollowedBy("c", is("C")).AfterMatch(SkipPastLastEvent)
		}, []string{"k:A1@1", "k:C1@2", "k:A2@3", "k:B2@4", "k:C2@5"}, "k{a=A1 c=C1} k{a=A2 b=B2 c=C2}", nil},
		{"condition on an earlier event", func() *Pattern[string] {
			return Begin("a", is("A")).FollowedBy("b", func(v string, m Match[string]) bool {
				a, _ := m.First("a")
				return strings.HasPrefix(v, "B") && v[1:] == a[1:] // same number
			})
		}, []string{"k:A1@1", "k:B2@2", "k:B1@3"}, "k{a=A1 b=B1}", nil},
		{"not followed by: timeout matches", func() *Pattern[string] {
			return Begin("a", is("A")).NotFollowedBy("b", is("B")).Within(10 * time.Second)
		}, []string{"k:A1@1", "j:A2@2", "j:B2@5", "k:x@30"}, "k{a=A1}timeout@11", nil},
		{"max partials drops the oldest", func() *Pattern[string] {
			return Begin("a", is("A")).FollowedBy("b", is("B")).MaxPartials(2)
		}, []string{"k:A1@1", "k:A2@2", "k:A3@3", "k:B1@4"}, "k{a=A2 b=B1} k{a=A3 b=B1}", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			top := NewTopology()
			var got []string
			s := Source(top, "in", String(), String())
			p := c.p()
			var names []string
			for _, st := range p.steps {
				names = append(names, st.name)
			}
			Detect(GroupByKey(s, String(), String()), p, "cep").Foreach(func(k string, m Match[string]) {
				got = append(got, describeMatch(k, m, names))
			})
			tk := localTask(t, top)
			feed(t, tk, "in", c.in...)
			if g := strings.Join(got, " "); g != c.want {
				t.Errorf("matches %q, want %q", g, c.want)
			}
		})
	}
}

func TestPatternValidation(t *testing.T) {
	for _, c := range []struct {
		p    *Pattern[string]
		want string
	}{
		{Begin("a", is("A")).NotFollowedBy("b", is("B")), "NotFollowedBy needs Within"},
		{Begin("a", is("A")).FollowedBy("a", is("B")), `step name "a" used twice`},
		{Begin("a", is("A")).Optional(), "first step cannot be optional"},
		{Begin("a", is("A")).NotFollowedBy("b", is("B")).Within(time.Second).FollowedBy("c", is("C")), "must be last"},
		{Begin("a", is("A")).Times(0), "Times(0)"},
	} {
		err := c.p.validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("validate = %v, want %q", err, c.want)
		}
	}
}

// TestPatternStateSurvivesRestart: partial matches are in the store, so
// a task rebuilt over the same stores goes on matching.
func TestPatternStateSurvivesRestart(t *testing.T) {
	build := func(got *[]string) *Topology {
		top := NewTopology()
		p := Begin("a", is("A")).FollowedBy("b", is("B")).Within(time.Minute)
		Detect(GroupByKey(Source(top, "in", String(), String()), String(), String()), p, "cep").
			Foreach(func(k string, m Match[string]) { *got = append(*got, describeMatch(k, m, []string{"a", "b"})) })
		return top
	}
	var got []string
	top := build(&got)
	tk := localTask(t, top)
	feed(t, tk, "in", "k:A1@1")
	if err := tk.commitLocal(); err != nil {
		t.Fatal(err)
	}
	dir := tk.app.cfg.StateDir
	tk.close(true)
	a, _ := New(build(&got), Config{AppID: "t", Brokers: []string{"x:1"}, StateDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	tk2 := &task{id: taskID{0, 0}, app: a, memo: map[int]any{}, handlers: map[string]recordFn{},
		stores: map[string]*kvStore{}, offsets: map[string]kgo.EpochOffset{}, streamTime: -1}
	h, err := a.t.sources["in"].build(tk2)
	if err != nil {
		t.Fatal(err)
	}
	tk2.handlers["in"] = h
	defer tk2.close(false)
	for _, f := range tk2.starts {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	feed(t, tk2, "in", "k:B1@5")
	if strings.Join(got, " ") != "k{a=A1 b=B1}" {
		t.Errorf("after restart: %v", got)
	}
}
