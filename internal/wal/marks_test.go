package wal

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/ingest"
)

func TestMarkRoundTrip(t *testing.T) {
	for _, m := range []correlate.BatchMark{
		{N: 1, Seq: 1, Clock: time.Date(2026, 11, 25, 9, 0, 0, 123, time.UTC), Records: 3},
		{N: 1 << 40, Seq: 0, Clock: time.Unix(1, 0).UTC(), Records: 0},
		{N: 7, Seq: 5, Clock: time.Date(2026, 11, 25, 9, 0, 0, 999999999, time.UTC), Records: 1, Command: true},
	} {
		got, err := DecodeMark(AppendMark(nil, m))
		require.NoError(t, err)
		require.Equal(t, m, got)
	}
	good := AppendMark(nil, correlate.BatchMark{N: 2, Seq: 2, Clock: time.Unix(5, 0), Records: 1, Command: true})
	for name, rec := range map[string][]byte{
		"short":          good[:len(good)-1],
		"trailing":       append(append([]byte{}, good...), 0),
		"mark 0":         AppendMark(nil, correlate.BatchMark{Clock: time.Unix(5, 0)}),
		"command of two": AppendMark(nil, correlate.BatchMark{N: 1, Clock: time.Unix(5, 0), Records: 2, Command: true}),
		"flags":          append(append([]byte{}, good[:len(good)-1]...), 0x82),
		"other kind":     {byte(KindCommand), '{', '}'},
	} {
		_, err := DecodeMark(rec)
		require.Error(t, err, name)
	}
}

// TestPostNeverBlocks: the engine posts marks from its goroutine while
// the log's writer may be waiting for the engine (a callback handing
// events over to a full queue). Post must return all the same, and the
// mark is written with the next group.
func TestPostNeverBlocks(t *testing.T) {
	l := open(t, t.TempDir())
	inCallback, release := make(chan struct{}), make(chan struct{})
	appended := make(chan error, 1)
	go func() {
		_, err := l.AppendThen([][]byte{rec(1)}, func(Pos) {
			close(inCallback)
			<-release
		})
		appended <- err
	}()
	<-inCallback
	durable := make(chan Pos, 1)
	for i := range 1000 { // more than the request queue holds
		require.NoError(t, l.Post(rec(2+i), func(end Pos) {
			if i == 999 {
				durable <- end
			}
		}))
	}
	close(release)
	require.NoError(t, <-appended)
	end := <-durable
	require.Equal(t, l.End(), end)
	got := replayAll(t, l, Pos{})
	require.Equal(t, want(1, 1001), got.recs)

	require.NoError(t, l.Close())
	require.ErrorIs(t, l.Post(rec(1), nil), ErrClosed)
}

// TestPostedAtClose: what was posted before Close is written by it.
func TestPostedAtClose(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir)
	var n atomic.Int64
	for i := range 50 {
		require.NoError(t, l.Post(rec(i), func(Pos) { n.Add(1) }))
	}
	require.NoError(t, l.Close())
	require.Equal(t, int64(50), n.Load())
	require.Equal(t, want(0, 50), replayAll(t, open(t, dir), Pos{}).recs)
}

// fakeClock is the engine clock the test moves; the engine reads it on
// its goroutine.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) add(d time.Duration) { c.ns.Add(int64(d)) }
func newClock(t time.Time) *fakeClock    { c := &fakeClock{}; c.ns.Store(t.UnixNano()); return c }
func (c *fakeClock) stamp(evs []ingest.Event) {
	for i := range evs {
		evs[i].ReceivedAt = c.now()
		evs[i].StartsAt = evs[i].ReceivedAt
	}
}

// batchRecorder keeps what a sink sees of each batch, as text, on the
// engine goroutine (alert rows move on with later batches; incident and
// problem versions are immutable).
type batchRecorder struct {
	mu      sync.Mutex
	batches []string
	last    uint64 // the last batch's mark
}

func (r *batchRecorder) Consume(b *correlate.Batch) {
	var sb bytes.Buffer
	fmt.Fprintf(&sb, "seq %d mark %d at %d events %d:", b.Seq, b.Mark, b.Now.UnixNano(), len(b.Events))
	for _, c := range b.Changes {
		switch {
		case c.Alert != nil:
			fmt.Fprintf(&sb, " alert %d %s v%d", c.Kind, c.Alert.Fingerprint, c.Alert.Version)
		case c.Incident != nil:
			js, _ := json.Marshal(c.Incident)
			fmt.Fprintf(&sb, " incident %d %s", c.Kind, js)
		case c.Problem != nil:
			js, _ := json.Marshal(c.Problem)
			fmt.Fprintf(&sb, " problem %d %s", c.Kind, js)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, sb.String())
	r.last = b.Mark
}

func (r *batchRecorder) got() ([]string, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.batches...), r.last
}

