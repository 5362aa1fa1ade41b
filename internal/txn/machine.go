package txn

import (
	"errors"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/group"
)

// Token identifies the request an answer belongs to; the driver maps it to
// the waiting caller.
type Token uint64

// Events: the inputs to Machine.Step. Requests carry a Token and are
// answered by a Reply effect, maybe after I/O completions.
type (
	// Init is InitProducerId. A nil TransactionalID is an idempotent
	// producer, answered with a new producer id.
	Init struct {
		Token Token
		InitRequest
	}
	// AddPartitions is AddPartitionsToTxn. Unknown lists the partitions
	// that do not exist (the driver looks them up before the step).
	AddPartitions struct {
		Token      Token
		ID         string
		PID        int64
		Epoch      int16
		Partitions []group.TopicPartition
		Unknown    map[group.TopicPartition]bool
		Fenced     *kerr.Error
	}
	// AddOffsets is AddOffsetsToTxn.
	AddOffsets struct {
		Token  Token
		ID     string
		PID    int64
		Epoch  int16
		Group  string
		Fenced *kerr.Error
	}
	// TxnOffsetCommit is TxnOffsetCommit.
	TxnOffsetCommit struct {
		Token Token
		OffsetCommit
		// CheckGroup asks for the member and generation to be checked
		// with the group (CheckGroup effect) before the offsets are
		// stored.
		CheckGroup bool
	}
	// EndTxn is EndTxn.
	EndTxn struct {
		Token  Token
		ID     string
		PID    int64
		Epoch  int16
		Commit bool
		Fenced *kerr.Error
	}
	// Tick advances time: Ongoing transactions past their timeout are
	// aborted at a bumped epoch.
	Tick struct{}
	// Loaded is the replayed __transaction_state, in log order. The
	// machine then completes every Prepare* transaction.
	Loaded struct{ entries []logEntry }

	// StateWritten completes a WriteState: Err nil once the records are
	// appended (and durable, if asked).
	StateWritten struct {
		ID  string
		Err error
	}
	// MarkersWritten completes the first half of WriteMarkers: markers
	// appended and, for a commit, offsets committed to their groups.
	MarkersWritten struct {
		ID  string
		Err error
	}
	// MarkersDurable completes WriteMarkers: the markers are durable.
	// It follows MarkersWritten only when that succeeded.
	MarkersDurable struct {
		ID  string
		Err error
	}
	// GroupChecked completes CheckGroup.
	GroupChecked struct {
		ID  string
		Err *kerr.Error
	}
	// BlockWritten completes AllocatePIDBlock.
	BlockWritten struct {
		End int64
		Err error
	}
)

// Effects: the outputs of Machine.Step, to be carried out in order.
type (
	// Reply answers the request with Token. Resp is an InitResult for
	// Init, an AddPartitionsResult for AddPartitions, and a *kerr.Error
	// (nil: success) for the others.
	Reply struct {
		Token Token
		Resp  any
	}
	// WriteState appends Records to __transaction_state in one batch and
	// answers StateWritten once they are appended and, with Durable,
	// durable. Appends must happen in the order of the effects.
	WriteState struct {
		ID      string
		Records [][2][]byte
		Durable bool
	}
	// WriteMarkers writes the transaction's end markers to Partitions
	// and, for a commit, Offsets to their groups; it answers
	// MarkersWritten, then (after success) MarkersDurable.
	WriteMarkers struct {
		ID         string
		PID        int64
		Epoch      int16
		Commit     bool
		Partitions []group.TopicPartition
		Offsets    map[string]map[group.TopicPartition]group.Offset
	}
	// CheckGroup checks a TxnOffsetCommit's member and generation with the
	// group coordinator and answers GroupChecked.
	CheckGroup struct {
		ID, Group, MemberID, InstanceID string
		Generation                      int32
	}
	// AllocatePIDBlock durably records that producer ids below End are
	// taken and answers BlockWritten.
	AllocatePIDBlock struct{ End int64 }
	// Publish makes a transactional id's state visible to Verify, Pending,
	// Describe and List.
	Publish struct {
		ID    string
		state *meta // nil: the id is gone
	}
	// Log asks for a log line.
	Log struct {
		Level slog.Level
		Msg   string
		ID    string
		Err   error
	}
)

// InitResult answers Init.
type InitResult struct {
	PID   int64
	Epoch int16
	Err   *kerr.Error
}

