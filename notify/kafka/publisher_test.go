package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/config"
	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/ingest"
	"github.com/sift-itsm/sift/internal/kafkatest"
)

// alertOnly selects the alert changes, for tests that count messages per
// alert event.
var alertOnly = []string{"alert.opened", "alert.updated", "alert.resolved", "alert.expired"}

func TestIncidentChangesKeyedByIncidentID(t *testing.T) {
	w := &writer{}
	p, err := New(Options{Writer: w, Changes: []string{"incident.opened", "incident.updated"}})
	require.NoError(t, err)
	applyBatches(t, p, []ingest.Event{event("A", "warning", ingest.StatusFiring)}, []ingest.Event{event("A", "critical", ingest.StatusFiring)})
	var got []string
	for len(p.queue) > 0 {
		e := <-p.queue
		got = append(got, e.Name()+" "+e.ID)
		require.Equal(t, "incident", e.Type)
	}
	require.Equal(t, []string{"incident.opened INC0000001", "incident.updated INC0000001"}, got, "the severity change reprioritises the incident")
}

func TestChangeNamesMatchConfig(t *testing.T) {
	require.Equal(t, config.KafkaChangeNames, ChangeNames)
}

func event(name, sev string, status ingest.Status) ingest.Event {
	ls := ingest.NewLabels(ingest.Label{Name: "alertname", Value: name})
	s, _ := ingest.NormalizeSeverity(sev)
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	return ingest.Event{Fingerprint: ls.Fingerprint(), Source: ingest.SourceGeneric, Labels: ls, Severity: s, RawSeverity: sev, Status: status, StartsAt: at, ReceivedAt: at}
}

// engine runs an engine with p subscribed and applies each slice of events
// as its own batch.
func applyBatches(t *testing.T, p *Publisher, batches ...[]ingest.Event) {
	t.Helper()
	applyMarked(t, p, nil, batches...)
}

// applyMarked is applyBatches with the engine's batches marked in marks
// (none when nil), as with the write-ahead log.
func applyMarked(t *testing.T, p *Publisher, marks correlate.MarkLog, batches ...[]ingest.Event) {
	t.Helper()
	e := correlate.New(correlate.Options{Now: func() time.Time { return time.Date(2026, 11, 24, 12, 1, 0, 0, time.UTC) }})
	e.Subscribe(p)
	if marks != nil {
		e.SetMarkLog(marks)
	}
	done := make(chan error, 1)
	go func() { done <- e.Run(context.Background()) }()
	for _, b := range batches {
		require.NoError(t, e.Submit(b))
		require.NoError(t, e.Flush(context.Background()))
	}
	e.Close()
	require.NoError(t, <-done)
}

func TestPublishesChangesKeyedAndOrdered(t *testing.T) {
	cl := kafkatest.New(t)
	topic := cl.CreateTopic(t, "changes", 4)
	reg := prometheus.NewRegistry()
	p, err := New(Options{Brokers: cl.Brokers, Topic: topic, Registerer: reg, Changes: alertOnly})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, context.Background()) }()

	var batches [][]ingest.Event
	for _, name := range []string{"A", "B", "C", "D", "E"} {
		batches = append(batches,
			[]ingest.Event{event(name, "warning", ingest.StatusFiring)},
			[]ingest.Event{event(name, "critical", ingest.StatusFiring), event(name, "critical", ingest.StatusFiring)},
			[]ingest.Event{event(name, "critical", ingest.StatusResolved)})
	}
	applyBatches(t, p, batches...)
	got := cl.ReadAll(t, topic, 15)
	cancel()
	require.NoError(t, <-done)

	byKey := map[string][]Envelope{}
	partitionOf := map[string]int{}
	for _, m := range got {
		var e Envelope
		require.NoError(t, json.Unmarshal(m.Value, &e))
		require.Equal(t, e.ID, string(m.Key), "keyed by id")
		if p, ok := partitionOf[e.ID]; ok {
			require.Equal(t, p, m.Partition, "one key, one partition")
		}
		partitionOf[e.ID] = m.Partition
		require.Equal(t, []kafkago.Header{{Key: HeaderType, Value: []byte("alert")}, {Key: HeaderKind, Value: []byte(e.Kind)}}, m.Headers)
		byKey[e.ID] = append(byKey[e.ID], e)
	}
	require.Len(t, byKey, 5)
	for id, es := range byKey {
		require.Equal(t, []string{"opened", "updated", "resolved"}, []string{es[0].Kind, es[1].Kind, es[2].Kind}, id)
		require.Less(t, es[0].Version, es[1].Version)
		require.Less(t, es[1].Version, es[2].Version)
		require.Less(t, es[0].Batch, es[1].Batch)
		obj := es[1].Object.(map[string]any)
		require.Equal(t, id, obj["fingerprint"])
		require.Equal(t, "critical", obj["severity"])
	}
	require.Equal(t, 15.0, testutil.ToFloat64(p.produced))
	require.Equal(t, 0.0, testutil.ToFloat64(p.dropped))
}

// writer records what it is given; it fails while fail > 0 and blocks
// while block is open.
type writer struct {
	mu    sync.Mutex
	fail  int
	block chan struct{}
	msgs  []kafkago.Message
}

