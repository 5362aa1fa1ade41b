package txn

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/heraldhq/herald/internal/group"
	"github.com/heraldhq/herald/internal/testenv"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/*.txt")

// TestScenarios runs the scenario files in testdata against the Machine:
// each block is a command, a "----" line and the expected output (the
// effects, in order), ended by a blank line. Lines starting with # are
// comments. Run with -rewrite to regenerate the expected output.
//
// The harness plays the driver: it keeps the I/O the machine asked for
// pending until an io command completes it, and a log of what was
// written, which restart replays through the real record encoding.
//
// Commands (times are Go durations; partitions are topic/partition):
//
//	init [id=t] [timeout=60s] [pid=N epoch=N] [fenced=ERR]   (no id: idempotent)
//	add id=t pid=N epoch=N parts=a/0,b/1 [unknown=b/1] [fenced=ERR]
//	add-offsets id=t pid=N epoch=N group=g
//	commit-offsets id=t pid=N epoch=N group=g offsets=a/0:5,a/1:7 [member=m gen=N]
//	end id=t pid=N epoch=N commit|abort
//	tick 10s
//	io [n=N] [id=t] [fail=storage|other|KAFKA_ERROR]   complete pending I/O in
//	                          order (all, or n; only id's); fail fails the first
//	seed id=t pid=N epoch=N state=S [timeout=60s] [parts=a/0]   write a state record
//	restart                                     drop pending I/O, replay the log
//	describe
func TestScenarios(t *testing.T) {
	testenv.Scenarios(t, "testdata/*.txt", *rewrite, func(t *testing.T) func(cmd string) string {
		h := &harness{t: t, sm: NewMachine(15 * time.Minute), now: time.Unix(1000, 0), names: map[Token]string{}}
		return h.run
	})
}

// pendingIO is an effect waiting for its completion.
type pendingIO struct {
	eff any
	// durable is the second half of WriteMarkers, once its markers are
	// appended.
	durable bool
}

type harness struct {
	t       *testing.T
	sm      *Machine
	now     time.Time
	tok     Token
	names   map[Token]string
	pending []pendingIO
	log     [][2][]byte // what was written, in order
	lines   []string
}

func (h *harness) token(name string) Token {
	h.tok++
	h.names[h.tok] = fmt.Sprintf("%s #%d", strings.TrimSpace(name), h.tok)
	return h.tok
}

func args(fields []string) map[string]string {
	m := map[string]string{}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		m[k] = v
	}
	return m
}

func (h *harness) num(a map[string]string, k string, def int64) int64 {
	v, ok := a[k]
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		h.t.Fatalf("%s=%q: %v", k, v, err)
	}
	return n
}

func (h *harness) dur(s, def string) time.Duration {
	if s == "" {
		s = def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		h.t.Fatal(err)
	}
	return d
}

func (h *harness) kerrNamed(name, def string) *kerr.Error {
	if name == "" {
		name = def
	}
	for code := int16(-1); code < 200; code++ {
		var e *kerr.Error
		if errors.As(kerr.ErrorForCode(code), &e) && e.Message == name {
			return e
		}
	}
	h.t.Fatalf("unknown Kafka error %q", name)
	return nil
}

func (h *harness) tps(s string) []group.TopicPartition {
	var out []group.TopicPartition
	for _, x := range strings.Split(s, ",") {
		if x == "" {
			continue
		}
		topic, p, _ := strings.Cut(x, "/")
		n, err := strconv.Atoi(p)
		if err != nil {
			h.t.Fatalf("partition %q: %v", x, err)
		}
		out = append(out, group.TopicPartition{Topic: topic, Partition: int32(n)})
	}
	return out
}

func (h *harness) run(cmd string) string {
	f := strings.Fields(cmd)
	a := args(f[1:])
	h.lines = nil
	switch f[0] {
	case "io":
		h.completeIO(int(h.num(a, "n", -1)), a["id"], a["fail"])
	case "tick":
		h.now = h.now.Add(h.dur(f[1], ""))
		h.step(Tick{})
	case "restart":
		h.restart()
	case "seed":
		h.seed(a)
	case "describe":
		return h.describe()
	default:
		h.step(h.request(f[0], a, f[1:]))
	}
	if len(h.lines) == 0 {
		return "(nothing)"
	}
	return strings.Join(h.lines, "\n")
}

func (h *harness) request(cmd string, a map[string]string, fields []string) any {
	id := a["id"]
	pid, epoch := h.num(a, "pid", -1), int16(h.num(a, "epoch", -1))
	fenced := h.kerrNamed(a["fenced"], "PRODUCER_FENCED")
	switch cmd {
	case "init":
		r := InitRequest{TimeoutMs: int32(h.dur(a["timeout"], "60s").Milliseconds()), ProducerID: pid, Epoch: epoch, Fenced: fenced}
		if v, ok := a["id"]; ok {
			r.TransactionalID = &v
		}
		return Init{Token: h.token("init " + id), InitRequest: r}
	case "add":
		ev := AddPartitions{Token: h.token("add " + id), ID: id, PID: pid, Epoch: epoch, Partitions: h.tps(a["parts"]), Fenced: fenced}
		for _, tp := range h.tps(a["unknown"]) {
			if ev.Unknown == nil {
				ev.Unknown = map[group.TopicPartition]bool{}
			}
			ev.Unknown[tp] = true
		}
		return ev
	case "add-offsets":
		return AddOffsets{Token: h.token("add-offsets " + id), ID: id, PID: pid, Epoch: epoch, Group: a["group"], Fenced: fenced}
	case "commit-offsets":
		oc := OffsetCommit{TransactionalID: id, Group: a["group"], ProducerID: pid, Epoch: epoch, Generation: int32(h.num(a, "gen", -1)),
			MemberID: a["member"], Offsets: map[group.TopicPartition]group.Offset{}, Fenced: fenced}
		for _, x := range strings.Split(a["offsets"], ",") {
			tp, o, _ := strings.Cut(x, ":")
			n, _ := strconv.ParseInt(o, 10, 64)
			oc.Offsets[h.tps(tp)[0]] = group.Offset{Offset: n, LeaderEpoch: -1}
		}
		return TxnOffsetCommit{Token: h.token("commit-offsets " + id), OffsetCommit: oc, CheckGroup: oc.Generation >= 0 || oc.MemberID != ""}
	case "end":
		commit := slices.Contains(fields, "commit")
		return EndTxn{Token: h.token("end " + id), ID: id, PID: pid, Epoch: epoch, Commit: commit, Fenced: fenced}
	}
	h.t.Fatalf("unknown command %q", cmd)
	return nil
}

// step feeds ev and carries out the effects as the driver would: writes
// that need no durability complete at once, everything else waits for io.
func (h *harness) step(ev any) {
	local := []any{ev}
	for len(local) > 0 {
		ev := local[0]
		local = local[1:]
		for _, eff := range h.sm.Step(h.now, ev) {
			h.lines = append(h.lines, h.effect(eff))
			if w, ok := eff.(WriteState); ok && !w.Durable {
				h.log = append(h.log, w.Records...)
				local = append(local, StateWritten{ID: w.ID})
				continue
			}
			switch eff.(type) {
			case WriteState, WriteMarkers, CheckGroup, AllocatePIDBlock:
				h.pending = append(h.pending, pendingIO{eff: eff})
			}
		}
	}
}

// completeIO completes n pending I/Os (all, and those they cause, for
// n < 0), in order, only id's if id is set; fail fails the first.
func (h *harness) completeIO(n int, id, fail string) {
	for i := 0; n < 0 || i < n; i++ {
		j := slices.IndexFunc(h.pending, func(p pendingIO) bool { return id == "" || ioID(p.eff) == id })
		if j < 0 {
			if i == 0 {
				h.t.Fatalf("io: nothing pending (id %q)", id)
			}
			return
		}
		p := h.pending[j]
		h.pending = slices.Delete(h.pending, j, j+1)
		var failWith string
		if i == 0 {
			failWith = fail
		}
		h.step(h.completion(p, failWith))
	}
}

func ioID(eff any) string {
	switch eff := eff.(type) {
	case WriteState:
		return eff.ID
	case WriteMarkers:
		return eff.ID
	case CheckGroup:
		return eff.ID
	}
	return ""
}

func (h *harness) ioErr(fail string) error {
	switch fail {
	case "":
		return nil
	case "storage":
		return fmt.Errorf("append: %w", syscall.ENOSPC)
	case "other":
		return errors.New("boom")
	}
	h.t.Fatalf("fail=%q: want storage or other", fail)
	return nil
}

func (h *harness) completion(p pendingIO, fail string) any {
	switch eff := p.eff.(type) {
	case WriteState:
		err := h.ioErr(fail)
		h.lines = append(h.lines, fmt.Sprintf("< written %s%s", eff.ID, errSuffix(err)))
		if err == nil {
			h.log = append(h.log, eff.Records...)
		}
		return StateWritten{ID: eff.ID, Err: err}
	case WriteMarkers:
		err := h.ioErr(fail)
		if p.durable {
			h.lines = append(h.lines, fmt.Sprintf("< markers durable %s%s", eff.ID, errSuffix(err)))
			return MarkersDurable{ID: eff.ID, Err: err}
		}
		h.lines = append(h.lines, fmt.Sprintf("< markers written %s%s", eff.ID, errSuffix(err)))
		if err == nil {
			h.pending = append(h.pending, pendingIO{eff: eff, durable: true})
		}
		return MarkersWritten{ID: eff.ID, Err: err}
	case CheckGroup:
		var kerrv *kerr.Error
		if fail != "" {
			kerrv = h.kerrNamed(fail, "")
		}
		h.lines = append(h.lines, fmt.Sprintf("< group checked %s: %s", eff.ID, errString(kerrv)))
		return GroupChecked{ID: eff.ID, Err: kerrv}
	case AllocatePIDBlock:
		err := h.ioErr(fail)
		h.lines = append(h.lines, fmt.Sprintf("< block written%s", errSuffix(err)))
		if err == nil {
			h.log = append(h.log, [2][]byte{pidBlockKey(), pidBlockValue(eff.End)})
		}
		return BlockWritten{End: eff.End, Err: err}
	}
	h.t.Fatalf("pending %T", p.eff)
	return nil
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}

func errString(e *kerr.Error) string {
	if e == nil {
		return "NONE"
	}
	return e.Message
}

// restart replays the log into a new machine, as Open does after a
// crash: pending I/O is lost.
func (h *harness) restart() {
	h.pending = nil
	var entries []logEntry
	for _, kv := range h.log {
		e, err := decodeLogEntry(kv[0], kv[1])
		if err != nil {
			h.t.Fatalf("replay: %v", err)
		}
		entries = append(entries, e)
	}
	h.sm = NewMachine(15 * time.Minute)
	h.step(Loaded{entries: entries})
}

// seed writes a state record to the log directly, for states a scenario
// cannot reach quickly (an exhausted epoch); restart loads it.
func (h *harness) seed(a map[string]string) {
	m := &meta{id: a["id"], pid: h.num(a, "pid", 0), epoch: int16(h.num(a, "epoch", 0)),
		timeoutMs: int32(h.dur(a["timeout"], "60s").Milliseconds()), updated: h.now.UnixMilli(), start: h.now.UnixMilli()}
	for s := Empty; s <= Dead; s++ {
		if s.String() == a["state"] {
			m.state = s
		}
	}
	for _, tp := range h.tps(a["parts"]) {
		m.addPartition(tp)
	}
	h.log = append(h.log, [2][]byte{metaKey(m.id), metaValue(m)})
	h.lines = append(h.lines, "seeded "+h.metaString(m))
}

func (h *harness) effect(e any) string {
	switch e := e.(type) {
	case Reply:
		name := h.names[e.Token]
		switch r := e.Resp.(type) {
		case InitResult:
			if r.Err != nil {
				return fmt.Sprintf("reply %s: %s", name, errString(r.Err))
			}
			return fmt.Sprintf("reply %s: pid=%d epoch=%d", name, r.PID, r.Epoch)
		case AddPartitionsResult:
			if r.Err != nil {
				return fmt.Sprintf("reply %s: %s", name, errString(r.Err))
			}
			var ps []string
			for _, tp := range slices.SortedFunc(maps.Keys(r.Partitions), cmpTP) {
				ps = append(ps, fmt.Sprintf("%s/%d=%s", tp.Topic, tp.Partition, errString(r.Partitions[tp])))
			}
			if len(ps) == 0 {
				return fmt.Sprintf("reply %s: NONE", name)
			}
			return fmt.Sprintf("reply %s: %s", name, strings.Join(ps, " "))
		case *kerr.Error:
			return fmt.Sprintf("reply %s: %s", name, errString(r))
		}
		return fmt.Sprintf("reply %s: %v", name, e.Resp)
	case WriteState:
		return h.writeString(e)
	case WriteMarkers:
		s := fmt.Sprintf("write markers %s: abort pid=%d epoch=%d parts=%s", e.ID, e.PID, e.Epoch, tpsString(e.Partitions))
		if e.Commit {
			s = strings.Replace(s, "abort", "commit", 1)
			if len(e.Offsets) > 0 {
				s += " offsets=" + offsetsString(e.Offsets)
			}
		}
		return s
	case CheckGroup:
		return fmt.Sprintf("check group %s: member=%s gen=%d", e.Group, e.MemberID, e.Generation)
	case AllocatePIDBlock:
		return fmt.Sprintf("allocate pid block end=%d", e.End)
	case Publish:
		if e.state == nil {
			return "publish " + e.ID + ": gone"
		}
		return "publish " + h.metaString(e.state)
	case Log:
		s := fmt.Sprintf("log %s %q %s", e.Level, e.Msg, e.ID)
		if e.Err != nil {
			s += ": " + e.Err.Error()
		}
		return s
	}
	return fmt.Sprintf("%T", e)
}

func (h *harness) writeString(w WriteState) string {
	var recs []string
	for _, kv := range w.Records {
		le, err := decodeLogEntry(kv[0], kv[1])
		switch {
		case err != nil:
			recs = append(recs, "unreadable: "+err.Error())
		case le.kind == keyTxnMeta:
			recs = append(recs, "state "+h.metaString(le.meta))
		case le.kind == keyOffsets && le.offsets == nil:
			recs = append(recs, "offsets "+le.id+": tombstone")
		case le.kind == keyOffsets:
			recs = append(recs, fmt.Sprintf("offsets %s: pid=%d epoch=%d %s", le.id, le.offsets.PID, le.offsets.Epoch, offsetsString(le.offsets.toMap())))
		}
	}
	s := "write " + strings.Join(recs, "; ")
	if !w.Durable {
		s += " (no wait)"
	}
	return s
}

func (h *harness) metaString(m *meta) string {
	s := fmt.Sprintf("%s: %s pid=%d epoch=%d", m.id, m.state, m.pid, m.epoch)
	if len(m.parts) > 0 {
		s += " parts=" + tpsString(m.partitions())
	}
	if len(m.offsets) > 0 {
		s += " offsets=" + offsetsString(m.offsets)
	}
	return s
}

func cmpTP(a, b group.TopicPartition) int {
	if c := strings.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return int(a.Partition - b.Partition)
}

func tpsString(tps []group.TopicPartition) string {
	var out []string
	for _, tp := range tps {
		out = append(out, fmt.Sprintf("%s/%d", tp.Topic, tp.Partition))
	}
	return "[" + strings.Join(out, " ") + "]"
}

func offsetsString(offs map[string]map[group.TopicPartition]group.Offset) string {
	var gs []string
	for _, g := range slices.Sorted(maps.Keys(offs)) {
		var os []string
		for _, tp := range slices.SortedFunc(maps.Keys(offs[g]), cmpTP) {
			os = append(os, fmt.Sprintf("%s/%d:%d", tp.Topic, tp.Partition, offs[g][tp].Offset))
		}
		gs = append(gs, g+"{"+strings.Join(os, " ")+"}")
	}
	return strings.Join(gs, ",")
}

func (h *harness) describe() string {
	var lines []string
	for _, e := range h.sm.sorted() {
		s := "(initializing)"
		if e.m != nil {
			s = h.metaString(e.m)
		} else {
			s = e.id + ": " + s
		}
		if e.m != nil && e.m.timedOut {
			s += " timed-out"
		}
		if e.busy {
			s += fmt.Sprintf(" busy queued=%d", len(e.queue))
		}
		lines = append(lines, s)
	}
	lines = append(lines, fmt.Sprintf("next pid=%d block end=%d pending io=%d", h.sm.nextPID, h.sm.blockEnd, len(h.pending)))
	return strings.Join(lines, "\n")
}