// AddPartitionsResult answers AddPartitions: per partition errors, or a
// request-wide one.
type AddPartitionsResult struct {
	Partitions map[group.TopicPartition]*kerr.Error
	Err        *kerr.Error
}

// errNoPID is a failed producer id block write, as a bump sees it.
var errNoPID = errors.New("no producer id: block write failed")

// Machine is the transaction coordinator's state: every transactional id
// and the producer id allocator. It does no I/O, takes no locks and reads
// no clock: one goroutine calls Step with the time.
//
// A transactional id runs one operation at a time, as a chain of steps
// joined by I/O completions; the requests that arrive meanwhile wait in
// its queue, in order, as they waited for its lock before.
type Machine struct {
	maxTimeout time.Duration

	ids map[string]*entry
	// nextPID < blockEnd, or a block must be written before an id is
	// handed out. Invariant: blockEnd only grows.
	nextPID, blockEnd int64
	blockInFlight     bool
	pidWaiters        []func(pid int64, err error)

	// set for the duration of one Step
	nowMs int64
	out   []any
}

// entry is one transactional id.
type entry struct {
	id string
	m  *meta // the written state; nil until the first write succeeds
	// busy is set while an operation runs; wait is its continuation,
	// called with the completion the operation waits for.
	busy  bool
	wait  func(ev any)
	queue []any
}

// NewMachine returns an empty machine; maxTimeout bounds transaction
// timeouts (transaction.max.timeout.ms).
func NewMachine(maxTimeout time.Duration) *Machine {
	return &Machine{maxTimeout: maxTimeout, ids: map[string]*entry{}}
}

// Busy reports how many operations run or wait for a producer id block.
func (s *Machine) Busy() int {
	n := 0
	for _, e := range s.ids {
		if e.busy {
			n++
		}
	}
	return n + len(s.pidWaiters)
}

// Step applies one event at time now and returns the effects, in order.
func (s *Machine) Step(now time.Time, ev any) []any {
	s.nowMs, s.out = now.UnixMilli(), nil
	switch ev := ev.(type) {
	case Init:
		s.stepInit(ev)
	case AddPartitions:
		s.request(ev.ID, ev.Token, ev)
	case AddOffsets:
		if ev.Group == "" {
			s.reply(ev.Token, kerr.InvalidGroupID)
			break
		}
		s.request(ev.ID, ev.Token, ev)
	case TxnOffsetCommit:
		s.request(ev.TransactionalID, ev.Token, ev)
	case EndTxn:
		s.request(ev.ID, ev.Token, ev)
	case Tick:
		s.stepTick()
	case Loaded:
		s.load(ev.entries)
	case StateWritten:
		s.resume(ev.ID, ev)
	case MarkersWritten:
		s.resume(ev.ID, ev)
	case MarkersDurable:
		s.resume(ev.ID, ev)
	case GroupChecked:
		s.resume(ev.ID, ev)
	case BlockWritten:
		s.blockWritten(ev)
	default:
		panic("txn: unknown event")
	}
	out := s.out
	s.out = nil
	return out
}

func (s *Machine) emit(eff any) { s.out = append(s.out, eff) }

func (s *Machine) reply(t Token, resp any) { s.emit(Reply{Token: t, Resp: resp}) }

func (s *Machine) log(level slog.Level, msg, id string, err error) {
	s.emit(Log{Level: level, Msg: msg, ID: id, Err: err})
}

// code is the answer to a failed write: NOT_COORDINATOR for a storage
// error (a full disk, an I/O error), as Kafka's coordinators answer; the
// client finds the coordinator again and retries, which succeeds once
// space returns. Anything else is COORDINATOR_NOT_AVAILABLE.
func code(err error) *kerr.Error {
	switch {
	case err == nil:
		return nil
	case broker.IsStorageError(err):
		return kerr.NotCoordinator
	}
	return kerr.CoordinatorNotAvailable
}

// ---- operations and their queue ----

// request starts ev on id, or queues it behind the running operation.
func (s *Machine) request(id string, tok Token, ev any) {
	e := s.ids[id]
	if e == nil {
		s.reply(tok, kerr.InvalidProducerIDMapping)
		return
	}
	if e.busy {
		e.queue = append(e.queue, ev)
		return
	}
	s.start(e, ev)
}