func (w *writer) WriteMessages(ctx context.Context, msgs ...kafkago.Message) error {
	if w.block != nil {
		select {
		case <-w.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail > 0 {
		w.fail--
		return errors.New("broker unavailable")
	}
	w.msgs = append(w.msgs, msgs...)
	return nil
}

func (w *writer) Close() error { return nil }

func TestConsumeNeverBlocksAndCountsDrops(t *testing.T) {
	w := &writer{block: make(chan struct{})}
	reg := prometheus.NewRegistry()
	p, err := New(Options{Writer: w, QueueCapacity: 2, Registerer: reg, Changes: alertOnly})
	require.NoError(t, err)
	// Nothing publishes (no Run): the engine must still get through.
	applyBatches(t, p, []ingest.Event{event("A", "warning", 0), event("B", "warning", 0), event("C", "warning", 0), event("D", "warning", 0)})
	require.Equal(t, 2.0, testutil.ToFloat64(p.dropped))
	require.Equal(t, 2.0, testutil.ToFloat64(p.length))
}

func TestOnlyConfiguredChangesArePublished(t *testing.T) {
	w := &writer{}
	p, err := New(Options{Writer: w, Changes: []string{"alert.resolved"}})
	require.NoError(t, err)
	applyBatches(t, p, []ingest.Event{event("A", "warning", 0)}, []ingest.Event{event("A", "warning", ingest.StatusResolved)})
	require.Len(t, p.queue, 1)
	require.Equal(t, "resolved", (<-p.queue).Kind)

	_, err = New(Options{Writer: w, Changes: []string{"incident.exploded"}})
	require.ErrorContains(t, err, `unknown change "incident.exploded"`)
}

func TestFailedWriteIsRetriedInOrder(t *testing.T) {
	w := &writer{fail: 3}
	var slept []time.Duration
	reg := prometheus.NewRegistry()
	p, err := New(Options{Writer: w, Registerer: reg, Changes: alertOnly, Sleep: func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		return nil
	}})
	require.NoError(t, err)
	applyBatches(t, p, []ingest.Event{event("A", "warning", 0)}, []ingest.Event{event("A", "critical", 0)})
	// Stop at once: Run drains the queue (retrying the failed writes), then returns.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, p.Run(ctx, context.Background()))
	require.Len(t, w.msgs, 2)
	var kinds []string
	for _, m := range w.msgs {
		var e Envelope
		require.NoError(t, json.Unmarshal(m.Value, &e))
		kinds = append(kinds, e.Kind)
	}
	require.Equal(t, []string{"opened", "updated"}, kinds)
	require.Equal(t, []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}, slept)
	require.Equal(t, 3.0, testutil.ToFloat64(p.errors))
	require.Equal(t, 2.0, testutil.ToFloat64(p.produced))
}

func TestStopGivesUpAfterDrainAndCountsDrops(t *testing.T) {
	w := &writer{fail: 1 << 30}
	p, err := New(Options{Writer: w, Changes: alertOnly, Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
	require.NoError(t, err)
	applyBatches(t, p, []ingest.Event{event("A", "warning", 0), event("B", "warning", 0)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	drain, cancelDrain := context.WithCancel(context.Background())
	cancelDrain()
	require.NoError(t, p.Run(ctx, drain))
	require.Equal(t, 2.0, testutil.ToFloat64(p.dropped))
}

// TestWaitsForTheMarkToBeDurable: a change is published only once its
// batch's write-ahead log mark is durable, so that the replay after a
// crash publishes that same envelope, not another under its version.
func TestWaitsForTheMarkToBeDurable(t *testing.T) {
	w := &writer{}
	var durable atomic.Uint64
	sleeps := 0
	p, err := New(Options{Writer: w, Changes: alertOnly, Durable: durable.Load, Sleep: func(ctx context.Context, _ time.Duration) error {
		sleeps++
		if sleeps == 3 {
			durable.Store(2) // the log's group commit lands
		}
		return ctx.Err()
	}})
	require.NoError(t, err)
	marks := markLog{}
	applyMarked(t, p, marks, []ingest.Event{event("A", "warning", 0)}, []ingest.Event{event("A", "critical", 0)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, p.Run(ctx, context.Background()))
	require.Equal(t, 3, sleeps, "published once the mark was durable, not before")
	require.Len(t, w.msgs, 2)
	var e Envelope
	require.NoError(t, json.Unmarshal(w.msgs[0].Value, &e))
	require.Equal(t, time.UTC, e.Time.Location())

	// A mark that never becomes durable (the log failed): dropped at
	// stop, and counted.
	w.msgs = nil
	durable.Store(0) // a new engine numbers its marks from 1 again
	applyMarked(t, p, marks, []ingest.Event{event("B", "warning", 0)}, []ingest.Event{event("C", "critical", 0)})
	drain, cancelDrain := context.WithCancel(context.Background())
	cancelDrain()
	require.NoError(t, p.Run(ctx, drain))
	require.Empty(t, w.msgs)
	require.Equal(t, 2.0, testutil.ToFloat64(p.dropped))
}

// markLog numbers marks and writes nothing: marks is durable as the test
// says.
type markLog struct{}

func (markLog) Mark(correlate.BatchMark) {}
