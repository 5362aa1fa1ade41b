package metadata

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/heraldhq/herald/internal/vfs"
)

// RepairReport is what Repair found and did (or, without Execute, would
// do), one sentence per line, for an operator to read.
type RepairReport struct {
	Findings []string // what is wrong, or that nothing is
	Actions  []string // what Repair does to fix it
	// Needed is false when the metadata needs no repair.
	Needed bool
	// Executed is true when the actions were carried out.
	Executed bool
	// MovedTo is where the damaged log was moved, when it was.
	MovedTo string
	// State is the metadata the repaired log holds.
	State *State
}

// RepairOptions configures Repair.
type RepairOptions struct {
	// Execute carries out the repair; without it Repair only reports.
	Execute bool
	Now     func() time.Time // for the damaged file's new name; default time.Now
}

// Repair rebuilds a damaged metadata log in dir. It takes the data dir's
// lock, so it refuses while a broker runs on dir. It rebuilds the state
// from the snapshot and every valid frame the log holds after what the
// snapshot covers; without a usable snapshot, from every valid frame in
// the log (skipping damaged ranges). Partition directories that belong to
// no topic of the rebuilt state are adopted: their topic is recreated with
// as many partitions as directories (and default configs, which are not
// known). With Execute, the damaged log is renamed aside (never deleted)
// and a new log and snapshot are written atomically.
func Repair(fsys vfs.FS, dir string, opts RepairOptions) (*RepairReport, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if _, err := fsys.Stat(dir); err != nil {
		return nil, fmt.Errorf("repair: %w", err)
	}
	lock, err := vfs.LockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("repair: %w", err)
	}
	defer lock.Unlock()
	d, err := inspect(fsys, dir)
	if err != nil {
		return nil, err
	}
	rep := &RepairReport{}
	refusal := d.refusal()
	d.describe(rep, refusal)
	if refusal == nil {
		rep.Findings = append(rep.Findings, "the metadata log is usable: nothing to repair")
		rep.State = d.scan.st
		return rep, nil
	}
	rep.Needed = true
	st := d.rebuild(rep)
	adoptDirs(st, d.partDirs, rep)
	rep.State = st
	aside := ""
	if d.logExists {
		aside = d.path + ".damaged-" + opts.Now().UTC().Format("20060102T150405Z")
		rep.Actions = append(rep.Actions, fmt.Sprintf("move the damaged log to %s (kept, not deleted)", aside))
	}
	rep.Actions = append(rep.Actions, fmt.Sprintf("write a new %s and %s with %d topics", FileName, SnapshotName, len(st.Topics)))
	if !opts.Execute {
		return rep, nil
	}
	// The snapshot first: until the new log is in place, a crash leaves the
	// damaged log beside a snapshot of the whole repaired state, and a
	// second repair finds it there.
	newLog, err := encodeLog(st)
	if err != nil {
		return rep, fmt.Errorf("repair: %w", err)
	}
	if err := writeSnapshot(fsys, dir, st, int64(len(newLog))); err != nil {
		return rep, fmt.Errorf("repair: %w", err)
	}
	if aside != "" {
		if err := fsys.Rename(d.path, aside); err != nil {
			return rep, fmt.Errorf("repair: %w", err)
		}
		rep.MovedTo = aside
	}
	if err := writeFileAtomic(fsys, dir, FileName, newLog); err != nil {
		return rep, fmt.Errorf("repair: write log: %w", err)
	}
	rep.Executed = true
	return rep, nil
}

// describe says what inspect found.
func (d *diag) describe(rep *RepairReport, refusal error) {
	add := func(format string, args ...any) { rep.Findings = append(rep.Findings, fmt.Sprintf(format, args...)) }
	switch {
	case !d.logExists:
		add("%s: missing", d.path)
	default:
		add("%s: %d bytes, %d valid records in the first %d bytes (%d topics)", d.path, len(d.data), d.scan.records, d.scan.good, len(d.scan.st.Topics))
	}
	switch {
	case !d.snapExists:
		add("%s: missing", d.snapPath)
	case d.snap == nil:
		add("%s: unusable: %v", d.snapPath, d.snapErr)
	default:
		add("%s: intact, %d topics, covers the first %d bytes of the log", d.snapPath, len(d.snap.Topics), d.snap.LogBytes)
	}
	if len(d.partDirs) > 0 {
		add("partition directories: %d", len(d.partDirs))
	}
	if refusal == nil && d.scan.good < len(d.data) {
		add("the last %d bytes of the log are a torn write (never acknowledged); the broker cuts them at start", len(d.data)-d.scan.good)
	}
	var ce *CorruptError
	if errors.As(refusal, &ce) {
		if ce.Pos >= 0 {
			add("problem at byte %d: %s", ce.Pos, ce.Reason)
		} else {
			add("problem: %s", ce.Reason)
		}
	} else if refusal != nil {
		add("problem: %v", refusal)
	}
}

// rebuild returns the best state the files hold.
func (d *diag) rebuild(rep *RepairReport) *State {
	act := func(format string, args ...any) { rep.Actions = append(rep.Actions, fmt.Sprintf(format, args...)) }
	if d.snap != nil {
		st := d.snap.state()
		n := 0
		if d.snap.LogBytes <= int64(len(d.data)) {
			// Frames after the snapshot: a crash between an append and
			// the snapshot's rewrite leaves at most one.
			Replay(d.data[d.snap.LogBytes:], func(r Record) error {
				if st.Apply(r) == nil {
					n++
				}
				return nil
			})
		}
		act("rebuild from the snapshot (%d topics) and %d valid records of the log after it", len(d.snap.Topics), n)
		return st
	}
	st := &State{Topics: map[string]*Topic{}}
	n, pos := 0, 0
	for pos < len(d.data) {
		r, size, err := decodeFrame(d.data[pos:])
		if err == nil {
			if st.Apply(r) == nil {
				n++
			}
			pos += size
			continue
		}
		next := nextValidFrame(d.data, pos+1)
		if next < 0 {
			act("skip bytes %d to %d of the log: no valid record in them", pos, len(d.data))
			break
		}
		act("skip bytes %d to %d of the log: damaged", pos, next)
		pos = next
	}
	act("rebuild from the %d valid records of the log (no usable snapshot)", n)
	if st.ClusterID == "" {
		act("the cluster id is lost: the broker makes a new one at start")
	}
	return st
}

// adoptDirs adds to st the topics and partitions that have directories on
// disk but no metadata, so that no data is left invisible (and a later
// create of the same name cannot start on top of it).
func adoptDirs(st *State, dirs []string, rep *RepairReport) {
	max := map[string]int32{}
	for _, name := range dirs {
		topic, i, _ := ParsePartitionDir(name)
		if cur, ok := max[topic]; !ok || i+1 > cur {
			max[topic] = i + 1
		}
	}
	names := make([]string, 0, len(max))
	for n := range max {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		n := max[name]
		if t := st.Topics[name]; t != nil {
			if t.Partitions < n {
				rep.Actions = append(rep.Actions, fmt.Sprintf("raise topic %q from %d to %d partitions: their directories exist", name, t.Partitions, n))
				t.Partitions = n
			}
			continue
		}
		var id TopicID
		rand.Read(id[:])
		st.Topics[name] = &Topic{Name: name, ID: id, Partitions: n}
		rep.Actions = append(rep.Actions, fmt.Sprintf("recreate topic %q with %d partitions from its directories, with default configs (its configs are not known) and a new topic id", name, n))
	}
}