// markedEngine is an engine that marks its batches in l, recording them.
func markedEngine(l *Log, clock *fakeClock) (*correlate.Engine, *Marks, *batchRecorder) {
	// Batches are cut by size only, several records each, so that the
	// live batching differs from one batch per record.
	set := correlate.DefaultSettings()
	set.BatchMaxEvents, set.BatchMaxWait = 8, time.Hour
	set.ResolveTimeout = 5 * time.Minute
	eng := correlate.New(correlate.Options{Now: clock.now, Settings: set})
	rec := &batchRecorder{}
	eng.Subscribe(rec)
	marks := NewMarks(l, nil, prometheus.NewRegistry())
	eng.SetMarkLog(marks)
	return eng, marks, rec
}

// runMarked runs a marked engine fed through the log: events by the
// returned Submitter, commands by a Commander. cancel is a crash.
func runMarked(t *testing.T, l *Log, clock *fakeClock) (*correlate.Engine, *Marks, *batchRecorder, *Submitter, context.Context, context.CancelFunc) {
	live, marks, rec := markedEngine(l, clock)
	live.SetCommandLog(NewCommander(l, live, nil, prometheus.NewRegistry()))
	ctx, cancel := context.WithCancel(t.Context())
	go func() { _ = live.Run(ctx) }()
	return live, marks, rec, NewSubmitter(l, live, nil, nil), ctx, cancel
}

