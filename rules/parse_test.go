package rules

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLoadGood(t *testing.T) {
	s, err := Load("testdata/good.yml")
	require.NoError(t, err)
	require.Len(t, s.Correlation, 4)
	infra, svc, info, def := s.Correlation[0], s.Correlation[1], s.Correlation[2], s.Correlation[3]
	require.Equal(t, "infrastructure", infra.Name)
	require.Len(t, infra.Matchers, 2)
	require.Equal(t, []string{"connected_to", "depends_on", "runs_on"}, infra.Topology.Relations)
	require.Equal(t, 4, infra.Topology.MaxHops)
	require.Equal(t, [][]string{{"ci.environment"}}, infra.Topology.GroupBy)
	require.Equal(t, 10*time.Minute, infra.Window)
	require.Equal(t, DefaultMaxDuration, infra.MaxDuration)
	require.Equal(t, Position{File: "testdata/good.yml", Line: 2}, infra.Pos)

	require.Equal(t, [][]string{{"ci.site"}, {"cluster", "job"}, {"service"}}, svc.GroupBy, "sorted")
	require.True(t, svc.Continue)
	require.Equal(t, 2, svc.Impact)
	require.Equal(t, 1, svc.Urgency)
	require.Equal(t, "sre-payments", svc.SupportGroup)
	require.Equal(t, [][]string{{"alertname"}, {"service"}}, svc.Recurrence)
	require.Nil(t, svc.Topology)
	require.Equal(t, DefaultWindow, svc.Window)

	require.True(t, info.InfoOpensIncident)
	require.Equal(t, 2*time.Hour, info.MaxDuration)
	require.Equal(t, DefaultRuleName, def.Name)

	require.Len(t, s.Inhibit, 2)
	require.Equal(t, []string{"alertname", "instance"}, s.Inhibit[0].Equal)
	require.Equal(t, "inhibit_rules[1]", s.Inhibit[1].Name)

	require.Len(t, s.Maintenance, 2)
	w := s.Maintenance[0]
	require.Equal(t, []string{"db-fra1-01", "db-fra1-02"}, w.CIs)
	require.Len(t, w.TimeIntervals, 1)
	require.Equal(t, "Europe/Berlin", w.TimeIntervals[0].Location.String())
	require.Equal(t, "OS patching", w.Comment)
	require.Equal(t, time.Date(2026, 11, 28, 22, 0, 0, 0, time.UTC), s.Maintenance[1].Start)
	require.Equal(t, []string{"testdata/good.yml"}, s.Files)
}
