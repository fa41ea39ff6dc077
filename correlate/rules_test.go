package correlate

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/ingest"
	"github.com/sift-itsm/sift/rules"
)

func withRules(t *testing.T, yml string) *state {
	t.Helper()
	rs, err := rules.Parse("test.yml", []byte(yml))
	require.NoError(t, err)
	s := newState()
	s.setRules(rs)
	return s
}

func TestRulesGroupPinAndAssign(t *testing.T) {
	s := withRules(t, `
correlation_rules:
  - name: per-team
    match: ['team=~".+"']
    group_by: [team]
    window: 10m
    urgency: 1
    impact: 1
    support_group: on-call
`)
	set := DefaultSettings()
	a := ev(0, "alertname", "A", "team", "payments", "severity", "warning")
	b := ev(8*time.Minute, "alertname", "B", "team", "payments", "severity", "warning")
	c := ev(time.Minute, "alertname", "A", "service", "x", "severity", "warning") // no team: default rule
	for _, e := range []ingest.Event{a, c, b} {
		s.apply(e.ReceivedAt, []ingest.Event{e}, &set)
	}
	incs := incidents(t, s)
	require.Len(t, incs, 2)
	require.Equal(t, "per-team", incs[0].Rule)
	require.Equal(t, `{team="payments"}`, incs[0].GroupKey)
	require.Len(t, incs[0].Alerts, 2, "within the rule's 10m window")
	require.Equal(t, incident.Priority(1), incs[0].Priority, "pinned impact and urgency")
	require.Equal(t, "on-call", incs[0].SupportGroup)
	require.Equal(t, rules.DefaultRuleName, incs[1].Rule)
}

func TestRulesContinueLooksFurtherBeforeOpening(t *testing.T) {
	s := withRules(t, `
correlation_rules:
  - name: join-db-incident
    match: ['tier="db"']
    group_by: [cluster]
    continue: true
  - name: by-alertname
    match: ['alertname=~".+"']
    group_by: [alertname]
`)
	set := DefaultSettings()
	first := ev(0, "alertname", "Slow", "tier", "db", "cluster", "c1")
	second := ev(time.Minute, "alertname", "Slow", "tier", "db", "cluster", "c2")
	for _, e := range []ingest.Event{first, second} {
		s.apply(e.ReceivedAt, []ingest.Event{e}, &set)
	}
	incs := incidents(t, s)
	require.Len(t, incs, 1, "the continue rule had no incident for c1, so by-alertname opened one; c2 joins it")
	require.Equal(t, "by-alertname", incs[0].Rule)
	require.Len(t, incs[0].Alerts, 2)
}

func TestMaintenanceAndInhibitionSuppress(t *testing.T) {
	s := withRules(t, `
inhibit_rules:
  - name: crit-mutes-warn
    source_match: ['severity="critical"']
    target_match: ['severity="warning"']
    equal: [instance]
maintenance_windows:
  - name: patching
    match: ['service="db"']
    start: 2026-11-24T12:00:00Z
    end: 2026-11-24T13:00:00Z
    comment: patching
`)
	set := DefaultSettings()
	maint := ev(time.Minute, "alertname", "Down", "service", "db")
	crit := ev(time.Minute, "alertname", "Disk", "instance", "h1", "severity", "critical")
	warn := ev(2*time.Minute, "alertname", "DiskSoon", "instance", "h1", "severity", "warning")
	otherWarn := ev(2*time.Minute, "alertname", "DiskSoon", "instance", "h2", "severity", "warning")
	for _, e := range []ingest.Event{maint, crit, warn, otherWarn} {
		s.apply(e.ReceivedAt, []ingest.Event{e}, &set)
	}
	require.Equal(t, "maintenance patching", get(t, s, maint.Fingerprint).Suppressed())
	require.Zero(t, get(t, s, maint.Fingerprint).IncidentSeq)
	require.Contains(t, get(t, s, warn.Fingerprint).Suppressed(), "inhibited by crit-mutes-warn")
	require.Empty(t, get(t, s, otherWarn.Fingerprint).Suppressed(), "other instance")
	require.NotZero(t, get(t, s, otherWarn.Fingerprint).IncidentSeq)

	// Once the critical alert resolves, a warning that fires is no longer
	// inhibited.
	s.apply(t0.Add(3*time.Minute), []ingest.Event{resolved(ev(3*time.Minute, "alertname", "Disk", "instance", "h1", "severity", "critical"), 3*time.Minute)}, &set)
	warn2 := ev(4*time.Minute, "alertname", "DiskLater", "instance", "h1", "severity", "warning")
	s.apply(warn2.ReceivedAt, []ingest.Event{warn2}, &set)
	require.Empty(t, get(t, s, warn2.Fingerprint).Suppressed())

	after := ev(2*time.Hour, "alertname", "Down", "service", "db", "instance", "late")
	s.apply(after.ReceivedAt, []ingest.Event{after}, &set)
	require.Empty(t, get(t, s, after.Fingerprint).Suppressed(), "after the window")
	require.NotZero(t, get(t, s, after.Fingerprint).IncidentSeq)
}

func TestInfoOpensIncidentOnlyWhenTheRuleSaysSo(t *testing.T) {
	s := withRules(t, `
correlation_rules:
  - name: backups
    match: ['alertname="BackupFailed"']
    group_by: [alertname]
    info_opens_incident: true
`)
	set := DefaultSettings()
	b := ev(0, "alertname", "BackupFailed", "severity", "info")
	other := ev(0, "alertname", "Deployed", "severity", "info")
	s.apply(t0, []ingest.Event{b, other}, &set)
	incs := incidents(t, s)
	require.Len(t, incs, 1)
	require.Equal(t, "backups", incs[0].Rule)
	require.Zero(t, get(t, s, other.Fingerprint).IncidentSeq)
}
