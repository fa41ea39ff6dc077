package history

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/ingest"
)

// twice inserts every table's rows twice: an insert that failed after the
// server stored it, then its retry.
// It counts the timeline rows and incident versions it sent.
type twice struct {
	*Store
	timeline, incidents *atomic.Int64
}

func (d twice) Insert(ctx context.Context, table string, r *Rows) error {
	for range 2 {
		if err := d.Store.Insert(ctx, table, r); err != nil {
			return err
		}
		switch table {
		case TableIncidentTimeline:
			d.timeline.Add(int64(len(r.Timeline)))
		case TableIncidents:
			d.incidents.Add(int64(len(r.Incidents)))
		}
	}
	return nil
}

// versions records the newest version of every incident off the change
// stream, as the engine published it.
type versions struct {
	mu   sync.Mutex
	last map[uint64]*incident.Incident
	n    int
}

func (v *versions) Consume(b *correlate.Batch) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, c := range b.Changes {
		if c.Incident != nil {
			v.last[c.Incident.Seq] = c.Incident
			v.n++
		}
	}
}

func (v *versions) get(seq uint64) *incident.Incident {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.last[seq]
}

// swappable forwards the engine's batches to the writer of the moment: a
// siftd restart, as far as the writer can tell, without restarting the
// engine.
type swappable struct{ w atomic.Pointer[Writer] }

func (s *swappable) Consume(b *correlate.Batch) { s.w.Load().Consume(b) }