// start runs ev on the idle e.
func (s *Machine) start(e *entry, ev any) {
	e.busy = true
	switch ev := ev.(type) {
	case Init:
		s.startInit(e, ev)
	case AddPartitions:
		s.checked(e, ev.Token, ev.PID, ev.Epoch, ev.Fenced, func() { s.addPartitions(e, ev) })
	case AddOffsets:
		s.checked(e, ev.Token, ev.PID, ev.Epoch, ev.Fenced, func() { s.addOffsets(e, ev) })
	case TxnOffsetCommit:
		s.checked(e, ev.Token, ev.ProducerID, ev.Epoch, ev.Fenced, func() { s.commitOffsets(e, ev) })
	case EndTxn:
		s.checked(e, ev.Token, ev.PID, ev.Epoch, ev.Fenced, func() { s.endTxn(e, ev) })
	case timeoutAbort:
		s.abortTimedOut(e)
	}
}

// done ends e's operation and starts the next queued one.
func (s *Machine) done(e *entry) {
	e.busy, e.wait = false, nil
	for !e.busy && len(e.queue) > 0 {
		ev := e.queue[0]
		e.queue = e.queue[1:]
		if e.m == nil {
			if _, ok := ev.(Init); !ok {
				s.reply(tokenOf(ev), kerr.InvalidProducerIDMapping)
				continue
			}
		}
		s.start(e, ev)
	}
	if !e.busy && e.m == nil {
		delete(s.ids, e.id) // an Init that failed to write
	}
}

// finish answers tok and ends e's operation.
func (s *Machine) finish(e *entry, tok Token, resp any) {
	s.reply(tok, resp)
	s.done(e)
}

func tokenOf(ev any) Token {
	switch ev := ev.(type) {
	case Init:
		return ev.Token
	case AddPartitions:
		return ev.Token
	case AddOffsets:
		return ev.Token
	case TxnOffsetCommit:
		return ev.Token
	case EndTxn:
		return ev.Token
	}
	return 0
}

// resume hands an I/O completion to the operation waiting for it.
func (s *Machine) resume(id string, ev any) {
	e := s.ids[id]
	if e == nil || e.wait == nil {
		panic("txn: completion for an id with no operation waiting")
	}
	w := e.wait
	e.wait = nil
	w(ev)
}

// ---- I/O as continuations ----

// write appends recs and, once written, makes nm e's state; then k.
func (s *Machine) write(e *entry, nm *meta, recs [][2][]byte, durable bool, k func(err error)) {
	s.emit(WriteState{ID: e.id, Records: recs, Durable: durable})
	e.wait = func(ev any) {
		err := ev.(StateWritten).Err
		if err == nil {
			s.publish(e, nm)
		}
		k(err)
	}
}

// persist writes nm's state record, durably.
func (s *Machine) persist(e *entry, nm *meta, k func(err error)) {
	s.write(e, nm, [][2][]byte{{metaKey(nm.id), metaValue(nm)}}, true, k)
}

func (s *Machine) publish(e *entry, m *meta) {
	e.m = m
	s.emit(Publish{ID: e.id, state: m})
}

// withPID calls k with a new producer id, writing a block first when the
// current one is used up.
func (s *Machine) withPID(k func(pid int64, err error)) {
	if s.nextPID < s.blockEnd {
		s.nextPID++
		k(s.nextPID-1, nil)
		return
	}
	s.pidWaiters = append(s.pidWaiters, k)
	if !s.blockInFlight {
		s.blockInFlight = true
		s.emit(AllocatePIDBlock{End: s.blockEnd + pidBlockSize})
	}
}

func (s *Machine) blockWritten(ev BlockWritten) {
	s.blockInFlight = false
	if ev.Err == nil {
		s.blockEnd = max(s.blockEnd, ev.End)
	}
	ws := s.pidWaiters
	s.pidWaiters = nil
	for _, k := range ws {
		if ev.Err != nil {
			k(-1, ev.Err)
			continue
		}
		s.withPID(k)
	}
}

// bump calls k with m at the next epoch, or at a new producer id when the
// epoch is exhausted.
func (s *Machine) bump(m *meta, k func(nm *meta, err error)) {
	if m.epoch < math.MaxInt16-1 {
		k(m.bumped(-1), nil)
		return
	}
	s.withPID(func(pid int64, err error) {
		if err != nil {
			k(nil, errNoPID)
			return
		}
		k(m.bumped(pid), nil)
	})
}

