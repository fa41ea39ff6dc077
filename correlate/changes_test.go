package correlate

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/ingest"
)

func TestDeployBeforeIncidentIsTheProbableChange(t *testing.T) {
	s, set := newState(), DefaultSettings()
	s.topo = datacenter()
	b := s.applyChanges(t0.Add(-10*time.Minute), []ChangeEvent{
		{ID: "CHG-1", CI: "svc1", Summary: "deploy api v2.3", Start: t0.Add(-10 * time.Minute), Source: "argo"},
		{ID: "CHG-2", CI: "far", Summary: "kernel patch", Start: t0.Add(-5 * time.Minute)},
		{ID: "CHG-3", CI: "db1", Summary: "index rebuild", Start: t0.Add(-30 * time.Minute)},
		{ID: "CHG-OLD", CI: "svc1", Summary: "deploy api v2.2", Start: t0.Add(-3 * time.Hour)},
	}, &set)
	require.Empty(t, b.Changes, "no incident yet")

	s.apply(t0, []ingest.Event{alertOn(0, "HTTP5xx", "svc1", "major")}, &set)
	inc := incidents(t, s)[0]
	var ids []string
	for _, c := range inc.ProbableChanges {
		ids = append(ids, c.ID)
	}
	// The deploy on the service itself first; the database it depends on
	// (one hop upstream) next; the unrelated host and the change before
	// the lookback not at all.
	require.Equal(t, []string{"CHG-1", "CHG-3"}, ids)
	require.Equal(t, 0, inc.ProbableChanges[0].Hops)
	require.Equal(t, 1, inc.ProbableChanges[1].Hops)

	// A change reported after the incident opened, that started before,
	// joins the list of the open incident.
	b = s.applyChanges(t0.Add(time.Minute), []ChangeEvent{{ID: "CHG-4", CI: "svc1", Summary: "feature flag", Start: t0.Add(-time.Minute)}}, &set)
	require.Len(t, b.Changes, 1)
	require.Equal(t, "CHG-4", incidents(t, s)[0].ProbableChanges[0].ID, "the latest change on the CI itself first")
}

func TestChangeValidate(t *testing.T) {
	ok := ChangeEvent{ID: "c", CI: "x", Start: t0}
	require.NoError(t, ok.Validate())
	for field, mutate := range map[string]func(*ChangeEvent){
		"id":    func(c *ChangeEvent) { c.ID = "" },
		"ci":    func(c *ChangeEvent) { c.CI = "" },
		"start": func(c *ChangeEvent) { c.Start = time.Time{} },
		"end":   func(c *ChangeEvent) { c.End = t0.Add(-time.Second) },
	} {
		c := ok
		mutate(&c)
		var fe *FieldError
		require.ErrorAs(t, c.Validate(), &fe)
		require.Equal(t, field, fe.Field)
	}
}
