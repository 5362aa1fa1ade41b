package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestGroupCommands(t *testing.T) {
	addr := newHerald(t)
	ok(t, addr, "", "topic", "create", "orders", "-p", "1")
	ok(t, addr, "a\nb\nc\nd\ne\n", "produce", "orders")
	if got := ok(t, addr, "", "consume", "orders", "--group", "billing", "--count", "3").out; got != "a\nb\nc\n" {
		t.Fatalf("consume --group --count 3: %q", got)
	}
	// The group resumes where it committed.
	if got := ok(t, addr, "", "consume", "orders", "--group", "billing").out; got != "d\ne\n" {
		t.Fatalf("consume --group again: %q", got)
	}
	ok(t, addr, "f\n", "produce", "orders")
	golden(t, "group_list", ok(t, addr, "", "group", "list").out)
	golden(t, "group_describe", ok(t, addr, "", "group", "describe", "billing").out)

	var ds []groupDescription
	if err := json.Unmarshal([]byte(ok(t, addr, "", "group", "describe", "billing", "-o", "json").out), &ds); err != nil {
		t.Fatal(err)
	}
	if ds[0].TotalLag != 1 || ds[0].Partitions[0].Committed != 5 || ds[0].Partitions[0].End != 6 {
		t.Fatalf("describe json: %+v", ds)
	}
	golden(t, "group_delete", ok(t, addr, "", "group", "delete", "billing").out)
	fails(t, addr, "", `unknown group "billing"`, "group", "describe", "billing")
}

// TestResetOffsetsToDatetime is replay: a group at the end of a topic is
// moved back to a time between two sets of records and reads exactly the
// second set again.
func TestResetOffsetsToDatetime(t *testing.T) {
	addr := newHerald(t)
	ok(t, addr, "", "topic", "create", "orders", "-p", "3")
	var first, second []string
	for i := range 30 {
		first = append(first, fmt.Sprintf("old-%02d", i))
		second = append(second, fmt.Sprintf("new-%02d", i))
	}
	produceAt(t, addr, "orders", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), first...)
	produceAt(t, addr, "orders", time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), second...)
	all := ok(t, addr, "", "consume", "orders", "--group", "replay").out
	if n := strings.Count(all, "\n"); n != 60 {
		t.Fatalf("first read: %d records, want 60", n)
	}

	dry := ok(t, addr, "", "group", "reset-offsets", "replay", "--topic", "orders", "--to-datetime", "2024-03-01T00:00:00Z")
	if !strings.Contains(dry.errOut, "dry run: nothing changed") {
		t.Fatalf("dry run stderr: %q", dry.errOut)
	}
	var plan []resetPlanRow
	if err := json.Unmarshal([]byte(ok(t, addr, "", "group", "reset-offsets", "replay", "--topic", "orders", "--to-datetime", "2024-03-01", "-o", "json").out), &plan); err != nil {
		t.Fatal(err)
	}
	moved := int64(0)
	for _, r := range plan {
		if r.Current >= 0 {
			moved += r.Current - r.New
		}
	}
	if len(plan) != 3 || moved != 30 {
		t.Fatalf("plan moves %d offsets back, want 30: %+v", moved, plan)
	}
	if got := ok(t, addr, "", "consume", "orders", "--group", "replay").out; got != "" {
		t.Fatalf("dry run changed the group's offsets: read %q", got)
	}

	ok(t, addr, "", "group", "reset-offsets", "replay", "--topic", "orders", "--to-datetime", "2024-03-01T00:00:00Z", "--execute")
	got := strings.Fields(ok(t, addr, "", "consume", "orders", "--group", "replay").out)
	slices.Sort(got)
	if !slices.Equal(got, second) {
		t.Fatalf("replayed %v, want exactly %v", got, second)
	}
}

func TestResetOffsetsGolden(t *testing.T) {
	addr := newHerald(t)
	ok(t, addr, "", "topic", "create", "orders", "-p", "2")
	ok(t, addr, "", "produce", "orders", "--partition", "0", "--value", "x")
	ok(t, addr, "a\nb\nc\n", "produce", "orders", "--partition", "1")
	ok(t, addr, "", "consume", "orders", "--group", "g")
	golden(t, "group_reset_dry_run", ok(t, addr, "", "group", "reset-offsets", "g", "--shift-by", "-2").out)
	golden(t, "group_reset_execute", ok(t, addr, "", "group", "reset-offsets", "g", "--to-earliest", "--execute").out)
	if got := ok(t, addr, "", "consume", "orders", "--group", "g", "--format", "{{.Partition}}:{{.Value}}").out; got != "0:x\n1:a\n1:b\n1:c\n" && got != "1:a\n1:b\n1:c\n0:x\n" {
		t.Fatalf("after --to-earliest: %q", got)
	}
	ok(t, addr, "", "group", "reset-offsets", "g", "--to-offset", "2", "--execute")
	golden(t, "group_reset_to_offset", ok(t, addr, "", "group", "describe", "g").out)
}

func TestResetOffsetsRefusesActiveGroup(t *testing.T) {
	addr := newHerald(t)
	ok(t, addr, "", "topic", "create", "orders", "-p", "1")
	ok(t, addr, "a\n", "produce", "orders")
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup("live"), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if fs := cl.PollFetches(ctx); fs.Err0() != nil {
		t.Fatal(fs.Err0())
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	fails(t, addr, "", `group "live" has 1 active member(s)`, "group", "reset-offsets", "live", "--to-earliest", "--execute")
	// Nothing moved.
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, "live")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offs.Lookup("orders", 0); o.At != 1 {
		t.Fatalf("committed offset %d after a refused reset, want 1", o.At)
	}
}

func TestGroupErrors(t *testing.T) {
	addr := newHerald(t)
	ok(t, addr, "", "topic", "create", "orders", "-p", "1")
	ok(t, addr, "a\n", "produce", "orders")
	ok(t, addr, "", "consume", "orders", "--group", "g")
	for _, tc := range []struct {
		name string
		args []string
		exp  string
	}{
		{"describe unknown", []string{"group", "describe", "nope"}, `unknown group "nope"`},
		{"reset unknown group", []string{"group", "reset-offsets", "nope", "--topic", "orders", "--to-earliest"}, `unknown group "nope"`},
		{"reset unknown topic", []string{"group", "reset-offsets", "g", "--topic", "nope", "--to-earliest"}, `unknown topic "nope"`},
		{"bad datetime", []string{"group", "reset-offsets", "g", "--to-datetime", "last tuesday"}, `invalid --to-datetime: invalid time "last tuesday"`},
		{"bad offset", []string{"group", "reset-offsets", "g", "--to-offset", "-5"}, "invalid --to-offset -5"},
		{"bad offset syntax", []string{"group", "reset-offsets", "g", "--to-offset", "ten"}, `invalid argument "ten"`},
		{"no mode", []string{"group", "reset-offsets", "g"}, "at least one of the flags"},
		{"two modes", []string{"group", "reset-offsets", "g", "--to-earliest", "--to-latest"}, "none of the others can be"},
		{"delete unknown", []string{"group", "delete", "nope"}, "1 of 1 failed"},
	} {
		t.Run(tc.name, func(t *testing.T) { fails(t, addr, "", tc.exp, tc.args...) })
	}
}
