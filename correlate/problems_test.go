package correlate

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/ingest"
)

// daily fires the same failure at the same hour on day d, resolved ten
// minutes later.
func daily(s *state, set *Settings, d int) {
	at := time.Duration(d) * 24 * time.Hour
	f := ev(at, "alertname", "BackupSlow", "service", "backup", "severity", "major")
	f.StartsAt = t0.Add(at)
	s.apply(f.ReceivedAt, []ingest.Event{f}, set)
	r := resolved(ev(at+10*time.Minute, "alertname", "BackupSlow", "service", "backup", "severity", "major"), at+10*time.Minute)
	r.StartsAt = t0.Add(at)
	s.apply(r.ReceivedAt, []ingest.Event{r}, set)
	s.apply(r.ReceivedAt.Add(time.Hour), nil, set)
}

func problems(t *testing.T, s *state) []*incident.Problem {
	t.Helper()
	it, err := s.db.Txn(false).Get(incident.ProblemTable, "id")
	require.NoError(t, err)
	var out []*incident.Problem
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*incident.Problem))
	}
	return out
}

func TestThreeDailyRecurrencesOpenOneProblem(t *testing.T) {
	s, set := newState(), DefaultSettings()
	daily(s, &set, 0)
	daily(s, &set, 1)
	require.Empty(t, problems(t, s), "two are not a pattern yet")
	daily(s, &set, 2)

	ps := problems(t, s)
	require.Len(t, ps, 1)
	p := ps[0]
	require.Equal(t, "PRB0000001", p.ID())
	require.Equal(t, []string{"INC0000001", "INC0000002", "INC0000003"}, p.IncidentIDs)
	require.Equal(t, incident.ProblemNew, p.State)
	require.Equal(t, `default/{alertname="BackupSlow", service="backup"}`, p.Signature)
	require.Equal(t, t0, p.FirstOccurrence)
	require.Equal(t, t0.Add(48*time.Hour), p.LastOccurrence)
	for _, inc := range incidents(t, s) {
		require.Equal(t, "PRB0000001", inc.ProblemID, inc.ID())
		var marks []string
		for _, e := range inc.Timeline {
			if e.Kind == incident.EntryProblem {
				marks = append(marks, e.From)
			}
		}
		// The third incident opened the problem: notifications route on it.
		want := ""
		if inc.ID() == "INC0000003" {
			want = incident.ProblemOpenedMark
		}
		require.Equal(t, []string{want}, marks, inc.ID())
	}

	daily(s, &set, 3)
	p = problems(t, s)[0]
	require.Equal(t, []string{"INC0000001", "INC0000002", "INC0000003", "INC0000004"}, p.IncidentIDs, "the 4th links to it")
	require.Equal(t, 4, p.Occurrences)
	require.Len(t, problems(t, s), 1)

	// Outside the window the count starts again: another signature's
	// two incidents a week apart are no problem.
	s2, set2 := newState(), DefaultSettings()
	daily(s2, &set2, 0)
	daily(s2, &set2, 8)
	daily(s2, &set2, 16)
	require.Empty(t, problems(t, s2))
}

func TestKnownErrorWorkaroundGoesOnTheNextIncident(t *testing.T) {
	s, set := newState(), DefaultSettings()
	for d := range 3 {
		daily(s, &set, d)
	}
	state := incident.ProblemKnownError
	wa, rb := "restart the backup agent", "https://runbooks.example/backup"
	p, b, err := s.updateProblem(t0.Add(50*time.Hour), &incident.ProblemUpdate{ID: "PRB0000001", Actor: "pm", State: &state, Workaround: &wa, RunbookURL: &rb}, &set)
	require.NoError(t, err)
	require.Equal(t, incident.ProblemKnownError, p.State)
	require.Equal(t, ProblemUpdated, b.Changes[0].Kind)

	daily(s, &set, 3)
	incs := incidents(t, s)
	next := incs[len(incs)-1]
	require.Equal(t, "INC0000004", next.ID())
	require.Equal(t, "restart the backup agent (runbook: https://runbooks.example/backup)", next.Workaround)
	var logged bool
	for _, e := range next.Timeline {
		logged = logged || e.Kind == incident.EntryWorkaround
	}
	require.True(t, logged, "a timeline entry says so")
	require.Empty(t, incs[0].Workaround, "earlier incidents are not rewritten")

	back := incident.ProblemNew
	_, _, err = s.updateProblem(t0.Add(100*time.Hour), &incident.ProblemUpdate{ID: "PRB0000001", Actor: "pm", State: &back}, &set)
	var te *incident.ProblemTransitionError
	require.ErrorAs(t, err, &te)
}
