package stream

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestJoinStreamTable(t *testing.T) {
	top := NewTopology()
	users := TableOf(top, "users", "users", String(), String())
	clicks := Source(top, "clicks", String(), String())
	var inner, left []string
	JoinTable(clicks, users, func(k, click, user string) string { return click + "/" + user }).
		Foreach(func(k, v string) { inner = append(inner, k+"="+v) })
	LeftJoinTable(clicks, users, func(k, click, user string, ok bool) string { return fmt.Sprintf("%s/%s/%v", click, user, ok) }).
		Foreach(func(k, v string) { left = append(left, k+"="+v) })
	tk := localTask(t, top)
	feed(t, tk, "users", "u1:alice@1")
	feed(t, tk, "clicks", "u1:home@2", "u2:cart@3")
	feed(t, tk, "users", "u1:alicia@4", "u2:bob@5")
	feed(t, tk, "clicks", "u1:pay@6", "u2:pay@7")
	if g := strings.Join(inner, " "); g != "u1=home/alice u1=pay/alicia u2=pay/bob" {
		t.Errorf("inner: %s", g)
	}
	if g := strings.Join(left, " "); g != "u1=home/alice/true u2=cart//false u1=pay/alicia/true u2=pay/bob/true" {
		t.Errorf("left: %s", g)
	}
}

func TestJoinTables(t *testing.T) {
	top := NewTopology()
	a := TableOf(top, "a", "a", String(), String())
	b := TableOf(top, "b", "b", String(), String())
	var got []string
	JoinTables(a, b, func(k, x, y string) string { return x + "+" + y }).Changes().
		Foreach(func(k string, c Change[string]) {
			got = append(got, fmt.Sprintf("%s:%s->%s", k, map[bool]string{true: c.Old}[c.HasOld], map[bool]string{true: c.New, false: "deleted"}[c.HasNew]))
		})
	tk := localTask(t, top)
	feed(t, tk, "a", "k:a1@1")
	feed(t, tk, "b", "k:b1@2", "j:b9@3")
	feed(t, tk, "a", "k:a2@4")
	if g := strings.Join(got, " "); g != "k:->a1+b1 k:a1+b1->a2+b1" {
		t.Errorf("changes: %s", g)
	}
}

func TestJoinStreams(t *testing.T) {
	top := NewTopology()
	a := Source(top, "a", String(), String())
	b := Source(top, "b", String(), String())
	var got []string
	JoinStreams(a, b, JoinWindows{Within: 5 * time.Second, Grace: 2 * time.Second}, "ab", String(), String(), String(),
		func(k, x, y string) string { return x + "&" + y }).Foreach(func(k, v string) { got = append(got, k+"="+v) })
	tk := localTask(t, top)
	feed(t, tk, "a", "k:a1@10")
	feed(t, tk, "b", "k:b1@13", "j:b2@14", "k:b3@16") // b1 pairs with a1; b3 is 6s after a1
	feed(t, tk, "a", "k:a2@12")                       // out of order: pairs with b1 and b3
	feed(t, tk, "a", "k:a3@40", "k:a4@20")            // a4 is late: 40-5-2 > 20
	if g := strings.Join(got, " "); g != "k=a1&b1 k=a2&b1 k=a2&b3" {
		t.Errorf("pairs: %s", g)
	}
	if tk.metrics.late.Load() != 1 {
		t.Errorf("late = %d, want 1", tk.metrics.late.Load())
	}
	n := 0
	_ = tk.stores["ab-left"].scan(nil, nil, func(_, _ []byte) error { n++; return nil })
	if n != 1 {
		t.Errorf("left buffer holds %d records after purge, want 1 (a3)", n)
	}
}

func TestJoinNeedsRepartition(t *testing.T) {
	top := NewTopology()
	users := TableOf(top, "users", "users", String(), String())
	clicks := SelectKey(Source(top, "clicks", String(), String()), func(k, v string) string { return v })
	JoinTable(clicks, users, func(k, c, u string) string { return c })
	if err := top.err(); err == nil || !strings.Contains(err.Error(), "Repartition it before joining") {
		t.Errorf("err = %v", err)
	}
}
