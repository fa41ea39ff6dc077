package wal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sift-itsm/sift/ingest"
)

// Engine is what a Submitter feeds: correlate.Engine.
type Engine interface {
	Submit([]ingest.Event) error
	Flush(context.Context) error
	QueueLength() int
	QueueCapacity() int
}

// Submitter is the durable ingest.Submitter: it appends a request's events
// to the log and only then hands them to the engine, so that an event the
// receiver acknowledges is on disk.
//
// Order: the hand-over runs on the log's writer goroutine, in log order
// (Log.AppendThen), so the engine's queue holds the events in exactly the
// order of the log, and replaying the log applies them in the order the
// engine did.
//
// Overload: a full engine queue must refuse a request (503, as without
// the log) before anything is written, or a refused request would still
// be replayed at the next start. So Submit first reserves room: the
// engine's queued events plus those logged but not yet handed over, plus
// the request's, must fit the queue's capacity. Other producers (Kafka)
// and the engine's bound on queued requests can still fill the queue
// between the check and the hand-over; the events are in the log by then,
// so the hand-over waits for the engine to drain (Flush) rather than
// drop them, and sift_wal_handover_waits_total counts it. The queue may
// thus exceed its capacity by at most one group commit.
//
// Unlike the engine's Submit, this Submit blocks: for the write and (with
// fsync "always") the fsync of its group, not for room in the queue.
//
// Kafka: SubmitOffsets logs a consumer's events with the offsets of their
// messages, in one record, so the consumer commits an offset only once
// the log covers it. The Submitter keeps the last offset logged of each
// partition (Offsets, LastOffset), updated in log order.
type Submitter struct {
	log      *Log
	eng      Engine
	logger   *slog.Logger
	inflight atomic.Int64
	bufs     sync.Pool
	waits    prometheus.Counter

	mu      sync.Mutex // guards offsets
	offsets Offsets
}

// NewSubmitter returns a Submitter that logs to l and feeds eng.
func NewSubmitter(l *Log, eng Engine, logger *slog.Logger, reg prometheus.Registerer) *Submitter {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Submitter{log: l, eng: eng, logger: logger, offsets: Offsets{}}
	s.bufs.New = func() any { return new(encBufs) }
	s.waits = promauto.With(reg).NewCounter(prometheus.CounterOpts{
		Namespace: "sift", Subsystem: "wal", Name: "handover_waits_total",
		Help: "Times logged events found the engine queue full (filled by another producer after the capacity check) and waited for it to drain.",
	})
	return s
}

// Submit appends events to the log as one record, waits until it is
// durable, and queues the events in the engine. It returns
// ingest.ErrQueueFull, having written nothing, when the engine queue has
// no room; ingest.ErrClosed when the log or the engine is closed.
func (s *Submitter) Submit(events []ingest.Event) error {
	if len(events) == 0 {
		return nil
	}
	return s.submit(events, nil)
}

// SubmitOffsets is Submit for a Kafka consumer: the record (of kind
// KindKafkaEvents) also holds, per partition, the offset of the last
// message the events come from, and once it returns nil those offsets may
// be committed. With no events (the messages were dead letters) it logs
// the offsets alone.
func (s *Submitter) SubmitOffsets(events []ingest.Event, last Offsets) error {
	if last == nil {
		last = Offsets{}
	}
	return s.submit(events, last)
}

// submit logs events, with the offsets unless they are nil.
func (s *Submitter) submit(events []ingest.Event, last Offsets) error {
	n := int64(len(events))
	if s.inflight.Add(n)+int64(s.eng.QueueLength()) > int64(s.eng.QueueCapacity()) && n > 0 {
		s.inflight.Add(-n)
		return ingest.ErrQueueFull
	}
	bufs := s.bufs.Get().(*encBufs)
	if last == nil {
		bufs.raw = AppendEvents(bufs.raw[:0], events)
	} else {
		bufs.raw = AppendKafkaEvents(bufs.raw[:0], last, events)
	}
	bufs.rec = Compress(bufs.rec[:0], bufs.raw)
	var handErr error
	_, err := s.log.AppendThen([][]byte{bufs.rec}, func(Pos) {
		if len(last) > 0 {
			s.mu.Lock()
			maps.Copy(s.offsets, last)
			s.mu.Unlock()
		}
		if n > 0 {
			handErr = s.handOver(events)
		}
		s.inflight.Add(-n)
	})
	if cap(bufs.raw) <= 4<<20 {
		s.bufs.Put(bufs)
	}
	if err != nil {
		s.inflight.Add(-n) // the hand-over never ran
		return intakeErr(err)
	}
	return handErr
}

// intakeErr is a failed append as intake reports it: a closed log is
// ingest.ErrClosed, as a closed engine is.
func intakeErr(err error) error {
	if errors.Is(err, ErrClosed) {
		return ingest.ErrClosed
	}
	return fmt.Errorf("write-ahead log: %w", err)
}

// Offsets returns the last offset logged of each Kafka partition: those
// of the records handed over so far, and those SetOffsets gave. Called
// from a Log.AppendThen callback (which runs in log order), it returns
// exactly the offsets the log covers up to that callback's record: what a
// snapshot taken there must keep so that truncating the log loses no
// resume point.
func (s *Submitter) Offsets() Offsets {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.offsets)
}

// SetOffsets records offsets logged before this Submitter: those Recover
// replayed (RecoverStats.Kafka, over a snapshot's, if any). Call it after
// recovery, before the Kafka consumer starts.
func (s *Submitter) SetOffsets(o Offsets) {
	s.mu.Lock()
	defer s.mu.Unlock()
	maps.Copy(s.offsets, o)
}

// LastOffset is the last offset logged of a partition, if any.
func (s *Submitter) LastOffset(topic string, partition int) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	off, ok := s.offsets[TopicPartition{Topic: topic, Partition: partition}]
	return off, ok
}

// encBufs are a request's record, encoded and compressed.
type encBufs struct{ raw, rec []byte }

// handOver queues logged events in the engine, waiting for room if the
// queue filled since the check: they are in the log and must be applied.
func (s *Submitter) handOver(events []ingest.Event) error {
	for {
		err := s.eng.Submit(events)
		if !errors.Is(err, ingest.ErrQueueFull) {
			if errors.Is(err, ingest.ErrClosed) {
				// Shutdown began after the write (the HTTP server stops
				// before the engine closes, so this is a race at most):
				// the events are replayed at the next start; the
				// producer's retry makes them at-least-once.
				s.logger.Warn("engine closed after events were logged; they are applied at the next start", "events", len(events))
			}
			return err
		}
		s.waits.Inc()
		if err := s.eng.Flush(context.Background()); err != nil {
			return err
		}
	}
}

// Flush waits until every event handed over before the call is applied.
func (s *Submitter) Flush(ctx context.Context) error { return s.eng.Flush(ctx) }
