package wal

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sift-itsm/sift/correlate"
)

// AppendMark appends a KindMark record of m to b.
//
// Layout: kind byte; N, Seq (uvarints); the clock as Unix seconds
// (varint) and nanoseconds (uvarint); Records (uvarint); a flags byte
// (bit 0: Command).
func AppendMark(b []byte, m correlate.BatchMark) []byte {
	b = append(b, byte(KindMark))
	b = binary.AppendUvarint(b, m.N)
	b = binary.AppendUvarint(b, m.Seq)
	b = binary.AppendVarint(b, m.Clock.Unix())
	b = binary.AppendUvarint(b, uint64(m.Clock.Nanosecond()))
	b = binary.AppendUvarint(b, uint64(m.Records))
	var flags byte
	if m.Command {
		flags |= 1
	}
	return append(b, flags)
}

// DecodeMark decodes a KindMark record.
func DecodeMark(rec []byte) (correlate.BatchMark, error) {
	if k := RecordKind(rec); k != KindMark {
		return correlate.BatchMark{}, fmt.Errorf("decoding mark: record kind %s", k)
	}
	b, release, err := body(rec)
	if err != nil {
		return correlate.BatchMark{}, fmt.Errorf("decoding mark: %w", err)
	}
	defer release()
	d := decoder{b: b}
	m := correlate.BatchMark{N: d.uvarint(), Seq: d.uvarint()}
	m.Clock = d.time(0)
	records := d.uvarint()
	flags := d.byte()
	switch {
	case d.err != nil:
	case m.N == 0:
		d.fail("mark number 0")
	case records > MaxRecordSize:
		d.fail("%d records", records)
	case flags&^1 != 0:
		d.fail("unknown flags %#x", flags)
	case flags&1 != 0 && records != 1:
		d.fail("a command mark of %d records", records)
	case len(d.b) != 0:
		d.fail("%d bytes after the mark", len(d.b))
	}
	if d.err != nil {
		return correlate.BatchMark{}, fmt.Errorf("decoding mark: %w", d.err)
	}
	m.Records, m.Command = int(records), flags&1 != 0
	return m, nil
}

// Marks is the engine's mark log (correlate.MarkLog): it posts each batch
// mark to the log (Log.Post, never blocking the engine) and knows the
// last mark that is durable. A sink that must see batches exactly as a
// replay after a crash would make them (history, the Kafka output) holds
// a batch until its mark is durable: a batch whose mark did not reach the
// disk is made again by the replay, maybe differently (per record, at
// the records' receive times), and the sink gets that one instead.
type Marks struct {
	log     *Log
	logger  *slog.Logger
	durable atomic.Uint64
	failed  prometheus.Counter

	mu      sync.Mutex
	changed chan struct{} // closed when durable moves; nil if nobody waits
}

// NewMarks returns the mark log of l.
func NewMarks(l *Log, logger *slog.Logger, reg prometheus.Registerer) *Marks {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Marks{log: l, logger: logger,
		failed: promauto.With(reg).NewCounter(prometheus.CounterOpts{
			Namespace: "sift", Subsystem: "wal", Name: "marks_failed_total",
			Help: "Engine batch marks the write-ahead log refused (closed): their batches are replayed per record at the next start.",
		}),
	}
}

// Mark posts m; it is durable once the log wrote it.
func (m *Marks) Mark(bm correlate.BatchMark) {
	n := bm.N
	if err := m.log.Post(AppendMark(nil, bm), func(Pos) { m.SetDurable(n) }); err != nil {
		// Only after the log closed, which the shutdown order avoids:
		// the batch's records are replayed per record at the next start,
		// and the sinks that wait for its mark never send this version.
		m.failed.Inc()
		m.logger.Warn("write-ahead log refused a batch mark", "mark", n, "err", err)
	}
}

// Durable is the last mark known durable: written by the log, or read
// from it by Recover.
func (m *Marks) Durable() uint64 { return m.durable.Load() }

// SetDurable records that the marks up to n are durable.
func (m *Marks) SetDurable(n uint64) {
	for {
		old := m.durable.Load()
		if n <= old {
			return
		}
		if m.durable.CompareAndSwap(old, n) {
			break
		}
	}
	m.mu.Lock()
	if m.changed != nil {
		close(m.changed)
		m.changed = nil
	}
	m.mu.Unlock()
}

// Wait returns once mark n is durable, or with ctx's error.
func (m *Marks) Wait(ctx context.Context, n uint64) error {
	for {
		if m.Durable() >= n {
			return nil
		}
		m.mu.Lock()
		if m.changed == nil {
			m.changed = make(chan struct{})
		}
		ch := m.changed
		m.mu.Unlock()
		if m.Durable() >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
