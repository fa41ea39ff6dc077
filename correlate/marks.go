package correlate

import (
	"time"

	"github.com/sift-itsm/sift/ingest"
)

// BatchMark says how the engine applied one batch, so that a replay of
// the write-ahead log applies the same records in the same batches at
// the same clocks, and the batch comes out as it was: the same Seq, the
// same incident versions, the same timers fired. The log's records are
// in the engine's queue order, and each batch takes the oldest records
// not yet taken, so a mark needs only a count.
//
// The engine marks every batch that took records (events or a command)
// or changed anything (a timer, a silence ending). An idle batch that
// changed nothing is not marked: replaying it would do nothing but move
// the clock, and the next mark carries its own clock.
type BatchMark struct {
	// N numbers the marks from 1; a snapshot records the last, and
	// replay skips the marks it covers.
	N uint64
	// Seq is the batch's Seq (0 if nothing changed): replay checks it.
	Seq   uint64
	Clock time.Time
	// Records is how many queued submissions (each one log record) the
	// batch took; Command says the one record is a command.
	Records int
	Command bool
}

// MarkLog receives the engine's batch marks: the write-ahead log's
// (internal/wal). Mark is called on the engine goroutine after the batch
// is applied and before the sinks see it; it must not block (the log may
// be waiting for the engine to take queued records).
type MarkLog interface {
	Mark(BatchMark)
}

// SetMarkLog makes the engine mark its batches in l. Every submission
// and command must then come from the log (one record each), or the
// marks' counts would not match the log's records. Call it before Run
// and before recovery: batches replayed from records the log has not
// marked are marked as they are replayed.
func (e *Engine) SetMarkLog(l MarkLog) { e.markLog = l }

// Mark is the last batch mark (0 before any).
func (e *Engine) Mark() uint64 { return e.st.mark }

// markFor is what a batch is marked with: records it took from the
// queue, or the mark the log already holds for it (replayed).
type markFor struct {
	records  int
	command  bool
	replayed uint64
}

// mark numbers b and, unless the log already holds its mark, writes one.
func (e *Engine) mark(b *Batch, m markFor) {
	if m.replayed != 0 {
		e.st.mark, b.Mark = m.replayed, m.replayed
		return
	}
	if e.markLog == nil || (m.records == 0 && b.Seq == 0) {
		return
	}
	e.st.mark++
	b.Mark = e.st.mark
	e.markLog.Mark(BatchMark{N: b.Mark, Seq: b.Seq, Clock: b.Now, Records: m.records, Command: m.command})
}

// ReplayMarked applies a batch the log marked: events (the records the
// mark took, in order; none for a batch of timers) at the mark's clock.
// It returns the batch's Seq, which equals the mark's if the replay came
// out as the live batch did. Only before Run.
func (e *Engine) ReplayMarked(m BatchMark, events []ingest.Event) uint64 {
	return e.applyAt(m.Clock, events, 0, markFor{replayed: m.N}).Seq
}

// ReplayCommandMarked applies a logged command at its mark's clock, as
// ReplayCommand does otherwise, and returns its outcome and batch Seq.
func (e *Engine) ReplayCommandMarked(m BatchMark, c *Command) (any, uint64, error) {
	v, b, err := e.execute(c, nil, m.Clock, markFor{replayed: m.N})
	return v, b.Seq, err
}
