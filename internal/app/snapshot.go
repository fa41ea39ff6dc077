package app

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/internal/snapshot"
	"github.com/sift-itsm/sift/internal/wal"
)

type snapshotMetrics struct {
	writes      *prometheus.CounterVec
	pause       prometheus.Histogram
	size        prometheus.Gauge
	lastSuccess prometheus.Gauge
}

func newSnapshotMetrics(f promauto.Factory) snapshotMetrics {
	return snapshotMetrics{
		writes: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sift", Subsystem: "snapshot", Name: "writes_total",
			Help: "Snapshots of the engine state by result (success, failed, skipped).",
		}, []string{"result"}),
		pause: f.NewHistogram(prometheus.HistogramOpts{
			Namespace: "sift", Subsystem: "snapshot", Name: "encode_duration_seconds",
			Help:    "How long the engine paused to encode its state for a snapshot.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2, 5, 10},
		}),
		size: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "sift", Subsystem: "snapshot", Name: "size_bytes",
			Help: "Size of the last snapshot's engine state.",
		}),
		lastSuccess: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "sift", Subsystem: "snapshot", Name: "last_success_timestamp_seconds",
			Help: "When the last snapshot was written.",
		}),
	}
}

func (a *App) snapshotDir() string { return filepath.Join(a.opts.StoragePath, "snapshots") }