// complete writes the markers of a Prepare* transaction and, for a
// commit, its offsets to their groups; once the markers are durable it
// records the transaction complete. The Complete* record need not be
// durable: a crash before it replays as Prepare* and completes again
// (markers and offset commits are idempotent). marked, if not nil, is
// called once the markers are appended (or failed).
func (s *Machine) complete(e *entry, m *meta, marked, k func(err error)) {
	commit := m.state == PrepareCommit
	w := WriteMarkers{ID: e.id, PID: m.pid, Epoch: m.epoch, Commit: commit, Partitions: m.partitions()}
	if commit {
		w.Offsets = m.offsets
	}
	s.emit(w)
	e.wait = func(ev any) {
		err := ev.(MarkersWritten).Err
		if marked != nil {
			marked(err)
		}
		if err != nil {
			k(err)
			return
		}
		e.wait = func(ev any) {
			if err := ev.(MarkersDurable).Err; err != nil {
				k(err)
				return
			}
			done := m.ended(commit, s.nowMs)
			recs := [][2][]byte{{metaKey(done.id), metaValue(done)}}
			if len(m.offsets) > 0 {
				recs = append(recs, [2][]byte{offsetsKey(m.id), nil})
			}
			s.write(e, done, recs, false, k)
		}
	}
}

// end moves an Ongoing transaction to Prepare*, makes that durable and
// completes it.
func (s *Machine) end(e *entry, m *meta, commit bool, marked, k func(err error)) {
	prep := m.clone()
	prep.state, prep.updated = PrepareAbort, s.nowMs
	if commit {
		prep.state = PrepareCommit
	}
	s.persist(e, prep, func(err error) {
		if err != nil {
			k(err)
			return
		}
		s.complete(e, prep, marked, k)
	})
}

// ---- requests ----

func (s *Machine) stepInit(ev Init) {
	if ev.TransactionalID == nil {
		s.withPID(func(pid int64, err error) {
			if err != nil {
				s.reply(ev.Token, InitResult{PID: -1, Epoch: -1, Err: kerr.CoordinatorNotAvailable})
				return
			}
			s.reply(ev.Token, InitResult{PID: pid})
		})
		return
	}
	id := *ev.TransactionalID
	if id == "" {
		s.reply(ev.Token, InitResult{PID: -1, Epoch: -1, Err: kerr.InvalidRequest})
		return
	}
	if ev.TimeoutMs <= 0 || time.Duration(ev.TimeoutMs)*time.Millisecond > s.maxTimeout {
		s.reply(ev.Token, InitResult{PID: -1, Epoch: -1, Err: kerr.InvalidTransactionTimeout})
		return
	}
	e := s.ids[id]
	if e == nil {
		e = &entry{id: id}
		s.ids[id] = e
	}
	if e.busy {
		e.queue = append(e.queue, ev)
		return
	}
	s.start(e, ev)
}

// startInit gives the transactional id its producer id at the next epoch,
// which fences every older producer; what an older producer left open is
// aborted (at the new epoch) and a half-ended transaction completed first.
func (s *Machine) startInit(e *entry, ev Init) {
	fail := func(kerrv *kerr.Error) { s.finish(e, ev.Token, InitResult{PID: -1, Epoch: -1, Err: kerrv}) }
	reset := func(nm *meta) {
		nm = nm.clone()
		nm.state, nm.timeoutMs, nm.updated = Empty, ev.TimeoutMs, s.nowMs
		nm.parts, nm.offsets = nil, nil
		s.persist(e, nm, func(err error) {
			if err != nil {
				fail(code(err))
				return
			}
			s.finish(e, ev.Token, InitResult{PID: nm.pid, Epoch: nm.epoch})
		})
	}
	m := e.m
	if m == nil || m.state == Dead {
		s.withPID(func(pid int64, err error) {
			if err != nil {
				fail(kerr.CoordinatorNotAvailable)
				return
			}
			reset(&meta{id: e.id, pid: pid})
		})
		return
	}
	if ev.ProducerID >= 0 {
		current := ev.ProducerID == m.pid && ev.Epoch == m.epoch
		timedOut := m.timedOut && ev.ProducerID == m.pid && ev.Epoch == m.epoch-1
		if !current && !timedOut {
			fail(ev.Fenced)
			return
		}
	}
	s.finishForInit(e, m, func(bumped bool, err error) {
		if err != nil {
			fail(code(err))
			return
		}
		if bumped {
			reset(e.m)
			return
		}
		s.bump(e.m, func(nm *meta, err error) {
			if err != nil {
				fail(kerr.CoordinatorNotAvailable)
				return
			}
			reset(nm)
		})
	})
}

