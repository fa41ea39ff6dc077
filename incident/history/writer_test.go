package history

import (
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/ingest"
)

// fakeDest records inserted rows; fail, when set, decides an insert's
// error.
type fakeDest struct {
	mu     sync.Mutex
	events []EventRow
	calls  int
	fail   func(table string) error
}

func (f *fakeDest) Insert(_ context.Context, table string, r *Rows) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		if err := f.fail(table); err != nil {
			return err
		}
	}
	if table == TableEvents {
		f.events = append(f.events, r.Events...)
	}
	return nil
}

func (f *fakeDest) EnforceRetention(context.Context) (int, error) { return 0, nil }

func (f *fakeDest) setFail(fn func(string) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = fn
}

// seqs is the Seq of every inserted event, in insert order.
func (f *fakeDest) seqs() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s []uint64
	for _, e := range f.events {
		s = append(s, e.ID.Seq)
	}
	return s
}

var errRefused = &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}

// eventRows is one event row with the given seq.
func eventRows(seq uint64) *Rows {
	return &Rows{Events: []EventRow{{ID: EventID{Run: 1, Seq: seq}, ReceivedNs: int64(seq),
		Labels: ingest.NewLabels(ingest.Label{Name: "alertname", Value: "A"})}}}
}

func seqRange(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// addEach adds the rows of seq 1 to n one at a time, each taken by the
// writer before the next (in a synctest bubble).
func addEach(w *Writer, n int) {
	for i := range n {
		w.Add(eventRows(uint64(i + 1)))
		synctest.Wait()
	}
}

func runWriter(t *testing.T, w *Writer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	return func() { cancel(); <-done }
}

func TestWriterBatchesByRowsAndAge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &fakeDest{}
		w, err := NewWriter(d, WriterOptions{SpoolDir: t.TempDir(), BatchMaxRows: 10, BatchMaxWait: time.Second})
		require.NoError(t, err)
		stop := runWriter(t, w)
		addEach(w, 25)
		// Two full batches went at once; five rows wait for their age.
		require.Equal(t, seqRange(1, 20), d.seqs())
		require.Equal(t, 2, d.calls)
		time.Sleep(999 * time.Millisecond)
		synctest.Wait()
		require.Len(t, d.seqs(), 20)
		time.Sleep(time.Millisecond)
		synctest.Wait()
		require.Equal(t, seqRange(1, 25), d.seqs())
		require.Equal(t, 3.0, float64(d.calls))
		stop()
	})
}

func TestWriterConsumesEngineBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &fakeDest{}
		w, err := NewWriter(d, WriterOptions{SpoolDir: t.TempDir(), Run: 42, BatchMaxWait: time.Millisecond})
		require.NoError(t, err)
		e := correlate.New(correlate.Options{Now: func() time.Time { return t0 }})
		e.Subscribe(w)
		go func() { _ = e.Run(context.Background()) }()
		stop := runWriter(t, w)
		ev := testEvent(0, ingest.StatusFiring, "alertname", "X")
		require.NoError(t, e.Submit([]ingest.Event{ev, ev}))
		require.NoError(t, e.Flush(context.Background()))
		time.Sleep(10 * time.Millisecond)
		synctest.Wait()
		e.Close()
		<-e.Done()
		stop()
		require.Len(t, d.events, 2)
		require.Equal(t, EventID{Run: 42, Seq: 1, Idx: 1}, d.events[1].ID)
		require.Equal(t, uint64(ev.Fingerprint), d.events[1].Fingerprint)
		require.Equal(t, ev.Labels, d.events[1].Labels)
		require.Equal(t, t0.UnixNano(), d.events[0].ReceivedNs)
	})
}

// While ClickHouse refuses connections, batches go to disk; when it is
// back they are sent once each, in order.
func TestWriterSpoolsWhileDownAndDrainsInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &fakeDest{}
		d.setFail(func(string) error { return errRefused })
		reg := prometheus.NewRegistry()
		w, err := NewWriter(d, WriterOptions{SpoolDir: t.TempDir(), Registerer: reg, BatchMaxRows: 1,
			RetryMin: time.Second, RetryMax: 4 * time.Second})
		require.NoError(t, err)
		stop := runWriter(t, w)
		addEach(w, 20)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		_, files := w.SpoolSize()
		require.Equal(t, 20, files)
		require.Zero(t, w.QueueLength())
		require.Empty(t, d.seqs())
		require.Positive(t, testutil.ToFloat64(w.m.errors.WithLabelValues(errUnreachable)))

		d.setFail(nil)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		require.Equal(t, seqRange(1, 20), d.seqs())
		b, files := w.SpoolSize()
		require.Zero(t, files)
		require.Zero(t, b)
		require.Equal(t, 1.0, testutil.ToFloat64(w.m.up))
		require.Equal(t, 20.0, testutil.ToFloat64(w.m.written.WithLabelValues(TableEvents)))
		stop()
	})
}

