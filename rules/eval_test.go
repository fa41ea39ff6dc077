package rules

import (
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/ingest"
)

func mustParse(t testing.TB, doc string) *Set {
	t.Helper()
	s, err := Parse("r.yml", []byte(doc))
	require.NoError(t, err)
	return s
}

func lbls(kv ...string) ingest.Labels {
	ps := make([]ingest.Label, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		ps = append(ps, ingest.Label{Name: kv[i], Value: kv[i+1]})
	}
	return ingest.NewLabels(ps...)
}

func names(rs []*CorrelationRule) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
	}
	return out
}

func TestMatchOrderAndContinue(t *testing.T) {
	s := mustParse(t, `
correlation_rules:
  - name: audit
    match: ['team="db"']
    continue: true
  - name: db
    match: ['team="db"']
  - name: db-shadowed
    match: ['team="db"']
  - name: net
    match: ['{team="net", severity=~"critical|major"}']
  - name: missing-is-empty
    match: ['env=""']
`)
	f := func(ls ingest.Labels, want ...string) {
		t.Helper()
		require.Equal(t, want, names(s.Match(ls)), ls.String())
	}
	f(lbls("team", "db", "env", "prod"), "audit", "db")            // continue goes on; first non-continue match stops
	f(lbls("team", "net", "severity", "major", "env", "p"), "net") // every matcher of a line must match
	f(lbls("team", "net", "severity", "warning", "env", "p"), DefaultRuleName)
	f(lbls("alertname", "x"), "missing-is-empty") // a missing label is the empty value
	f(lbls("alertname", "x", "env", "prod"), DefaultRuleName)

	only := mustParse(t, "correlation_rules:\n  - name: a\n    match: ['x=\"1\"']\n    continue: true\n")
	require.Equal(t, []string{"a"}, names(only.Match(lbls("x", "1"))), "the default rule only takes what no rule matched")
	require.Equal(t, []string{DefaultRuleName}, names(only.Match(lbls("x", "2"))))

	buf := make([]*CorrelationRule, 0, 4)
	buf = s.AppendMatch(buf, lbls("team", "db"))
	require.Equal(t, []string{"audit", "db"}, names(buf))
	r, ok := s.Rule("net")
	require.True(t, ok)
	require.Equal(t, "net", r.Name)
}

func TestGroupKey(t *testing.T) {
	s := mustParse(t, `
correlation_rules:
  - name: svc
    group_by: [service, ci.site, [cluster, job]]
  - name: infra
    group_by: [alertname]
    topology:
      group_by: [ci.environment]
  - name: all-ci
    group_by: [ci.id, ci.support_group]
`)
	svc, infra, allCI := s.Correlation[0], s.Correlation[1], s.Correlation[2]
	ci := func(attrs map[string]string) CIAttrFunc {
		return func(n string) (string, bool) { v, ok := attrs[n]; return v, ok }
	}
	fra := ci(map[string]string{"id": "host-1", "site": "fra1", "environment": "prod", "support_group": "unix"})

	// Entries sorted by how they are written; values quoted.
	require.Equal(t, `{ci.site="fra1", cluster="k1", service="api"}`, svc.GroupKey(lbls("service", "api", "cluster", "k1", "job", "j"), fra))
	// First present: cluster empty counts as absent, job is taken.
	require.Equal(t, `{ci.site="fra1", job="j", service="api"}`, svc.GroupKey(lbls("service", "api", "cluster", "", "job", "j"), fra))
	// None present: the first name with "".
	require.Equal(t, `{ci.site="fra1", cluster="", service="api"}`, svc.GroupKey(lbls("service", "api"), fra))
	// No CI: CI attributes are empty.
	require.Equal(t, `{ci.site="", cluster="", service="api"}`, svc.GroupKey(lbls("service", "api"), nil))
	// Label values that look like separators stay unambiguous.
	require.NotEqual(t, svc.GroupKey(lbls("service", `a", cluster="b`), nil), svc.GroupKey(lbls("service", "a", "cluster", "b"), nil))

	// Topology rules: alerts with a CI get the topology key, without one
	// the group_by key.
	require.Equal(t, `topology{ci.environment="prod"}`, infra.GroupKey(lbls("alertname", "Down"), fra))
	require.Equal(t, `{alertname="Down"}`, infra.GroupKey(lbls("alertname", "Down"), nil))
	require.Equal(t, `{ci.id="host-1", ci.support_group="unix"}`, allCI.GroupKey("", fra))

	// Deterministic, and equal to the appending form.
	ls := lbls("service", "api", "job", "j")
	require.Equal(t, svc.GroupKey(ls, fra), string(svc.AppendGroupKey([]byte{}, ls, fra)))

	// The default rule, exactly as documented.
	def := s.Correlation[len(s.Correlation)-1]
	require.Equal(t, "topology{}", def.GroupKey(lbls("alertname", "Down", "service", "api"), fra))
	require.Equal(t, `{alertname="Down", service="api"}`, def.GroupKey(lbls("alertname", "Down", "service", "api", "job", "x"), nil))
	require.Equal(t, `{alertname="Down", cluster="c1"}`, def.GroupKey(lbls("alertname", "Down", "cluster", "c1", "job", "x"), nil))
	require.Equal(t, `{alertname="Down", job="x"}`, def.GroupKey(lbls("alertname", "Down", "job", "x"), nil))
	require.Equal(t, `{alertname="Down", service=""}`, def.GroupKey(lbls("alertname", "Down"), nil))
}

