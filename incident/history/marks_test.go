package history

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/ingest"
)

// markedBatch is an engine batch of one event, with a mark.
func markedBatch(seq, mark uint64) *correlate.Batch {
	ls := ingest.NewLabels(ingest.Label{Name: "alertname", Value: fmt.Sprint("A", seq)})
	return &correlate.Batch{Seq: seq, Mark: mark, Now: t0, Events: []ingest.Event{{
		Fingerprint: ls.Fingerprint(), Labels: ls, Status: ingest.StatusFiring, ReceivedAt: t0, Source: ingest.SourceGeneric}}}
}

// TestWriterHoldsBatchesUntilTheirMarkIsDurable: a batch whose mark did
// not reach the write-ahead log may be made differently by the replay
// after a crash, so the writer sends it only once the mark is durable,
// in order; Confirmed says how far everything is sent.
func TestWriterHoldsBatchesUntilTheirMarkIsDurable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var durable atomic.Uint64
		d := &fakeDest{}
		reg := prometheus.NewRegistry()
		w, err := NewWriter(d, WriterOptions{SpoolDir: t.TempDir(), Run: 7, BatchMaxWait: time.Millisecond,
			Durable: durable.Load, Registerer: reg})
		require.NoError(t, err)
		stop := runWriter(t, w)
		pass := func() {
			time.Sleep(10 * time.Millisecond)
			synctest.Wait()
		}
		w.Consume(markedBatch(1, 1))
		w.Consume(markedBatch(2, 2))
		pass()
		require.Empty(t, d.seqs())
		require.Zero(t, w.Confirmed())

		confirmed := make(chan error, 1)
		go func() { confirmed <- w.WaitConfirmed(context.Background(), 2) }()
		durable.Store(1)
		pass()
		require.Equal(t, []uint64{1}, d.seqs())
		require.Equal(t, uint64(1), w.Confirmed())
		require.Empty(t, confirmed)

		durable.Store(2)
		pass()
		require.Equal(t, []uint64{1, 2}, d.seqs())
		require.NoError(t, <-confirmed)
		require.Equal(t, uint64(2), w.Confirmed())

		// At shutdown a batch whose mark never became durable is not
		// sent (the next start replays it) but counted.
		w.Consume(markedBatch(3, 3))
		pass()
		require.Equal(t, uint64(2), w.Confirmed())
		stop()
		require.Equal(t, []uint64{1, 2}, d.seqs())
		require.Equal(t, 1.0, testutil.ToFloat64(w.m.dropped.WithLabelValues(TableEvents, dropNotDurable)))
	})
}

// TestWriterConfirmsSpooledBatches: a batch on disk counts as confirmed
// (it is sent from the spool after a restart), one in memory does not.
func TestWriterConfirmsSpooledBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &fakeDest{}
		d.setFail(func(string) error { return errRefused })
		w, err := NewWriter(d, WriterOptions{SpoolDir: t.TempDir(), Run: 7, BatchMaxWait: time.Millisecond,
			RetryMin: time.Hour, RetryMax: time.Hour, Durable: func() uint64 { return 10 }})
		require.NoError(t, err)
		stop := runWriter(t, w)
		for i := uint64(1); i <= 3; i++ {
			w.Consume(markedBatch(i, i))
			time.Sleep(10 * time.Millisecond)
			synctest.Wait()
		}
		require.Equal(t, uint64(3), w.Confirmed())
		_, files := w.SpoolSize()
		require.Equal(t, 3, files)
		stop()
	})
}

// TestWaitRoom: recovery waits while the writer holds more than
// QueueMaxRows in memory; spooling makes room.
func TestWaitRoom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &fakeDest{}
		block := make(chan struct{})
		d.setFail(func(string) error { <-block; return nil })
		w, err := NewWriter(d, WriterOptions{SpoolDir: t.TempDir(), Run: 7, BatchMaxRows: 1, QueueMaxRows: 2})
		require.NoError(t, err)
		for i := uint64(1); i <= 3; i++ {
			w.Consume(markedBatch(i, 0))
		}
		room := make(chan error, 1)
		go func() { room <- w.WaitRoom(context.Background()) }()
		synctest.Wait()
		require.Empty(t, room, "3 rows in memory, 2 allowed")
		stop := runWriter(t, w) // spools past QueueMaxRows
		synctest.Wait()
		require.NoError(t, <-room)
		close(block)
		stop()
	})
}

// TestWaitConfirmedSealsTheOpenBatch: a snapshot waits for history to
// confirm its mark; the writer sends the batch holding it at once rather
// than at its age.
func TestWaitConfirmedSealsTheOpenBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &fakeDest{}
		w, stop := heldWriter(t, d)
		w.Consume(markedBatch(1, 1))
		w.Consume(markedBatch(2, 2))
		synctest.Wait()
		require.Empty(t, d.seqs())
		start := time.Now()
		require.NoError(t, w.WaitConfirmed(context.Background(), 2))
		require.Less(t, time.Since(start), time.Second)
		require.Equal(t, []uint64{1, 2}, d.seqs())
		stop()
	})
}

// TestWaitConfirmedForMarksItNeverSaw: the engine marks a batch that
// changed nothing (a refused action) but does not publish it; a snapshot
// after it waits only for what the writer holds.
func TestWaitConfirmedForMarksItNeverSaw(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &fakeDest{}
		w, stop := heldWriter(t, d)
		w.Consume(markedBatch(1, 1))
		synctest.Wait()
		require.NoError(t, w.WaitConfirmed(context.Background(), 3), "marks 2 and 3 never reached the writer")
		require.Equal(t, []uint64{1}, d.seqs())
		stop()
	})
}

// heldWriter runs a writer to d whose batches go only when something asks
// (a batch would be an hour old first), every mark durable.
func heldWriter(t *testing.T, d *fakeDest) (*Writer, func()) {
	t.Helper()
	w, err := NewWriter(d, WriterOptions{SpoolDir: t.TempDir(), Run: 7, BatchMaxWait: time.Hour,
		Durable: func() uint64 { return 10 }})
	require.NoError(t, err)
	return w, runWriter(t, w)
}