// finishForInit ends what an older producer left: an Ongoing transaction
// is aborted at a bumped epoch (which also fences the older producer's
// produce requests at every partition; bumped is then true), a Prepare*
// one completed.
func (s *Machine) finishForInit(e *entry, m *meta, k func(bumped bool, err error)) {
	switch m.state {
	case Ongoing:
		s.bump(m, func(b *meta, err error) {
			if err != nil {
				k(false, err)
				return
			}
			s.end(e, b, false, nil, func(err error) { k(err == nil, err) })
		})
	case PrepareCommit, PrepareAbort:
		s.complete(e, m, nil, func(err error) { k(false, err) })
	default:
		k(false, nil)
	}
}

// checked checks a request's producer against e and completes a Prepare*
// transaction a failure left (the request retries it); then next.
func (s *Machine) checked(e *entry, tok Token, pid int64, epoch int16, fenced *kerr.Error, next func()) {
	if kerrv := e.m.checkProducer(pid, epoch, fenced); kerrv != nil {
		s.finish(e, tok, kerrv)
		return
	}
	if e.m.state != PrepareCommit && e.m.state != PrepareAbort {
		next()
		return
	}
	s.complete(e, e.m, nil, func(err error) {
		if err != nil {
			s.finish(e, tok, code(err))
			return
		}
		next()
	})
}

// addPartitions adds partitions, beginning the transaction if needed.
// Unknown partitions get UNKNOWN_TOPIC_OR_PARTITION and then the others
// OPERATION_NOT_ATTEMPTED, as in Kafka.
func (s *Machine) addPartitions(e *entry, ev AddPartitions) {
	out := map[group.TopicPartition]*kerr.Error{}
	if len(ev.Unknown) > 0 {
		for _, tp := range ev.Partitions {
			out[tp] = kerr.OperationNotAttempted
			if ev.Unknown[tp] {
				out[tp] = kerr.UnknownTopicOrPartition
			}
		}
		s.finish(e, ev.Token, AddPartitionsResult{Partitions: out})
		return
	}
	nm := e.m.clone()
	changed := nm.state != Ongoing
	nm.begin(s.nowMs)
	for _, tp := range ev.Partitions {
		if !nm.parts[tp] {
			nm.addPartition(tp)
			changed = true
		}
	}
	if !changed {
		s.finish(e, ev.Token, AddPartitionsResult{Partitions: out})
		return
	}
	s.persist(e, nm, func(err error) {
		if err != nil {
			s.finish(e, ev.Token, AddPartitionsResult{Err: code(err)})
			return
		}
		s.finish(e, ev.Token, AddPartitionsResult{Partitions: out})
	})
}

// addOffsets adds a group, so TxnOffsetCommit may store offsets for it.
func (s *Machine) addOffsets(e *entry, ev AddOffsets) {
	if _, ok := e.m.offsets[ev.Group]; ok && e.m.state == Ongoing {
		s.finish(e, ev.Token, (*kerr.Error)(nil))
		return
	}
	nm := e.m.clone()
	nm.begin(s.nowMs)
	if nm.offsets[ev.Group] == nil {
		nm.offsets[ev.Group] = map[group.TopicPartition]group.Offset{}
	}
	recs := [][2][]byte{{metaKey(nm.id), metaValue(nm)}, {offsetsKey(nm.id), offsetsValue(nm)}}
	s.write(e, nm, recs, true, func(err error) { s.finish(e, ev.Token, code(err)) })
}

// commitOffsets stores offsets in the transaction: they reach the group
// when it commits, and are dropped if it aborts. The group checks the
// member and generation first, as for OffsetCommit (KIP-447).
func (s *Machine) commitOffsets(e *entry, ev TxnOffsetCommit) {
	if _, ok := e.m.offsets[ev.Group]; !ok || e.m.state != Ongoing {
		s.finish(e, ev.Token, kerr.InvalidTxnState)
		return
	}
	store := func() {
		nm := e.m.clone()
		nm.updated = s.nowMs
		for tp, o := range ev.Offsets {
			nm.offsets[ev.Group][tp] = o
		}
		s.write(e, nm, [][2][]byte{{offsetsKey(nm.id), offsetsValue(nm)}}, true, func(err error) { s.finish(e, ev.Token, code(err)) })
	}
	if !ev.CheckGroup {
		store()
		return
	}
	s.emit(CheckGroup{ID: e.id, Group: ev.Group, MemberID: ev.MemberID, InstanceID: ev.InstanceID, Generation: ev.Generation})
	e.wait = func(done any) {
		if kerrv := done.(GroupChecked).Err; kerrv != nil {
			s.finish(e, ev.Token, kerrv)
			return
		}
		store()
	}
}