func TestSignature(t *testing.T) {
	s := mustParse(t, `
correlation_rules:
  - name: a
    group_by: [service]
  - name: b
    group_by: [service, instance]
    recurrence:
      signature: [alertname, ci.class]
`)
	a, b := s.Correlation[0], s.Correlation[1]
	ls := lbls("alertname", "Down", "service", "api", "instance", "h1")
	require.Equal(t, `a/{service="api"}`, a.Signature(a.GroupKey(ls, nil), ls, nil))
	cls := func(n string) (string, bool) { return "host", n == "class" }
	require.Equal(t, `b/{alertname="Down", ci.class="host"}`, b.Signature(b.GroupKey(ls, cls), ls, cls))
}

func TestDefault(t *testing.T) {
	d := Default()
	require.Len(t, d.Correlation, 1)
	r := d.Correlation[0]
	require.Equal(t, DefaultRuleName, r.Name)
	require.Empty(t, r.Matchers)
	require.Equal(t, 5*time.Minute, r.Window)
	require.Equal(t, 24*time.Hour, r.MaxDuration)
	require.Equal(t, 3, r.Topology.MaxHops)
	require.Equal(t, AllRelations, r.Topology.Relations)
	require.Empty(t, r.Topology.GroupBy)
	require.False(t, r.InfoOpensIncident)
	require.Empty(t, d.Inhibit)
	require.Empty(t, d.Maintenance)
	require.Nil(t, d.Files)
	for _, rel := range AllRelations {
		require.True(t, r.Topology.Follows(rel))
	}
	require.False(t, r.Topology.Follows("owns"))
	require.Equal(t, []string{DefaultRuleName}, names(d.Match(lbls("anything", "at all"))))

	// The documented rule file entry compiles to the same rule.
	doc := mustParse(t, "correlation_rules:\n  - name: x\n    group_by: [alertname, [service, cluster, job]]\n    window: 5m\n    max_duration: 24h\n    topology: {max_hops: 3}\n").Correlation[0]
	doc.Name, doc.Pos = DefaultRuleName, Position{}
	require.Equal(t, r, doc)
}

