package wal

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/ingest"
)

// fakeEngine records what it is given. full makes the next Submits fail
// with ErrQueueFull until a Flush.
type fakeEngine struct {
	mu       sync.Mutex
	got      [][]ingest.Event
	queued   int
	capacity int
	full     bool
	flushes  int
}

func (f *fakeEngine) Submit(evs []ingest.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.full {
		return ingest.ErrQueueFull
	}
	f.got = append(f.got, evs)
	return nil
}

func (f *fakeEngine) Flush(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushes++
	f.full = false
	return nil
}

func (f *fakeEngine) QueueLength() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queued
}

func (f *fakeEngine) QueueCapacity() int { return f.capacity }

func batch(tag string, n int) []ingest.Event {
	evs := make([]ingest.Event, n)
	for i := range evs {
		ls := ingest.NewLabels(ingest.Label{Name: "alertname", Value: tag}, ingest.Label{Name: "i", Value: fmt.Sprint(i)})
		evs[i] = ingest.Event{Fingerprint: ls.Fingerprint(), Labels: ls, Source: ingest.SourceGeneric, ReceivedAt: time.Unix(1700000000, 0).UTC()}
	}
	return evs
}

// TestSubmitterKeepsLogOrder submits from many goroutines and requires
// the engine to receive the batches in exactly the log's order.
func TestSubmitterKeepsLogOrder(t *testing.T) {
	l := open(t, t.TempDir())
	eng := &fakeEngine{capacity: 1 << 20}
	s := NewSubmitter(l, eng, nil, prometheus.NewRegistry())
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 20 {
				require.NoError(t, s.Submit(batch(fmt.Sprintf("w%d-%d", w, i), 1+i%5)))
			}
		})
	}
	wg.Wait()
	var logged [][]ingest.Event
	require.NoError(t, l.Replay(Pos{}, func(_ Pos, rec []byte) error {
		evs, err := DecodeEvents(rec, nil)
		logged = append(logged, evs)
		return err
	}))
	require.Len(t, logged, 16*20)
	require.Equal(t, logged, eng.got)
	require.Zero(t, s.inflight.Load())
}

func TestSubmitterRefusesBeforeWriting(t *testing.T) {
	l := open(t, t.TempDir())
	eng := &fakeEngine{capacity: 10, queued: 8}
	s := NewSubmitter(l, eng, nil, prometheus.NewRegistry())
	end := l.End()
	require.ErrorIs(t, s.Submit(batch("a", 3)), ingest.ErrQueueFull)
	require.Equal(t, end, l.End(), "nothing written for a refused request")
	require.Empty(t, eng.got)
	require.NoError(t, s.Submit(batch("b", 2)))
	require.Len(t, eng.got, 1)
	require.Zero(t, s.inflight.Load())
	require.NoError(t, s.Submit(nil))

	require.NoError(t, l.Close())
	require.ErrorIs(t, s.Submit(batch("c", 1)), ingest.ErrClosed)
	require.Zero(t, s.inflight.Load())
}

// TestSubmitterWaitsWhenTheQueueFillsAfterLogging: another producer took
// the room between the check and the hand-over. The events are logged,
// so they must reach the engine: after a Flush.
func TestSubmitterWaitsWhenTheQueueFillsAfterLogging(t *testing.T) {
	l := open(t, t.TempDir())
	eng := &fakeEngine{capacity: 100}
	reg := prometheus.NewRegistry()
	s := NewSubmitter(l, eng, nil, reg)
	l.sync = func(f *os.File) error {
		eng.mu.Lock()
		eng.full = true // the queue fills while the group is synced
		eng.mu.Unlock()
		return f.Sync()
	}
	require.NoError(t, s.Submit(batch("a", 5)))
	require.Len(t, eng.got, 1)
	require.Equal(t, 1, eng.flushes)
	require.Equal(t, float64(1), testutil.ToFloat64(s.waits))
}

// liveEngine runs an engine on clock now that logs to a new log in dir,
// as siftd does: events through a Submitter, commands through a
// Commander. Nothing is closed at the end of the test: a crash.
func liveEngine(t *testing.T, dir string, now func() time.Time) (*Log, *correlate.Engine, *Submitter, *Commander) {
	t.Helper()
	l, err := Open(Options{Dir: dir})
	require.NoError(t, err)
	live := correlate.New(correlate.Options{Now: now})
	cmds := NewCommander(l, live, nil, prometheus.NewRegistry())
	live.SetCommandLog(cmds)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = live.Run(ctx) }()
	return l, live, NewSubmitter(l, live, nil, nil), cmds
}