// An incident that lives through many batches (alerts joining one at a
// time, an acknowledgement, notes, resolves, a close) is written version
// by version; history returns it with the engine's last version and its
// whole timeline, although every row was inserted twice and the writer
// restarted half way (the new one writes the timeline again from the
// start).
func TestIncidentVersionsAndTimeline(t *testing.T) {
	s := testStore(t, clickhouseAddr(t), keepForever)
	stopMerges(t, s)
	ctx := context.Background()
	var clock atomic.Int64
	clock.Store(t0.UnixNano())
	e := correlate.New(correlate.Options{Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	vs := &versions{last: map[uint64]*incident.Incident{}}
	fwd := &swappable{}
	e.Subscribe(fwd)
	e.Subscribe(vs)
	go func() { _ = e.Run(context.Background()) }()
	defer func() { e.Close(); <-e.Done() }()

	var sentTimeline, sentIncidents atomic.Int64
	start := func() (*Writer, func()) {
		w, err := NewWriter(twice{s, &sentTimeline, &sentIncidents}, WriterOptions{SpoolDir: t.TempDir(), BatchMaxRows: 50, BatchMaxWait: 10 * time.Millisecond})
		require.NoError(t, err)
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = w.Run(wctx) }()
		fwd.w.Store(w)
		return w, func() { waitSent(t, w); cancel(); <-done }
	}
	at := func(d time.Duration) { clock.Store(t0.Add(d).UnixNano()) }
	submit := func(evs ...ingest.Event) {
		require.NoError(t, e.Submit(evs))
		require.NoError(t, e.Flush(ctx))
	}
	host := func(i int) string { return fmt.Sprintf("db%02d", i) }
	const n = 24

	_, stop := start()
	// n alerts of one service join one incident, one batch each; every
	// alert repeats once (duplicates: events without an alert change).
	for i := range n {
		at(time.Duration(i) * time.Second)
		ev := testEvent(time.Duration(i)*time.Second, ingest.StatusFiring, "alertname", "DiskFull", "service", "billing", "host", host(i), "severity", "major")
		submit(ev)
		submit(ev)
	}
	// A critical one raises the priority.
	at(30 * time.Second)
	submit(testEvent(30*time.Second, ingest.StatusFiring, "alertname", "DiskFull", "service", "billing", "host", "db99", "severity", "critical"))
	at(2 * time.Minute)
	_, err := e.Act(ctx, incident.Action{ID: "INC0000001", Verb: incident.VerbAck, Actor: "alice"})
	require.NoError(t, err)
	stop()

	// The writer restarts: it knows nothing of the incident.
	w, stop := start()
	for i := range 5 {
		at(3*time.Minute + time.Duration(i)*time.Second)
		_, err := e.Act(ctx, incident.Action{ID: "INC0000001", Verb: incident.VerbNote, Actor: "alice", Text: fmt.Sprintf("note %d", i)})
		require.NoError(t, err)
	}
	for i := range n {
		at(4*time.Minute + time.Duration(i)*time.Second)
		submit(testEvent(4*time.Minute+time.Duration(i)*time.Second, ingest.StatusResolved, "alertname", "DiskFull", "service", "billing", "host", host(i), "severity", "major"))
	}
	// Before the resolve hold and any expiry.
	at(4*time.Minute + 40*time.Second)
	_, err = e.Act(ctx, incident.Action{ID: "INC0000001", Verb: incident.VerbResolve, Actor: "bob", Text: "disks cleaned"})
	require.NoError(t, err)
	at(4*time.Minute + 50*time.Second)
	_, err = e.Act(ctx, incident.Action{ID: "INC0000001", Verb: incident.VerbClose, Actor: "bob"})
	require.NoError(t, err)
	stop()
	require.Empty(t, w.tr.incs, "a closed incident is forgotten")
	require.Empty(t, w.tr.alerts, "and its alerts")

	want := vs.get(1)
	require.NotNil(t, want)
	require.Equal(t, incident.StateClosed, want.State)
	require.Greater(t, len(want.Timeline), 2*n)

	got, err := s.Incident(ctx, "INC0000001")
	require.NoError(t, err)
	wj := want.ToJSON(true)
	require.Equal(t, wj.Timeline, got.Timeline, "the whole timeline, each entry once")
	got.Timeline, wj.Timeline = nil, nil
	// History does not keep what only the live incident needs.
	wj.ProbableChanges, wj.Workaround, wj.Tickets = nil, "", nil
	require.Equal(t, wj, got.JSON)
	require.Equal(t, []string{"billing"}, got.Services)
	require.Equal(t, "critical", got.Severity)
	require.Contains(t, got.Signature, "default/")
	require.Equal(t, Signature(want.Rule, want.GroupKey), got.Signature)

	// Every row went in twice (and the timeline's first part three
	// times); queries see each once.
	require.Equal(t, uint64(len(want.Timeline)), count(t, s, "SELECT count() FROM {db}.incident_timeline FINAL"))
	require.Greater(t, sentTimeline.Load(), int64(2*len(want.Timeline)))
	require.Equal(t, uint64(sentTimeline.Load()), count(t, s, "SELECT count() FROM {db}.incident_timeline"), "no merge collapsed them")
	require.Equal(t, uint64(1), count(t, s, "SELECT count() FROM {db}.incidents FINAL"))
	require.Equal(t, int64(2*vs.n), sentIncidents.Load(), "every version, twice")

	// The events of the incident's alerts carry its id: the firing ones,
	// their duplicates and the resolves.
	require.Equal(t, uint64(3*n+1), count(t, s, "SELECT count() FROM {db}.events FINAL WHERE incident_id = 'INC0000001'"))
	require.Equal(t, uint64(0), count(t, s, "SELECT count() FROM {db}.events FINAL WHERE incident_id = ''"))
	require.Equal(t, uint64(0), count(t, s, "SELECT count() FROM {db}.alert_states FINAL WHERE incident_id != 'INC0000001'"))

	_, err = s.Incident(ctx, "INC0000002")
	require.ErrorIs(t, err, ErrNotFound)
}

// keepForever turns retention off: the tests' times lie in the past, and
// a writer's start drops what is past retention (on 18.16, whole months).
func keepForever(o *Options) {
	o.Retention = Retention{}
	for _, t := range Tables {
		o.Retention[t] = 0
	}
}