// endTxn commits or aborts. A retry of an end that already happened
// succeeds. The answer comes once the decision (Prepare*) is durable and
// the markers are appended; the id's next request waits for the rest.
func (s *Machine) endTxn(e *entry, ev EndTxn) {
	switch m := e.m; {
	case m.state == Ongoing:
	case m.state == CompleteCommit && ev.Commit, m.state == CompleteAbort && !ev.Commit:
		s.finish(e, ev.Token, (*kerr.Error)(nil))
		return
	default:
		s.finish(e, ev.Token, kerr.InvalidTxnState)
		return
	}
	replied := false
	marked := func(err error) {
		replied = true
		s.reply(ev.Token, code(err))
	}
	s.end(e, e.m, ev.Commit, marked, func(err error) {
		switch {
		case !replied:
			s.reply(ev.Token, code(err))
		case err != nil:
			s.log(slog.LevelError, "complete transaction; the next request retries", e.id, err)
		}
		s.done(e)
	})
}

// sorted returns the entries by id, so that effects come in an order
// that does not depend on map iteration.
func (s *Machine) sorted() []*entry {
	out := slices.Collect(maps.Values(s.ids))
	slices.SortFunc(out, func(a, b *entry) int { return strings.Compare(a.id, b.id) })
	return out
}

// ---- timeouts ----

// timeoutAbort is the operation that aborts a timed-out transaction.
type timeoutAbort struct{}

// stepTick aborts every idle Ongoing transaction older than its timeout.
// A busy one is looked at again on the next Tick.
func (s *Machine) stepTick() {
	for _, e := range s.sorted() {
		if !e.busy && e.m != nil && e.m.state == Ongoing && s.nowMs-e.m.start >= int64(e.m.timeoutMs) {
			s.start(e, timeoutAbort{})
		}
	}
}

// abortTimedOut aborts e's transaction at a bumped epoch, which fences the
// producer (Kafka does the same); the producer may re-initialize from the
// epoch before (timedOut).
func (s *Machine) abortTimedOut(e *entry) {
	m := e.m
	s.bump(m, func(b *meta, err error) {
		if err != nil {
			s.done(e)
			return
		}
		s.log(slog.LevelInfo, "aborting timed out transaction", e.id, nil)
		s.end(e, b, false, nil, func(err error) {
			if err != nil {
				s.log(slog.LevelError, "abort timed out transaction", e.id, err)
			} else if e.m.epoch == b.epoch {
				tm := e.m.clone()
				tm.timedOut = true
				e.m = tm
			}
			s.done(e)
		})
	})
}

// ---- replay ----

// load applies the replayed log and completes the Prepare* transactions
// a crash left.
func (s *Machine) load(entries []logEntry) {
	pending := map[string]*offsetsRecord{}
	for _, le := range entries {
		switch le.kind {
		case keyPIDBlock:
			s.blockEnd = max(s.blockEnd, le.blockEnd)
		case keyOffsets:
			pending[le.id] = le.offsets
		case keyTxnMeta:
			if le.meta == nil {
				delete(s.ids, le.id)
				continue
			}
			s.ids[le.id] = &entry{id: le.id, m: le.meta}
			s.blockEnd = max(s.blockEnd, le.meta.pid+1)
		}
	}
	s.nextPID = s.blockEnd
	for _, e := range s.sorted() {
		id, m := e.id, e.m
		if m.offsets == nil {
			m.offsets = map[string]map[group.TopicPartition]group.Offset{}
		}
		if r := pending[id]; r != nil && m.open() && r.PID == m.pid && r.Epoch == m.epoch {
			m.offsets = r.toMap()
		}
		s.emit(Publish{ID: id, state: m})
	}
	for _, e := range s.sorted() {
		if e.m.state == PrepareCommit || e.m.state == PrepareAbort {
			e.busy = true
			s.complete(e, e.m, nil, func(err error) {
				if err != nil {
					s.log(slog.LevelError, "complete transaction at start", e.id, err)
				}
				s.done(e)
			})
		}
	}
}