func TestInhibitIndex(t *testing.T) {
	s := mustParse(t, `
inhibit_rules:
  - name: crit-warn
    source_match: ['severity="critical"']
    target_match: ['severity="warning"']
    equal: [alertname, instance]
  - name: site
    source_match: ['alertname="SiteDown"']
    target_match: ['site=~".+"']
    equal: [site]
  - name: self
    source_match: ['alertname="Noisy"']
    target_match: ['alertname="Noisy"']
    equal: [cluster]
`)
	ix := NewInhibitIndex(s)
	crit := lbls("alertname", "Down", "instance", "h1", "severity", "critical")
	warn := lbls("alertname", "Down", "instance", "h1", "severity", "warning")
	otherInst := lbls("alertname", "Down", "instance", "h2", "severity", "warning")

	_, ok := ix.Inhibits(warn)
	require.False(t, ok, "nothing fires yet")
	ix.Add(1, crit)
	in, ok := ix.Inhibits(warn)
	require.True(t, ok)
	require.Equal(t, Inhibition{Rule: "crit-warn", Source: 1}, in)
	_, ok = ix.Inhibits(otherInst)
	require.False(t, ok, "equal labels differ")
	_, ok = ix.Inhibits(crit)
	require.False(t, ok, "the target side does not match")

	// Missing equal labels equal empty ones, as in Alertmanager.
	ix.Add(2, lbls("alertname", "Down", "severity", "critical"))
	in, ok = ix.Inhibits(lbls("alertname", "Down", "instance", "", "severity", "warning"))
	require.True(t, ok)
	require.Equal(t, model.Fingerprint(2), in.Source)

	// Lowest fingerprint is named, whatever the order of adds and removes.
	ix.Add(7, lbls("alertname", "Down", "instance", "h1", "severity", "critical", "x", "7"))
	ix.Add(0, lbls("alertname", "Down", "instance", "h1", "severity", "critical", "x", "0"))
	in, _ = ix.Inhibits(warn)
	require.Equal(t, model.Fingerprint(0), in.Source)
	ix.Remove(0)
	in, _ = ix.Inhibits(warn)
	require.Equal(t, model.Fingerprint(1), in.Source)

	// Only firing sources: once removed (resolved), no inhibition.
	ix.Remove(1)
	ix.Remove(7)
	_, ok = ix.Inhibits(warn)
	require.False(t, ok)
	ix.Remove(1) // idempotent

	// An alert whose labels change moves in the index.
	ix.Add(3, lbls("alertname", "Down", "instance", "h2", "severity", "critical"))
	_, ok = ix.Inhibits(otherInst)
	require.True(t, ok)
	ix.Add(3, lbls("alertname", "Down", "instance", "h3", "severity", "critical"))
	_, ok = ix.Inhibits(otherInst)
	require.False(t, ok)
	ix.Add(3, lbls("alertname", "Down", "instance", "h3", "severity", "info"))
	require.Equal(t, 1, ix.Len(), "no longer a source: only fp 2 is left")

	// Later rules are tried when earlier ones do not inhibit.
	ix.Add(10, lbls("alertname", "SiteDown", "site", "fra1"))
	in, ok = ix.Inhibits(lbls("alertname", "Down", "instance", "h2", "severity", "warning", "site", "fra1"))
	require.True(t, ok)
	require.Equal(t, "site", in.Rule)

	// Self-inhibition: an alert matching both sides does not inhibit
	// itself, nor others that match both sides; a source that matches
	// only the source side does.
	noisy1 := lbls("alertname", "Noisy", "cluster", "c1", "i", "1")
	noisy2 := lbls("alertname", "Noisy", "cluster", "c1", "i", "2")
	ix.Add(20, noisy1)
	ix.Add(21, noisy2)
	_, ok = ix.Inhibits(noisy1)
	require.False(t, ok, "an alert never inhibits itself")
	_, ok = ix.Inhibits(noisy2)
	require.False(t, ok, "nor another alert matching both sides")

	two := mustParse(t, `
inhibit_rules:
  - source_match: ['severity="critical"']
    target_match: ['team="db"']
`)
	ix = NewInhibitIndex(two)
	dbCrit := lbls("team", "db", "severity", "critical")
	ix.Add(1, dbCrit)
	_, ok = ix.Inhibits(lbls("team", "db", "severity", "warning"))
	require.True(t, ok, "a target matching only the target side: every source counts")
	_, ok = ix.Inhibits(dbCrit)
	require.False(t, ok, "a target matching both sides: sources matching both do not count")
	ix.Add(2, lbls("team", "net", "severity", "critical"))
	in, ok = ix.Inhibits(dbCrit)
	require.True(t, ok, "a source matching only the source side does")
	require.Equal(t, Inhibition{Rule: "inhibit_rules[0]", Source: 2}, in)
	ix.Remove(2)
	_, ok = ix.Inhibits(dbCrit)
	require.False(t, ok)
}