// restart opens the log in dir again and recovers a new engine from it.
func restart(t *testing.T, dir string, now func() time.Time) (*correlate.Engine, RecoverStats) {
	t.Helper()
	l, err := Open(Options{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	restored := correlate.New(correlate.Options{Now: now})
	st, err := Recover(l, Pos{}, restored, nil)
	require.NoError(t, err)
	return restored, st
}

// TestRecover accepts events into a running engine through the
// Submitter, abandons it as a crash would (no drain, no close of the
// log), and requires a new engine recovered from the log to hold the
// same alerts, counts included.
func TestRecover(t *testing.T) {
	dir := t.TempDir()
	clock := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	_, live, s, _ := liveEngine(t, dir, now)

	var sent []ingest.Event
	for i := range 30 {
		evs := batch(fmt.Sprintf("A%d", i%7), 1+i%4)
		for j := range evs {
			evs[j].ReceivedAt = clock.Add(time.Duration(i) * time.Second)
			evs[j].StartsAt = evs[j].ReceivedAt
			if i%9 == 8 {
				evs[j].Status = ingest.StatusResolved
			}
		}
		sent = append(sent, evs...)
		require.NoError(t, s.Submit(evs))
	}
	require.NoError(t, live.Flush(context.Background()))
	// The crash: nothing closed. (The log's fd stays open in this
	// process; what is on disk is what Recover reads.)

	restored, st := restart(t, dir, now)
	require.Equal(t, 30, st.Records)
	require.Equal(t, len(sent), st.Events)
	require.Equal(t, clock.Add(29*time.Second), st.Clock)

	require.Equal(t, alertSummary(t, live), alertSummary(t, restored))
	// Incidents are equal but for Version, which counts the engine
	// batches that changed the incident: the live engine grouped
	// requests into batches as they came, recovery applies one record a
	// batch (docs/durability.md, "Batch boundaries").
	require.Equal(t, incidentSummary(t, live), incidentSummary(t, restored))
	require.Len(t, incidentSummary(t, restored), 7)
	sum := fmt.Sprint(alertSummary(t, restored))
	require.Contains(t, sum, `"count":2`)
	require.Contains(t, sum, `"resolved_at"`)
}

func alertSummary(t *testing.T, e *correlate.Engine) map[model.Fingerprint]string {
	t.Helper()
	out := map[model.Fingerprint]string{}
	for a := range correlate.AlertsFrom(e.DB().Txn(false), 0) {
		js, err := json.Marshal(a.JSON())
		require.NoError(t, err)
		out[a.Fingerprint] = string(js)
	}
	return out
}

func incidentSummary(t *testing.T, e *correlate.Engine) []string {
	t.Helper()
	var out []string
	it, err := e.DB().Txn(false).Get(incident.Table, "id")
	require.NoError(t, err)
	for raw := it.Next(); raw != nil; raw = it.Next() {
		inc := *raw.(*incident.Incident)
		inc.Version = 0
		js, err := json.Marshal(inc)
		require.NoError(t, err)
		out = append(out, string(js))
	}
	return out
}

func TestRecoverRefusesUnknownKinds(t *testing.T) {
	l := open(t, t.TempDir())
	_, err := l.Append([][]byte{{99, 1, 2}})
	require.NoError(t, err)
	_, err = Recover(l, Pos{}, replayFunc(func(time.Time, []ingest.Event) {}), nil)
	require.ErrorContains(t, err, "kind Kind(99) is not supported")
}

type replayFunc func(time.Time, []ingest.Event)

func (f replayFunc) Replay(now time.Time, evs []ingest.Event) { f(now, evs) }

func (f replayFunc) ReplayCommand(*correlate.Command) (any, error) { return nil, nil }

func (f replayFunc) ReplayMarked(m correlate.BatchMark, evs []ingest.Event) uint64 {
	f(m.Clock, evs)
	return m.Seq
}

func (f replayFunc) ReplayCommandMarked(m correlate.BatchMark, _ *correlate.Command) (any, uint64, error) {
	return nil, m.Seq, nil
}

func (replayFunc) Mark() uint64 { return 0 }

// TestRecoverCommands: incident actions and silences go through the
// Commander between event batches; a new engine recovered from the log
// holds the same incidents and silences, and the refused action is
// refused again.
func TestRecoverCommands(t *testing.T) {
	dir := t.TempDir()
	clock := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	l, live, s, cmds := liveEngine(t, dir, now)
	ctx := t.Context()

	evs := batch("Down", 3)
	for i := range evs {
		evs[i].ReceivedAt = clock
	}
	require.NoError(t, s.Submit(evs))
	_, err := live.Act(ctx, incident.Action{ID: "INC0000001", Verb: incident.VerbAck, Actor: "ann"})
	require.NoError(t, err)
	_, err = live.Act(ctx, incident.Action{ID: "INC0000001", Verb: incident.VerbAck, Actor: "bob"})
	var te *incident.TransitionError
	require.ErrorAs(t, err, &te)
	_, err = live.Act(ctx, incident.Action{Verb: incident.VerbAck}) // invalid: not logged
	require.Error(t, err)
	m, err := labels.NewMatcher(labels.MatchEqual, "alertname", "Disk")
	require.NoError(t, err)
	clock = clock.Add(time.Minute)
	_, err = live.AddSilence(ctx, correlate.Silence{Matchers: labels.Matchers{m}, EndsAt: clock.Add(time.Hour), CreatedBy: "ann", Comment: "c"})
	require.NoError(t, err)
	evs = batch("Disk", 2)
	for i := range evs {
		evs[i].ReceivedAt = clock
	}
	require.NoError(t, s.Submit(evs))
	clock = clock.Add(time.Minute)
	_, err = live.Act(ctx, incident.Action{ID: "INC0000001", Verb: incident.VerbResolve, Actor: "ann"})
	require.NoError(t, err)
	require.NoError(t, live.Flush(ctx))
	require.Equal(t, 4.0, testutil.ToFloat64(cmds.count), "the invalid action is not logged")

	restored, st := restart(t, dir, now)
	require.Equal(t, l.End(), st.End)
	require.Equal(t, RecoverStats{Records: 6, Events: 5, Commands: 4, Refused: 1, Unmarked: 6, Kafka: Offsets{}, End: st.End, Clock: clock}, st)
	require.Equal(t, incidentSummary(t, live), incidentSummary(t, restored))
	require.Equal(t, alertSummary(t, live), alertSummary(t, restored))
	sum := incidentSummary(t, restored)
	require.Len(t, sum, 1, "the Disk alerts are silenced")
	require.Contains(t, sum[0], `"State":"resolved"`)
	require.Contains(t, fmt.Sprint(alertSummary(t, restored)), `"suppressed":"silence SIL0000001"`)
}

// TestSubmitOffsets: Kafka events are logged with their offsets, which
// the Submitter then reports; offsets of dead letters alone are logged
// too, and Recover returns the last of each partition.
func TestSubmitOffsets(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir)
	eng := &fakeEngine{capacity: 100}
	s := NewSubmitter(l, eng, nil, prometheus.NewRegistry())
	s.SetOffsets(Offsets{{"old", 0}: 99, {"t", 0}: 1})
	a, b := batch("a", 2), batch("b", 1)
	require.NoError(t, s.SubmitOffsets(a, Offsets{{"t", 0}: 5, {"t", 1}: 3}))
	require.NoError(t, s.SubmitOffsets(b, Offsets{{"t", 0}: 6}))
	end := l.End()
	require.NoError(t, s.SubmitOffsets(nil, Offsets{{"t", 1}: 4}))
	require.NotEqual(t, end, l.End(), "offsets alone are logged")
	require.Equal(t, [][]ingest.Event{a, b}, eng.got, "and nothing handed over for them")
	require.Equal(t, Offsets{{"old", 0}: 99, {"t", 0}: 6, {"t", 1}: 4}, s.Offsets())
	off, ok := s.LastOffset("t", 1)
	require.True(t, ok)
	require.Equal(t, int64(4), off)
	_, ok = s.LastOffset("t", 2)
	require.False(t, ok)
	got := s.Offsets()
	got[TopicPartition{"t", 0}] = 0
	require.Equal(t, int64(6), s.Offsets()[TopicPartition{"t", 0}], "Offsets is a copy")

	eng.queued = 99
	require.ErrorIs(t, s.SubmitOffsets(batch("c", 2), Offsets{{"t", 0}: 8}), ingest.ErrQueueFull)
	require.Equal(t, int64(6), s.Offsets()[TopicPartition{"t", 0}], "refused: nothing logged")

	var replayed [][]ingest.Event
	st, err := Recover(l, Pos{}, replayFunc(func(_ time.Time, evs []ingest.Event) { replayed = append(replayed, evs) }), nil)
	require.NoError(t, err)
	require.Equal(t, Offsets{{"t", 0}: 6, {"t", 1}: 4}, st.Kafka)
	require.Equal(t, 3, st.Records)
	require.Equal(t, [][]ingest.Event{a, b}, replayed)
}

// TestOffsetsAtAPosition: called in an AppendThen callback, Offsets
// gives exactly the offsets of the Kafka records before that callback's
// position, however appends interleave: what a snapshot there records.
func TestOffsetsAtAPosition(t *testing.T) {
	l := open(t, t.TempDir())
	s := NewSubmitter(l, &fakeEngine{capacity: 1 << 20}, nil, prometheus.NewRegistry())
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Go(func() {
			for off := range 50 {
				require.NoError(t, s.SubmitOffsets(batch("x", 1+off%3), Offsets{{"t", p}: int64(off)}))
			}
		})
	}
	marks := map[Pos]Offsets{}
	for range 20 {
		_, err := l.AppendThen([][]byte{AppendEvents(nil, nil)}, func(end Pos) { marks[end] = s.Offsets() })
		require.NoError(t, err)
	}
	wg.Wait()
	logged := Offsets{}
	n := 0
	require.NoError(t, l.Replay(Pos{}, func(end Pos, rec []byte) error {
		if RecordKind(rec) == KindKafkaEvents {
			offs, _, err := DecodeKafkaEvents(rec, nil)
			require.NoError(t, err)
			maps.Copy(logged, offs)
		}
		if want, ok := marks[end]; ok {
			require.Equal(t, logged, want, "at %s", end)
			n++
		}
		return nil
	}))
	require.Equal(t, 20, n)
}