// drive feeds the live engine events in requests of 1 to 4 events from
// three goroutines, users' actions and a silence between them, and time
// passing so that timers fire in batches of their own.
func drive(t *testing.T, eng *correlate.Engine, s *Submitter, clock *fakeClock) {
	ctx := t.Context()
	for round := range 6 {
		var wg sync.WaitGroup
		for g := range 3 {
			wg.Go(func() {
				for i := range 10 {
					evs := batch(fmt.Sprintf("R%d-%d", g, i%5), 1+(i+round)%4)
					clock.stamp(evs)
					if (i+round)%7 == 6 {
						for j := range evs {
							evs[j].Status = ingest.StatusResolved
						}
					}
					if err := s.Submit(evs); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		id := fmt.Sprintf("INC%07d", 1+round)
		if _, err := eng.Act(ctx, incident.Action{ID: id, Verb: incident.VerbAck, Actor: "ann"}); err != nil {
			var te *incident.TransitionError
			require.ErrorAs(t, err, &te)
		}
		if round == 2 {
			m, err := labels.NewMatcher(labels.MatchEqual, "alertname", "R1-1")
			require.NoError(t, err)
			_, err = eng.AddSilence(ctx, correlate.Silence{Matchers: labels.Matchers{m}, EndsAt: clock.now().Add(3 * time.Minute), CreatedBy: "ann", Comment: "c"})
			require.NoError(t, err)
		}
		// Time passes; a flush with nothing queued applies the timers
		// due (resolve_timeout, the silence's end) in a batch.
		clock.add(2 * time.Minute)
		require.NoError(t, eng.Flush(ctx))
	}
}

// TestRecoverReproducesTheLiveBatches: with marks, a replay of the log
// makes every batch the live engine made, with the same sequence number,
// clock and changes (incident versions included), which is what lets
// history and the Kafka output re-send them without a visible duplicate.
func TestRecoverReproducesTheLiveBatches(t *testing.T) {
	clock := newClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	l := open(t, t.TempDir())
	live, marks, liveRec, s, ctx, cancel := runMarked(t, l, clock)
	defer cancel()

	drive(t, live, s, clock)
	want, last := liveRec.got()
	require.NoError(t, marks.Wait(ctx, last))
	cancel() // the crash: the engine stops where it is, nothing is closed
	<-live.Done()
	copyDir := crashCopy(t, l)

	l2 := open(t, copyDir)
	restored, marks2, rec := markedEngine(l2, clock)
	st, err := Recover(l2, Pos{}, restored, marks2)
	require.NoError(t, err)
	require.Zero(t, st.Mismatched)
	require.Zero(t, st.Unmarked)
	require.Equal(t, last, st.Mark)
	require.Equal(t, last, marks2.Durable())
	require.Greater(t, st.Batches, len(want)/2)
	got, _ := rec.got()
	require.Equal(t, want, got)
	require.Equal(t, alertSummary(t, live), alertSummary(t, restored))
	require.Equal(t, versionedIncidents(t, live), versionedIncidents(t, restored))
	// Several records per batch live: one batch per record would not do.
	require.Less(t, st.Batches, st.Records-st.Batches)
}

// TestRecoverMarksTheTail: records the engine had not applied when siftd
// stopped have no mark; the replay applies them one batch each and marks
// those batches, so that the next replay makes the same batches again.
func TestRecoverMarksTheTail(t *testing.T) {
	clock := newClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	l := open(t, t.TempDir())
	// Not running: what is submitted waits in the queue, logged.
	live, _, _ := markedEngine(l, clock)
	s := NewSubmitter(l, live, nil, nil)
	cmds := NewCommander(l, live, nil, prometheus.NewRegistry())
	for i := range 12 {
		evs := batch(fmt.Sprintf("T%d", i%3), 1+i%3)
		clock.stamp(evs)
		require.NoError(t, s.Submit(evs))
		clock.add(time.Second)
		if i == 5 {
			_, err := cmds.LogCommand(&correlate.Command{At: clock.now(), Action: &incident.Action{ID: "INC0000001", Verb: incident.VerbAck, Actor: "ann"}})
			require.NoError(t, err)
		}
	}
	first := crashCopy(t, l)

	l1 := open(t, first)
	eng1, _, rec1 := markedEngine(l1, clock)
	st, err := Recover(l1, Pos{}, eng1, nil)
	require.NoError(t, err)
	require.Equal(t, 13, st.Unmarked)
	require.Zero(t, st.Batches)
	require.NoError(t, l1.Close()) // writes the marks the replay posted
	want, _ := rec1.got()
	require.Len(t, want, 13)

	l2 := open(t, first)
	eng2, _, rec2 := markedEngine(l2, clock)
	st, err = Recover(l2, Pos{}, eng2, nil)
	require.NoError(t, err)
	require.Zero(t, st.Unmarked)
	require.Zero(t, st.Mismatched)
	require.Equal(t, 13, st.Batches)
	got, _ := rec2.got()
	require.Equal(t, want, got)
	require.Equal(t, versionedIncidents(t, eng1), versionedIncidents(t, eng2))
}

// TestRecoverAfterASnapshotSkipsItsMarks: a snapshot taken in log order
// (as siftd takes them) covers the marks before it; a restore and a
// replay from its position make exactly the live batches after it.
func TestRecoverAfterASnapshotSkipsItsMarks(t *testing.T) {
	clock := newClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	l := open(t, t.TempDir())
	live, marks, liveRec, s, ctx, cancel := runMarked(t, l, clock)
	defer cancel()

	drive(t, live, s, clock)
	// Submissions still queued when the snapshot is asked for are
	// applied before it: their mark comes after its position in the log.
	var snapCh <-chan correlate.SnapshotState
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Go(func() {
			evs := batch(fmt.Sprintf("S%d", g), 3)
			clock.stamp(evs)
			if err := s.Submit(evs); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	at, err := l.AppendThen(nil, func(Pos) {
		var err error
		snapCh, err = live.QueueSnapshot()
		require.NoError(t, err)
	})
	require.NoError(t, err)
	snap := <-snapCh
	var buf bytes.Buffer
	require.NoError(t, snap.Encode(&buf))
	before, _ := liveRec.got()
	drive(t, live, s, clock)
	all, last := liveRec.got()
	require.NoError(t, marks.Wait(ctx, last))
	cancel()
	<-live.Done()
	copyDir := crashCopy(t, l)

	l2 := open(t, copyDir)
	restored, _, rec := markedEngine(l2, clock)
	require.NoError(t, restored.RestoreSnapshot(&buf))
	require.Equal(t, snap.Mark, restored.Mark())
	st, err := Recover(l2, at, restored, nil)
	require.NoError(t, err)
	require.Zero(t, st.Mismatched)
	require.Zero(t, st.Unmarked)
	got, _ := rec.got()
	require.Equal(t, all[len(before):], got)
	require.Equal(t, versionedIncidents(t, live), versionedIncidents(t, restored))
}

// versionedIncidents is incidentSummary with versions.
func versionedIncidents(t *testing.T, e *correlate.Engine) []string {
	t.Helper()
	var out []string
	it, err := e.DB().Txn(false).Get(incident.Table, "id")
	require.NoError(t, err)
	for raw := it.Next(); raw != nil; raw = it.Next() {
		js, err := json.Marshal(raw)
		require.NoError(t, err)
		out = append(out, string(js))
	}
	return out
}
