package correlate

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/ingest"
)

type recorder struct {
	mu      sync.Mutex
	batches []*Batch
}

func (r *recorder) Consume(b *Batch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, b)
}

func (r *recorder) snapshot() []*Batch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*Batch(nil), r.batches...)
}

func (r *recorder) events() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, b := range r.batches {
		n += len(b.Events)
	}
	return n
}

func TestEngineMicroBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		e := New(Options{Registerer: reg, Settings: Settings{BatchMaxEvents: 3, BatchMaxWait: 50 * time.Millisecond}})
		rec := &recorder{}
		e.Subscribe(rec)
		go func() { _ = e.Run(context.Background()) }()

		// Two submissions of two events: the first three-event bound is
		// crossed by the second, so they are applied as one batch of four.
		require.NoError(t, e.Submit([]ingest.Event{ev(0, "a", "1"), ev(0, "a", "2")}))
		require.NoError(t, e.Submit([]ingest.Event{ev(0, "a", "3"), ev(0, "a", "1")}))
		synctest.Wait()
		bs := rec.snapshot()
		require.Len(t, bs, 1)
		require.Len(t, bs[0].Events, 4)
		require.Len(t, alertChanges(bs[0]), 3)
		require.Equal(t, 1, bs[0].Duplicates)

		// Below the bound, the batch waits for BatchMaxWait.
		require.NoError(t, e.Submit([]ingest.Event{ev(0, "a", "4")}))
		synctest.Wait()
		require.Len(t, rec.snapshot(), 1)
		time.Sleep(50 * time.Millisecond)
		synctest.Wait()
		bs = rec.snapshot()
		require.Len(t, bs, 2)
		require.Equal(t, uint64(2), bs[1].Seq)

		require.Equal(t, 5.0, testutil.ToFloat64(e.m.applied))
		require.Equal(t, 1.0, testutil.ToFloat64(e.m.deduped))
		require.Equal(t, 4.0, testutil.ToFloat64(e.m.activeBySev[ingest.SeverityWarning]))
		require.Equal(t, 0.0, testutil.ToFloat64(e.m.dropped))
		e.Close()
		<-e.Done()
	})
}

func TestEngineQueueFullRefusesWholeSubmission(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		e := New(Options{Registerer: reg, QueueCapacity: 3})
		// Not running: nothing drains the queue.
		require.NoError(t, e.Submit([]ingest.Event{ev(0, "a", "1"), ev(0, "a", "2")}))
		err := e.Submit([]ingest.Event{ev(0, "a", "3"), ev(0, "a", "4")})
		require.ErrorIs(t, err, ingest.ErrQueueFull)
		require.NoError(t, e.Submit([]ingest.Event{ev(0, "a", "3")}), "a submission that fits is still taken")
		require.Equal(t, 3.0, metricValue(t, reg, "sift_engine_queue_length_events"))
		require.Equal(t, 2.0, testutil.ToFloat64(e.m.dropped))

		rec := &recorder{}
		e.Subscribe(rec)
		go func() { _ = e.Run(context.Background()) }()
		require.NoError(t, e.Flush(context.Background()))
		require.Equal(t, 3, rec.events())
		require.Len(t, e.st.alerts, 3)
		require.Equal(t, 0.0, metricValue(t, reg, "sift_engine_queue_length_events"))
		e.Close()
		<-e.Done()
	})
}

func TestEngineCloseDrainsQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := New(Options{Settings: Settings{BatchMaxEvents: 1000, BatchMaxWait: time.Hour}})
		rec := &recorder{}
		e.Subscribe(rec)
		for i := 0; i < 10; i++ {
			require.NoError(t, e.Submit([]ingest.Event{ev(0, "n", string(rune('a'+i)))}))
		}
		go func() { _ = e.Run(context.Background()) }()
		synctest.Wait()
		require.Zero(t, rec.events(), "held back by the batch wait")
		e.Close()
		<-e.Done()
		require.Equal(t, 10, rec.events(), "close applies everything queued")
		require.Len(t, e.st.alerts, 10)
		require.ErrorIs(t, e.Submit([]ingest.Event{ev(0, "late", "1")}), ingest.ErrClosed)
		require.NoError(t, e.Flush(context.Background()), "flush after close returns")
	})
}

func TestEngineTicksExpireOnInjectedClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Inside the bubble time.Now is the fake clock; the engine reads
		// it only through Options.Now.
		var mu sync.Mutex
		offset := time.Duration(0)
		now := func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			return t0.Add(offset)
		}
		e := New(Options{Now: now, Settings: Settings{TickInterval: time.Second, ResolveTimeout: time.Minute}})
		rec := &recorder{}
		e.Subscribe(rec)
		go func() { _ = e.Run(context.Background()) }()
		require.NoError(t, e.Submit([]ingest.Event{ev(0, "alertname", "X")}))
		require.NoError(t, e.Flush(context.Background()))

		mu.Lock()
		offset = time.Minute + time.Second
		mu.Unlock()
		time.Sleep(time.Second) // one tick
		synctest.Wait()
		bs := rec.snapshot()
		last := bs[len(bs)-1]
		require.Len(t, alertChanges(last), 1)
		require.Equal(t, AlertResolved, alertChanges(last)[0].Kind)
		require.True(t, alertChanges(last)[0].Expired)
		require.Equal(t, t0.Add(time.Minute), alertChanges(last)[0].Alert.ResolvedAt())
		e.Close()
		<-e.Done()
	})
}

func TestEngineSettingsReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := New(Options{Settings: Settings{BatchMaxEvents: 1000, BatchMaxWait: time.Hour}})
		rec := &recorder{}
		e.Subscribe(rec)
		go func() { _ = e.Run(context.Background()) }()
		e.SetSettings(Settings{BatchMaxEvents: 1})
		require.Equal(t, DefaultSettings().ResolveTimeout, e.Settings().ResolveTimeout, "zero fields take defaults")
		require.NoError(t, e.Submit([]ingest.Event{ev(0, "a", "1")}))
		synctest.Wait()
		require.Equal(t, 1, rec.events(), "the new batch bound applies at once")
		e.Close()
		<-e.Done()
	})
}

// metricValue reads an unlabelled gauge or counter back from a registry.
func metricValue(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if m.GetGauge() != nil {
			return m.GetGauge().GetValue()
		}
		return m.GetCounter().GetValue()
	}
	t.Fatalf("no metric %q", name)
	return 0
}

func TestEngineQueueSlotsBoundSubmissions(t *testing.T) {
	// Many one-event submissions fill the slots before the event capacity.
	e := New(Options{QueueCapacity: 2 * maxQueueSlots})
	one := []ingest.Event{ev(0, "a", "1")}
	for i := 0; i < maxQueueSlots; i++ {
		require.NoError(t, e.Submit(one))
	}
	require.ErrorIs(t, e.Submit(one), ingest.ErrQueueFull)
	require.Equal(t, int64(maxQueueSlots), e.queued.Load(), "a refused submission is not counted as queued")
	require.Equal(t, 1.0, testutil.ToFloat64(e.m.dropped))
}

func TestOfflineApplyReceivedKeepsEventTime(t *testing.T) {
	o := NewOffline(DefaultSettings(), nil, nil)
	// Received an hour after it started, then a second alert of the group
	// that started 4 minutes after the first: one incident in event time.
	a := ev(0, "alertname", "Slow", "service", "api")
	a.ReceivedAt = t0.Add(time.Hour)
	b := ev(4*time.Minute, "alertname", "Slow", "service", "api", "instance", "2")
	b.ReceivedAt = t0.Add(time.Hour + time.Second)
	o.ApplyReceived([]ingest.Event{a, b})
	require.Equal(t, t0.Add(time.Hour+time.Second), o.Clock())
	incs := o.Incidents()
	require.Len(t, incs, 1)
	require.Equal(t, t0.Add(time.Hour), incs[0].OpenedAt, "opened when received")
	got, ok := o.Alert(a.Fingerprint)
	require.True(t, ok)
	require.Equal(t, t0, got.StartsAt(), "its own start kept")
}
