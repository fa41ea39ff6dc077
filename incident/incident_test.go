package incident

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/ingest"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func TestPriorityMatrix(t *testing.T) {
	// ITSM.md's table, row by row: impact 1..3 x urgency 1..3.
	want := [3][3]Priority{{1, 2, 3}, {2, 3, 4}, {3, 4, 5}}
	for impact := 1; impact <= 3; impact++ {
		for urgency := 1; urgency <= 3; urgency++ {
			require.Equal(t, want[impact-1][urgency-1], PriorityOf(impact, urgency), "impact %d urgency %d", impact, urgency)
		}
	}
	require.Equal(t, "P1", Priority(1).String())
	p, err := ParsePriority("P4")
	require.NoError(t, err)
	require.Equal(t, Priority(4), p)
	_, err = ParsePriority("P6")
	require.Error(t, err)
}

func TestUrgencyAndImpact(t *testing.T) {
	for sev, want := range map[ingest.Severity]int{ingest.SeverityCritical: 1, ingest.SeverityMajor: 2, ingest.SeverityMinor: 3, ingest.SeverityWarning: 3} {
		u, ok := UrgencyOf(sev)
		require.True(t, ok)
		require.Equal(t, want, u, sev.String())
	}
	_, ok := UrgencyOf(ingest.SeverityInfo)
	require.False(t, ok, "info opens no incident by itself")

	for crit, want := range map[int]int{1: 1, 2: 1, 3: 2, 4: 3, 0: 3} {
		require.Equal(t, want, ImpactOf(crit, 1, DefaultImpactSpread), "criticality %d", crit)
	}
	require.Equal(t, 2, ImpactOf(4, 11, 10), "more than the spread raises impact a level")
	require.Equal(t, 3, ImpactOf(4, 10, 10), "at the spread it does not")
	require.Equal(t, 1, ImpactOf(1, 50, 10), "impact 1 is the top")
}

func TestIDs(t *testing.T) {
	require.Equal(t, "INC0000042", ID(42))
	seq, err := ParseID("INC0000042")
	require.NoError(t, err)
	require.Equal(t, uint64(42), seq)
	for _, bad := range []string{"", "INC", "PRB0000001", "INC12a"} {
		_, err := ParseID(bad)
		require.Error(t, err, bad)
	}
}

func newIncident() *Incident {
	return &Incident{Seq: 7, State: StateNew, OpenedAt: t0, UpdatedAt: t0, Version: 1}
}

func act(inc *Incident, verb Verb, at time.Duration) (*Incident, error) {
	return Apply(inc, &Action{Verb: verb, Actor: "alice", Assignee: "bob"}, t0.Add(at))
}

func TestLifecycleHappyPath(t *testing.T) {
	inc := newIncident()
	acked, err := act(inc, VerbAck, time.Minute)
	require.NoError(t, err)
	require.Equal(t, StateAcknowledged, acked.State)
	require.Equal(t, t0.Add(time.Minute), acked.AcknowledgedAt)
	require.Equal(t, uint64(2), acked.Version)
	require.Equal(t, StateNew, inc.State, "the old version is untouched")
	require.Empty(t, inc.Timeline)

	assigned, err := act(acked, VerbAssign, 2*time.Minute)
	require.NoError(t, err)
	require.Equal(t, StateInProgress, assigned.State)
	require.Equal(t, "bob", assigned.Assignee)

	held, err := act(assigned, VerbHold, 3*time.Minute)
	require.NoError(t, err)
	require.Equal(t, StateOnHold, held.State)

	resolved, err := act(held, VerbResolve, 4*time.Minute)
	require.NoError(t, err)
	require.Equal(t, StateResolved, resolved.State)
	require.Equal(t, t0.Add(4*time.Minute), resolved.ResolvedAt)

	closed, err := act(resolved, VerbClose, 5*time.Minute)
	require.NoError(t, err)
	require.Equal(t, StateClosed, closed.State)

	var states []string
	for _, e := range closed.Timeline {
		if e.Kind == EntryState {
			states = append(states, e.From+">"+e.To)
			require.Equal(t, "alice", e.Actor)
		}
	}
	require.Equal(t, []string{"new>acknowledged", "acknowledged>in_progress", "in_progress>on_hold", "on_hold>resolved", "resolved>closed"}, states)
	require.Len(t, resolved.Timeline, 5, "older versions see only their own prefix of the shared timeline")
}

func TestLifecycleRefusals(t *testing.T) {
	inc := newIncident()
	resolved, err := act(inc, VerbResolve, time.Minute)
	require.NoError(t, err)
	closed, err := act(resolved, VerbClose, 2*time.Minute)
	require.NoError(t, err)

	for _, c := range []struct {
		inc  *Incident
		verb Verb
	}{
		{inc, VerbClose},       // only resolved closes
		{inc, VerbHold},        // new cannot be held
		{resolved, VerbAck},    // not new
		{resolved, VerbAssign}, // not open
		{resolved, VerbResolve},
		{closed, VerbNote}, // closed is final
		{closed, VerbResolve},
	} {
		_, err := act(c.inc, c.verb, 3*time.Minute)
		var te *TransitionError
		require.True(t, errors.As(err, &te), "%s on %s: %v", c.verb, c.inc.State, err)
		require.Equal(t, c.inc.State, te.State)
		require.Contains(t, te.Error(), c.inc.State.String())
	}

	noted, err := Apply(resolved, &Action{Verb: VerbNote, Actor: "alice", Text: "root cause: disk"}, t0.Add(3*time.Minute))
	require.NoError(t, err, "a resolved incident takes notes")
	require.Equal(t, EntryNote, noted.Timeline[len(noted.Timeline)-1].Kind)
}

func TestActionValidate(t *testing.T) {
	require.NoError(t, (&Action{Verb: VerbAck, Actor: "a"}).Validate())
	require.ErrorContains(t, (&Action{Verb: VerbAck}).Validate(), "actor")
	require.ErrorContains(t, (&Action{Verb: VerbNote, Actor: "a"}).Validate(), "text")
	require.ErrorContains(t, (&Action{Verb: VerbAssign, Actor: "a"}).Validate(), "assignee")
	require.ErrorContains(t, (&Action{Verb: "frobnicate", Actor: "a"}).Validate(), "verb")
}

func TestSystemTransitions(t *testing.T) {
	r := newIncident().Revise(t0.Add(time.Hour))
	r.AutoResolve(t0.Add(time.Hour))
	require.Equal(t, StateResolved, r.State)
	back := r.Revise(t0.Add(2 * time.Hour))
	back.Reopen("alert fired again", t0.Add(2*time.Hour))
	require.Equal(t, StateNew, back.State, "never acknowledged: back to new")
	require.True(t, back.ResolvedAt.IsZero())
	require.Equal(t, StateResolved, r.State, "the earlier version is untouched")

	acked, err := act(newIncident(), VerbAck, time.Minute)
	require.NoError(t, err)
	back = acked.Revise(t0.Add(time.Hour))
	back.AutoResolve(t0.Add(time.Hour))
	back.Reopen("alert fired again", t0.Add(2*time.Hour))
	require.Equal(t, StateInProgress, back.State, "acknowledged before: back to in_progress")
	require.Equal(t, SystemActor, back.Timeline[len(back.Timeline)-1].Actor)

	c := r.Revise(t0.Add(3 * time.Hour))
	c.AutoClose(t0.Add(3 * time.Hour))
	require.Equal(t, StateClosed, c.State)
	require.Equal(t, t0.Add(3*time.Hour), c.ClosedAt)
}
