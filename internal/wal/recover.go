package wal

import (
	"fmt"
	"maps"
	"time"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/ingest"
)

// Replayer is the engine's recovery entry point: correlate.Engine's
// Replay, ReplayCommand and their marked forms, and Mark.
type Replayer interface {
	Replay(now time.Time, events []ingest.Event)
	ReplayCommand(c *correlate.Command) (any, error)
	ReplayMarked(m correlate.BatchMark, events []ingest.Event) uint64
	ReplayCommandMarked(m correlate.BatchMark, c *correlate.Command) (any, uint64, error)
	// Mark is the last batch mark the engine holds: a restored
	// snapshot's. Marks up to it are skipped.
	Mark() uint64
}

// RecoverStats say what Recover replayed.
type RecoverStats struct {
	Records int
	Events  int
	// Commands counts the command records; Refused those the engine
	// refused, as it did live (an action the incident's state did not
	// allow, an unknown incident).
	Commands, Refused int
	// Batches counts the batches replayed as their marks said; Unmarked
	// the records after the last mark, replayed one batch each.
	// Mismatched counts marked batches whose Seq came out different from
	// the mark's, and marks that claimed records the log did not have:
	// both mean the replay did not reproduce the live run (a bug, or a
	// log edited by hand), and are logged by the caller.
	Batches, Unmarked, Mismatched int
	// Kafka holds the last offset logged of each partition in the
	// records replayed: where the consumer resumes (after it), and what
	// a snapshot at End records. Over a snapshot's offsets, these win.
	Kafka Offsets
	// End is the position after the last record replayed; Clock the
	// engine clock after it (the latest receive time or command clock).
	End   Pos
	Clock time.Time
	// Mark is the last mark read from the log (0 if none after the
	// snapshot's): durable by definition.
	Mark uint64
}

// entry is a record the engine took from its queue live: a batch of
// events or a command, waiting for the mark that says how it was applied.
type entry struct {
	events []ingest.Event
	cmd    *correlate.Command
	// clock is the latest receive time or command clock up to this
	// record: the engine clock of a replay one batch per record.
	clock time.Time
}

// Recover replays the log from position from into the engine before it
// runs.
//
// Marked records are applied as the live engine applied them: each mark
// takes the oldest records not yet taken (the engine's queue had the
// log's order) and applies them as one batch at the mark's clock, or the
// one command at it, so that batch numbers, incident versions and timers
// come out as they were. Marks the engine already holds (a snapshot's)
// are skipped, with the records they took, which the snapshot covers and
// which come before from.
//
// Records after the last mark (the engine had not applied them, or their
// mark did not reach the disk) are replayed one batch each: each event
// record at the latest receive time seen so far (the clock never runs
// backwards), each command at its own clock (or the batch's before it,
// if later). The engine marks these batches itself as it replays them.
//
// marks, if not nil, learns that every mark read is durable, before the
// sinks see its batch: they hold a batch until its mark is.
//
// A record this siftd cannot decode stops the recovery with an error
// naming its position.
func Recover(l *Log, from Pos, eng Replayer, marks *Marks) (RecoverStats, error) {
	r := &recovery{st: RecoverStats{Kafka: Offsets{}}, eng: eng}
	st := &r.st
	start := from
	skip := eng.Mark()
	err := l.Replay(from, func(end Pos, rec []byte) error {
		fail := func(err error) error { return fmt.Errorf("write-ahead log record after %s: %w", start, err) }
		switch k := RecordKind(rec); k {
		case KindEvents, KindKafkaEvents:
			// A new slice each time: the engine and its sinks keep it.
			var (
				evs     []ingest.Event
				offsets Offsets
				err     error
			)
			if k == KindEvents {
				evs, err = DecodeEvents(rec, nil)
			} else {
				offsets, evs, err = DecodeKafkaEvents(rec, nil)
			}
			if err != nil {
				return fail(err)
			}
			maps.Copy(st.Kafka, offsets)
			for i := range evs {
				if evs[i].ReceivedAt.After(st.Clock) {
					st.Clock = evs[i].ReceivedAt
				}
			}
			// A record of no events (dead letters' offsets) never
			// reached the engine's queue.
			if len(evs) > 0 {
				r.queue = append(r.queue, entry{events: evs, clock: st.Clock})
			}
			st.Events += len(evs)
		case KindCommand:
			c, err := DecodeCommand(rec)
			if err != nil {
				return fail(err)
			}
			if c.At.After(st.Clock) {
				st.Clock = c.At
			}
			st.Commands++
			r.queue = append(r.queue, entry{cmd: c, clock: st.Clock})
		case KindMark:
			m, err := DecodeMark(rec)
			if err != nil {
				return fail(err)
			}
			st.Mark = max(st.Mark, m.N)
			if marks != nil {
				marks.SetDurable(m.N) // it is on disk
			}
			if m.N <= skip {
				break
			}
			if m.Clock.After(st.Clock) {
				st.Clock = m.Clock
			}
			r.applyMarked(m)
		default:
			// A record of another kind comes from a newer siftd.
			return fail(fmt.Errorf("kind %s is not supported by this siftd", k))
		}
		st.Records++
		st.End, start = end, end
		return nil
	})
	if err != nil {
		return *st, err
	}
	r.applyUnmarked(r.queue)
	return *st, nil
}

// recovery is Recover's progress: the records decoded and not yet taken
// by a mark, in log order.
type recovery struct {
	st    RecoverStats
	eng   Replayer
	queue []entry
}

// applyUnmarked replays entries one batch each (the tail, or records a
// mark did not fit).
func (r *recovery) applyUnmarked(es []entry) {
	for _, e := range es {
		if e.cmd != nil {
			if _, err := r.eng.ReplayCommand(e.cmd); err != nil {
				r.st.Refused++
			}
		} else {
			r.eng.Replay(e.clock, e.events)
		}
		r.st.Unmarked++
	}
}

// applyMarked applies the records mark m took from the front of the
// queue, as one batch (one per record if they do not fit it).
func (r *recovery) applyMarked(m correlate.BatchMark) {
	st, eng := &r.st, r.eng
	n := min(m.Records, len(r.queue))
	took, rest := r.queue[:n], r.queue[n:]
	fits := n == m.Records
	for i, e := range took {
		// A command is a batch of its own, and only a command mark
		// takes one.
		if (e.cmd != nil) != m.Command || (m.Command && i > 0) {
			fits = false
		}
	}
	switch {
	case !fits:
		st.Mismatched++
		r.applyUnmarked(took)
	case m.Command:
		_, seq, err := eng.ReplayCommandMarked(m, took[0].cmd)
		if err != nil {
			st.Refused++
		}
		st.checkSeq(m, seq)
	default:
		var evs []ingest.Event
		if len(took) == 1 {
			evs = took[0].events // the record's own slice: no copy
		} else {
			for _, e := range took {
				evs = append(evs, e.events...)
			}
		}
		st.checkSeq(m, eng.ReplayMarked(m, evs))
	}
	st.Batches++
	// Reuse the queue's array from the front once it is empty, so that
	// a long run of marks does not grow it without bound.
	if len(rest) == 0 {
		clear(r.queue)
		r.queue = r.queue[:0]
		return
	}
	r.queue = rest
}

func (st *RecoverStats) checkSeq(m correlate.BatchMark, seq uint64) {
	if seq != m.Seq {
		st.Mismatched++
	}
}
