package wal

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

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

// TestRecover accepts events into a running engine through the
// Submitter, abandons it as a crash would (no drain, no close of the
// log), and requires a new engine recovered from the log to hold the
// same alerts, counts included.
func TestRecover(t *testing.T) {
	dir := t.TempDir()
	clock := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	l, err := Open(Options{Dir: dir})
	require.NoError(t, err)
	live := correlate.New(correlate.Options{Now: now})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = live.Run(ctx) }()
	s := NewSubmitter(l, live, nil, nil)

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

	l2, err := Open(Options{Dir: dir})
	require.NoError(t, err)
	defer l2.Close()
	restored := correlate.New(correlate.Options{Now: now})
	st, err := Recover(l2, Pos{}, restored)
	require.NoError(t, err)
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
	_, err = Recover(l, Pos{}, replayFunc(func(time.Time, []ingest.Event) {}))
	require.ErrorContains(t, err, "kind Kind(99) is not supported")
}

type replayFunc func(time.Time, []ingest.Event)

func (f replayFunc) Replay(now time.Time, evs []ingest.Event) { f(now, evs) }