// restore loads the newest snapshot into the engine, seeds the Kafka
// offsets it covers, and returns the log position replay starts from: the
// zero position without one.
func (a *App) restore() (wal.Pos, error) {
	start := time.Now()
	snap, ok, err := snapshot.Latest(a.snapshotDir(), a.logger)
	if err != nil || !ok {
		return wal.Pos{}, err
	}
	if err := a.engine.RestoreSnapshot(bytes.NewReader(snap.State)); err != nil {
		return wal.Pos{}, fmt.Errorf("snapshot %s: %w", snap.Path, err)
	}
	offsets := wal.Offsets{}
	for _, o := range snap.Meta.Kafka {
		offsets[wal.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = o.Offset
	}
	a.durable.SetOffsets(offsets)
	a.logger.Info("restored the snapshot", "path", snap.Path, "wal", snap.Meta.WAL.String(), "alerts", snap.Meta.Alerts,
		"incidents", snap.Meta.Incidents, "taken", snap.Meta.Taken, "took", time.Since(start).Round(time.Millisecond))
	return snap.Meta.WAL, nil
}

// takeSnapshot writes the engine's state once it has drained (at
// shutdown), covering the whole log, and deletes the log before it: the
// next start loads it and replays nothing.
func (a *App) takeSnapshot(ctx context.Context) {
	if a.wal == nil {
		return
	}
	st := a.engine.Snapshot()
	if st.Err != nil {
		a.logger.Error("copying the state for a snapshot failed; the next start replays the whole log", "err", st.Err)
		a.snapMetrics.writes.WithLabelValues("failed").Inc()
		return
	}
	a.installSnapshot(ctx, a.wal.End(), a.durable.Offsets(), st)
}

// historyWait bounds how long a periodic snapshot waits for history to
// confirm the batches it covers: a batch and its insert, or its spooling
// while ClickHouse is away, take seconds.
const historyWait = time.Minute

// installSnapshot encodes the state, which covers the log up to pos and
// the Kafka offsets logged by then, into a snapshot file and deletes the
// log before it.
//
// First history must confirm every batch the state covers (inserted,
// spooled or dropped and counted): after a crash the replay starts at the
// newest snapshot, so a batch before it that history still held in
// memory would never reach ClickHouse. If history does not confirm in
// time, no snapshot: the log stays and the next interval tries again.
func (a *App) installSnapshot(ctx context.Context, pos wal.Pos, offsets wal.Offsets, st correlate.SnapshotState) {
	if a.history != nil {
		wctx, cancel := context.WithTimeout(ctx, historyWait)
		err := a.history.writer.WaitConfirmed(wctx, st.Mark)
		cancel()
		if err != nil {
			a.logger.Warn("snapshot skipped: history has not confirmed the batches it covers", "mark", st.Mark,
				"confirmed", a.history.writer.Confirmed(), "err", err)
			a.snapMetrics.writes.WithLabelValues("skipped").Inc()
			return
		}
	}
	start := time.Now()
	meta := snapshot.Meta{WAL: pos, Kafka: kafkaOffsets(offsets), Taken: start, Alerts: st.Alerts, Incidents: st.Incidents}
	var size int64
	path, err := snapshot.Write(a.snapshotDir(), meta, func(w io.Writer) error {
		cw := &countingWriter{w: w}
		err := st.Encode(cw)
		size = cw.n
		return err
	})
	if err != nil {
		a.logger.Error("writing the snapshot failed; the log stays until the next one", "err", err)
		a.snapMetrics.writes.WithLabelValues("failed").Inc()
		return
	}
	a.snapMetrics.writes.WithLabelValues("success").Inc()
	a.snapMetrics.pause.Observe(st.Took.Seconds())
	a.snapMetrics.size.Set(float64(size))
	a.snapMetrics.lastSuccess.SetToCurrentTime()
	if err := a.wal.Truncate(meta.WAL); err != nil {
		a.logger.Warn("truncating the write-ahead log after the snapshot", "err", err)
	}
	a.logger.Info("wrote a snapshot", "path", path, "wal", meta.WAL.String(), "alerts", meta.Alerts, "incidents", meta.Incidents,
		"engine_pause", st.Took.Round(time.Millisecond), "write", time.Since(start).Round(time.Millisecond), "bytes", size)
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// snapshotLoop takes a snapshot every storage.snapshot.interval (read
// again after each, so a reload applies) until ctx ends.
func (a *App) snapshotLoop(ctx context.Context) {
	for {
		iv := a.cfg.Load().Storage.Snapshot.Interval.Std()
		wait := iv
		if iv == 0 {
			wait = time.Minute // at shutdown only, unless a reload says otherwise
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if iv != 0 {
			a.periodicSnapshot(ctx)
		}
	}
}

// periodicSnapshot takes a snapshot while siftd runs. The request goes
// through the log's writer as an empty append: its callback runs in log
// order, after the callbacks that queued every earlier record in the
// engine, so the state the engine encodes covers the log exactly up to
// that position. The engine pauses only to copy its state; it is encoded
// and written here.
func (a *App) periodicSnapshot(ctx context.Context) {
	var (
		pos     wal.Pos
		offsets wal.Offsets
		ch      <-chan correlate.SnapshotState
		qerr    error
	)
	if _, err := a.wal.AppendThen(nil, func(end wal.Pos) {
		// In log order: the offsets logged up to here, as the state.
		pos, offsets = end, a.durable.Offsets()
		ch, qerr = a.engine.QueueSnapshot()
	}); err != nil {
		a.logger.Warn("snapshot skipped: the write-ahead log refused the barrier", "err", err)
		a.snapMetrics.writes.WithLabelValues("skipped").Inc()
		return
	}
	if qerr != nil {
		a.logger.Warn("snapshot skipped; the next interval tries again", "err", qerr)
		a.snapMetrics.writes.WithLabelValues("skipped").Inc()
		return
	}
	var st correlate.SnapshotState
	select {
	case st = <-ch:
	case <-ctx.Done():
		return
	}
	if st.Err != nil {
		a.logger.Error("copying the state for a snapshot failed", "err", st.Err)
		a.snapMetrics.writes.WithLabelValues("failed").Inc()
		return
	}
	a.installSnapshot(ctx, pos, offsets, st)
}

// kafkaOffsets lists offsets for a snapshot, in a stable order.
func kafkaOffsets(o wal.Offsets) []snapshot.KafkaOffset {
	out := make([]snapshot.KafkaOffset, 0, len(o))
	for tp, off := range o {
		out = append(out, snapshot.KafkaOffset{Topic: tp.Topic, Partition: tp.Partition, Offset: off})
	}
	slices.SortFunc(out, func(a, b snapshot.KafkaOffset) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out
}