// A full spool drops its oldest batches, and counts them.
func TestWriterSpoolFullDropsOldest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &fakeDest{}
		d.setFail(func(string) error { return errRefused })
		dir := t.TempDir()
		// Size the spool for five one-row batches.
		sp, _, _, err := openSpool(t.TempDir())
		require.NoError(t, err)
		f, err := sp.write(eventRows(1), 1)
		require.NoError(t, err)
		w, err := NewWriter(d, WriterOptions{SpoolDir: dir, BatchMaxRows: 1, SpoolMaxBytes: 5*f.size + f.size/2,
			RetryMin: time.Second, RetryMax: time.Second})
		require.NoError(t, err)
		stop := runWriter(t, w)
		addEach(w, 12)
		time.Sleep(3 * time.Second)
		synctest.Wait()
		_, files := w.SpoolSize()
		require.LessOrEqual(t, files, 5)
		d.setFail(nil)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		stop()
		got := d.seqs()
		dropped := testutil.ToFloat64(w.m.dropped.WithLabelValues(TableEvents, dropSpoolFull))
		require.Equal(t, 12, len(got)+int(dropped), "every row is sent or counted as dropped")
		require.Positive(t, dropped)
		// The newest survive, in order.
		require.Equal(t, seqRange(uint64(13-len(got)), 12), got)
	})
}

// Consume never blocks: with the batcher not running, rows beyond twice
// the queue bound are dropped and counted.
func TestWriterQueueFullDropsAndCounts(t *testing.T) {
	d := &fakeDest{}
	w, err := NewWriter(d, WriterOptions{SpoolDir: t.TempDir(), QueueMaxRows: 5})
	require.NoError(t, err)
	for i := range 13 {
		w.Add(eventRows(uint64(i + 1)))
	}
	require.Equal(t, 10, w.QueueLength())
	require.Equal(t, 3.0, testutil.ToFloat64(w.m.dropped.WithLabelValues(TableEvents, dropQueueFull)))
}

// A batch the server rejects is tried MaxAttempts times, then dropped
// and counted; the stream goes on. One the driver cannot encode is
// dropped at once.
func TestWriterDropsRejectedBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &fakeDest{}
		var attempts int
		d.setFail(func(table string) error {
			attempts++
			return &clickhouse.Exception{Code: 53, Message: "type mismatch"}
		})
		w, err := NewWriter(d, WriterOptions{SpoolDir: t.TempDir(), BatchMaxRows: 1, MaxAttempts: 3, RetryMin: time.Second})
		require.NoError(t, err)
		stop := runWriter(t, w)
		w.Add(eventRows(1))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		require.Equal(t, 3, attempts)
		require.Equal(t, 1.0, testutil.ToFloat64(w.m.dropped.WithLabelValues(TableEvents, dropRejected)))

		d.setFail(func(string) error { return errors.Join(errInvalidRows, errors.New("bad enum")) })
		w.Add(eventRows(2))
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, 2.0, testutil.ToFloat64(w.m.dropped.WithLabelValues(TableEvents, dropRejected)))

		d.setFail(nil)
		w.Add(eventRows(3))
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, []uint64{3}, d.seqs())
		require.Zero(t, w.Pending())
		stop()
	})
}

// Stopping while ClickHouse is down spools what is in memory, and a new
// writer on the same directory sends it.
func TestWriterShutdownSpoolsAndNextRunSends(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		d := &fakeDest{}
		d.setFail(func(string) error { return errRefused })
		w, err := NewWriter(d, WriterOptions{SpoolDir: dir, BatchMaxRows: 3, RetryMin: time.Hour})
		require.NoError(t, err)
		stop := runWriter(t, w)
		for i := range 7 {
			w.Add(eventRows(uint64(i + 1)))
		}
		synctest.Wait()
		stop()
		require.Zero(t, w.QueueLength())
		// After Run, Consume drops and counts.
		w.Add(eventRows(99))
		require.Equal(t, 1.0, testutil.ToFloat64(w.m.dropped.WithLabelValues(TableEvents, dropClosed)))
	})
	synctest.Test(t, func(t *testing.T) {
		d := &fakeDest{}
		w, err := NewWriter(d, WriterOptions{SpoolDir: dir, BatchMaxRows: 3})
		require.NoError(t, err)
		require.Positive(t, w.Pending())
		stop := runWriter(t, w)
		w.Add(eventRows(8))
		time.Sleep(2 * time.Second)
		synctest.Wait()
		stop()
		require.Equal(t, seqRange(1, 8), d.seqs())
	})
}
