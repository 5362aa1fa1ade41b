// Package log is Herald's storage engine: the segmented, append-only log of
// one partition.
//
// # On disk
//
// One directory per partition. Segments are named by the offset of their
// first batch, zero-padded to 20 digits:
//
//	<dir>/00000000000000000000.log        record batches, back to back
//	<dir>/00000000000000000000.index      sparse offset index
//	<dir>/00000000000000000000.timeindex  sparse time index
//	<dir>/00000000000000004096.log        the next segment …
//	<dir>/log-start-offset                the log start offset set by DeleteRecords
//	<dir>/log-end-offset                  the log end offset at the last clean close
//	<dir>/00000000000000004096.812.5000-5012.damaged  bytes recovery moved aside: segment 4096
//	                                      from byte 812, which held offsets 5000 to 5012
//
// Files are created 0600 and the directory 0700: records are the users'
// data.
//
// A .log file holds Kafka RecordBatch v2 bytes exactly as producers sent
// them (compressed batches stay compressed), with the base offset and leader
// epoch written in by the log (see package records for the batch layout).
// Nothing else is in the file: a batch's own length field and CRC-32C are
// what recovery uses to find and check it.
//
// Index files are written when a segment is closed (rolled, or the log is
// closed cleanly); they are a cache, rebuilt from the .log file when missing,
// when their trailing CRC-32C (over all entries) fails, or when they disagree
// with the .log file. Entries, all big-endian:
//
//	.index:      relativeOffset uint32 | position uint32             (8 bytes)
//	.timeindex:  maxTimestamp int64 | relativeOffset uint32 | position uint32  (16 bytes)
//
// An offset index entry (r, p) says the batch whose base offset is
// segmentBase+r starts at byte p. A time index entry (t, r, p) says no batch
// before or at that batch has a timestamp larger than t. An entry is added
// at most every IndexIntervalBytes bytes.
//
// # Durability
//
// Under Durability{Always: true} an append is acknowledged only after
// fdatasync. One flusher goroutine syncs the active segment for every append
// that is waiting (group commit): while one sync runs, later appends queue up
// and the next sync covers them all. Readers see only synced data, so a
// consumer never reads a record that a crash could take back. A failed
// fdatasync leaves the page cache in an unknown state (it cannot be retried
// safely), so the log refuses further appends until it is reopened, and
// recovery decides what survived.
//
// Under an interval policy appends are acknowledged once written, and the
// flusher syncs every interval.
//
// A segment roll syncs the old segment before the new one exists, so that
// only the last segment can hold a torn write; that sync runs with the
// log's lock released (appends wait for the new segment, reads go on).
//
// # Open files
//
// With Options.Files the segment files go through a FileCache shared by
// many logs (the broker has one), which bounds how many are open at once:
// an idle file is closed when the cache needs room and reopened on its
// next use, transparently; a failed reopen (EMFILE) is an error of that
// one read or append. A file is not closed while an operation on it runs,
// and one with writes not yet synced is evicted last, and synced first,
// so that no writeback error is lost with its descriptor. The indexes are
// in memory, so a closed file costs nothing until it is read.
//
// # Recovery
//
// Open scans the active (last) segment with full checks (length, magic,
// CRC, each base offset following the last) from its second-to-last index
// entry: the last entry, written at a clean close, names the last batch,
// and the scan must see the batch before a damaged last one to know where
// the good data ends. Every intact batch before the first bad one stays.
// What follows it is cut, and reported with the byte count, the position
// and the offsets:
//
//   - A torn write (the rest is zeros; or one batch cut short by the end of
//     the file; or a batch whose end the file's trailing zeros, 8 or more,
//     cover; or bytes that name no offsets) was never acknowledged under
//     Durability Always: it is cut, logged at WARN ("torn tail cut off").
//   - Anything else may have held acknowledged records (a whole batch of
//     ours failing its CRC, or good batches after the damage): the bytes
//     are first copied into a .damaged file, synced, and logged at ERROR
//     ("damaged tail ... moved aside"). The file's name records the
//     offsets; while it exists, reads of them fail with ErrDamaged and
//     Verify reports them. An operator who has dealt with it deletes it.
//
// No offset that may have been acknowledged is given out again. The next
// offset goes past: the offsets a believable damaged header names (its
// base offset follows the last good batch and its record count agrees
// with its offset span), every checksummed batch found after the damage,
// every batch the segment's index files name, the index files of a
// segment whose .log file is gone (reported as "segment file missing"),
// and the log-end-offset checkpoint (checksummed; written at every clean
// close). When that leaves a gap, the active segment is closed as it is
// and an empty segment named by the next offset starts, which keeps the
// gap across restarts; reads step over gaps as over compaction's.
//
// Closed segments were synced when they were rolled, so damage in one is
// not a torn write, and nothing in them is ever cut. Their indexes are
// checked (checksum, order, the last entry naming a batch); when they are
// missing or wrong ("index files disagree", WARN) the batch headers are
// walked to rebuild them, and a bad header marks a damaged range from it
// to the next good batch (or the segment's end), logged at ERROR ("damaged
// range in closed segment").
//
// # Damage
//
// A damaged range is a byte range of a segment and the offsets it held.
// Reads of those offsets fail with a *DamagedError (errors.Is ErrDamaged)
// that names the range, so a reader can seek past it; every other offset
// reads as before, and a read that starts before the range stops at it.
// Compaction leaves a segment with damaged ranges alone, and Scan skips
// them (logged).
//
// Recovery reads only what it must, so damage inside a closed segment, or
// before the active segment's last index entries, is found by Verify:
// it reads every batch of every segment against its CRC, paced to a byte
// rate, holding no lock while it reads, and marks each damaged range it
// finds. The broker runs it in the background after start. VerifyDir does
// the same offline, changing nothing, and also checks the index files,
// the checkpoints and lists .damaged files.
//
// # Usage
//
//	files := log.NewFileCache(768)       // shared by every log
//	l, err := log.Open(dir, log.DefaultConfig(), log.Options{Files: files})
//	if err != nil { ... }
//	defer l.Close()
//	res, err := l.Append(batch)          // durable when it returns, under Always
//	buf, err := l.Read(buf[:0], res.BaseOffset, 1<<20, true)
//	damage, err := l.Verify(ctx, 32<<20) // in the background; 32 MiB/s
package log
