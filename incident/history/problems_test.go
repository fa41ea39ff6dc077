package history

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/ingest"
)

// problemVersions records every problem version off the change stream.
type problemVersions struct {
	mu   sync.Mutex
	all  []*incident.Problem
	last *incident.Problem
}

func (v *problemVersions) Consume(b *correlate.Batch) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, c := range b.Changes {
		if c.Problem != nil {
			v.all = append(v.all, c.Problem)
			v.last = c.Problem
		}
	}
}

// A failure that comes back daily opens a problem at its third incident
// (the engine's default recurrence); the fourth links to it; a problem
// manager records the root cause and a workaround, resolves and closes
// it. Every version reaches the problems table (each inserted twice), and
// history returns the problem as the engine last published it, with when
// it was resolved and closed and its incidents as history has them.
func TestProblemVersionsInHistory(t *testing.T) {
	s := testStore(t, clickhouseAddr(t), keepForever)
	stopMerges(t, s)
	ctx := context.Background()
	var clock atomic.Int64
	at := func(d time.Duration) time.Time {
		clock.Store(t0.Add(d).UnixNano())
		return t0.Add(d)
	}
	e := correlate.New(correlate.Options{Now: func() time.Time { return time.Unix(0, clock.Load()).UTC() }})
	pv := &problemVersions{}
	var sentTimeline, sentIncidents atomic.Int64
	w, err := NewWriter(twice{s, &sentTimeline, &sentIncidents}, WriterOptions{SpoolDir: t.TempDir(), BatchMaxWait: 10 * time.Millisecond})
	require.NoError(t, err)
	e.Subscribe(w)
	e.Subscribe(pv)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(wctx) }()

	const day = 24 * time.Hour
	backup := []string{"alertname", "BackupSlow", "service", "backup", "severity", "major"}
	for d := range 4 {
		start := time.Duration(d) * day
		e.Replay(at(start), []ingest.Event{testEvent(start, ingest.StatusFiring, backup...)})
		r := testEvent(start+10*time.Minute, ingest.StatusResolved, backup...)
		r.StartsAt, r.EndsAt = t0.Add(start), t0.Add(start+10*time.Minute)
		e.Replay(at(start+10*time.Minute), []ingest.Event{r})
		e.Replay(at(start+time.Hour), nil)
	}
	go func() { _ = e.Run(ctx) }()
	defer func() { e.Close(); <-e.Done() }()
	update := func(d time.Duration, u incident.ProblemUpdate) {
		t.Helper()
		at(d)
		u.ID = "PRB0000001"
		_, err := e.UpdateProblem(ctx, u)
		require.NoError(t, err)
	}
	ptr := func(s string) *string { return &s }
	state := func(s incident.ProblemState) *incident.ProblemState { return &s }
	update(4*day, incident.ProblemUpdate{State: state(incident.ProblemKnownError), RootCause: ptr("the backup volume is on a slow disk"),
		Workaround: ptr("restart the backup later"), RunbookURL: ptr("https://runbooks.example.net/backup")})
	// Resolved, found not fixed after all, resolved again: resolved_at is
	// the last time.
	update(5*day, incident.ProblemUpdate{State: state(incident.ProblemResolved)})
	update(5*day+time.Hour, incident.ProblemUpdate{State: state(incident.ProblemInvestigating)})
	resolvedAt := t0.Add(5*day + 2*time.Hour)
	update(5*day+2*time.Hour, incident.ProblemUpdate{State: state(incident.ProblemResolved)})
	closedAt := t0.Add(6 * day)
	update(6*day, incident.ProblemUpdate{State: state(incident.ProblemClosed)})
	waitSent(t, w)
	cancel()
	<-done
	require.Empty(t, w.tr.probs, "a closed problem is forgotten")

	pv.mu.Lock()
	want, versions := pv.last, len(pv.all)
	pv.mu.Unlock()
	require.NotNil(t, want)
	require.Equal(t, incident.ProblemClosed, want.State)
	require.Len(t, want.IncidentIDs, 4)
	require.Greater(t, versions, 4)

	// Every version went in twice; the table keeps the last.
	require.Equal(t, uint64(2*versions), count(t, s, "SELECT count() FROM {db}.problems"), "no merge collapsed them")
	require.Equal(t, uint64(versions), count(t, s, "SELECT uniqExact(version) FROM {db}.problems"))
	require.Equal(t, uint64(1), count(t, s, "SELECT count() FROM {db}.problems FINAL"))
	require.Equal(t, uint64(4), count(t, s, "SELECT toUInt64(incident_count) FROM {db}.problems FINAL"))
	require.Equal(t, uint64(1), count(t, s, "SELECT count() FROM {db}.problems FINAL WHERE services = ['backup'] AND state = 'closed'"))
	// Back to investigating, the problem was not resolved.
	require.Equal(t, uint64(0), count(t, s, "SELECT toUInt64(max(resolved_ns)) FROM {db}.problems WHERE state = 'investigating'"))
	require.Equal(t, uint64(2), count(t, s, "SELECT uniqExact(resolved_ns) FROM {db}.problems WHERE state = 'resolved'"))

	got, err := s.Problem(ctx, "PRB0000001")
	require.NoError(t, err)
	require.Equal(t, want.ToJSON(), got.ProblemJSON)
	require.Equal(t, "the backup volume is on a slow disk", got.RootCause)
	require.Equal(t, &resolvedAt, got.ResolvedAt)
	require.Equal(t, &closedAt, got.ClosedAt)
	require.Equal(t, []string{"backup"}, got.Services)
	require.Len(t, got.Incidents, 4)
	for i, inc := range got.Incidents {
		require.Equal(t, want.IncidentIDs[i], inc.ID)
		require.Equal(t, t0.Add(time.Duration(i)*day), inc.OpenedAt)
		require.NotNil(t, inc.ResolvedAt, inc.ID)
		require.Equal(t, []string{"backup"}, inc.Services)
	}

	// The recurring signature names its problem.
	rec, err := s.Recurring(ctx, RecurringQuery{Range: Range{From: t0.Add(-day), To: t0.Add(7 * day)}, Limit: 10})
	require.NoError(t, err)
	require.Len(t, rec.Signatures, 1)
	require.Equal(t, want.Signature, rec.Signatures[0].Key)
	require.Equal(t, "PRB0000001", rec.Signatures[0].ProblemID)
	require.Equal(t, uint64(4), rec.Signatures[0].Incidents)

	_, err = s.Problem(ctx, "PRB0000002")
	require.ErrorIs(t, err, ErrNotFound)
}
