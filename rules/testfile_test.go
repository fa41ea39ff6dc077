package rules

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/ingest"
)

func TestLoadTestFileGood(t *testing.T) {
	tf, err := LoadTestFile("testdata/good_test.yml")
	require.NoError(t, err)
	require.Equal(t, []string{filepath.Join("testdata", "good.yml")}, tf.RuleFiles, "resolved against the test file")
	require.Empty(t, tf.CMDBFiles)
	require.Len(t, tf.Tests, 2)

	tc := tf.Tests[0]
	require.Equal(t, "switch failure", tc.Name)
	require.Equal(t, DefaultTestStart, tc.Start)
	require.Equal(t, time.Monday, tc.Start.Weekday())
	require.Len(t, tc.Events, 4)
	e := tc.Events[1]
	require.Equal(t, 30*time.Second, e.At)
	require.Equal(t, lbls("alertname", "HostDown", "instance", "h1"), e.Labels)
	require.Equal(t, lbls("summary", "host down"), e.Annotations)
	require.Equal(t, ingest.SeverityCritical, e.Severity)
	require.Equal(t, "page", e.RawSeverity)
	require.Equal(t, []time.Duration{30 * time.Second, 90 * time.Second, 150 * time.Second, 210 * time.Second}, e.Times())
	require.Equal(t, ingest.StatusResolved, tc.Events[2].Status)
	require.Equal(t, ingest.SeverityWarning, tc.Events[2].Severity, "no severity: warning")
	require.Equal(t, "", tc.Events[2].RawSeverity)
	require.Equal(t, ingest.SeverityMajor, tc.Events[3].Severity, "the severity label, as in generic events")
	require.Equal(t, "high", tc.Events[3].RawSeverity)

	x := tc.Expect[0]
	require.Equal(t, 5*time.Minute, x.At)
	inc := x.Incidents[0]
	require.Len(t, inc.Alerts, 2)
	require.True(t, inc.Alerts[0].Matches(lbls("alertname", "SwitchDown", "instance", "sw-1")))
	require.False(t, inc.Alerts[0].Matches(lbls("alertname", "HostDown")))
	require.True(t, inc.Alerts[1].Matches(lbls("alertname", "HostDown", "instance", "h7")))
	require.False(t, inc.Alerts[1].Matches(lbls("alertname", "HostDown", "instance", "db1")))
	require.Equal(t, "sw-1", *inc.ProbableCause)
	require.Equal(t, "P2", inc.Priority)
	require.Equal(t, "new", inc.State)
	require.Equal(t, "default", inc.Rule)
	require.Equal(t, "topology", x.Suppressed[0].By)
	require.Empty(t, tc.Expect[1].Incidents)

	require.Equal(t, time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC), tf.Tests[1].Start)
	require.Nil(t, tf.Tests[1].Expect[0].Incidents, "no incidents key: none expected")
}

func TestTestFileErrors(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.yml"), nil, 0o644))
	f := func(name, doc string, want ...wantErr) {
		t.Helper()
		path := filepath.Join(dir, "t.yml")
		_, err := ParseTestFile(path, []byte(doc))
		requireErrors(t, name, err, path, want...)
	}
	ok := "tests:\n  - name: t\n    events: []\n    expect: []\n"
	_, err := ParseTestFile(filepath.Join(dir, "t.yml"), []byte("rule_files: [rules.yml]\n"+ok))
	require.NoError(t, err)

	f("empty", "", wantErr{1, "tests", "is required"})
	f("no tests", "rule_files: [rules.yml]\n", wantErr{1, "tests", "at least one test"})
	f("missing rule file", "rule_files: [nope.yml]\n"+ok, wantErr{1, "rule_files[0]", "no such file"})
	f("unknown key", "rule_file: [rules.yml]\n"+ok, wantErr{1, "rule_file", "unknown field"})
	f("test without name", "tests:\n  - events: []\n    expect: []\n", wantErr{2, "tests[0].name", "is required"})
	f("test without events", "tests:\n  - name: a\n    expect: []\n", wantErr{2, "tests[0].events", "is required"})
	f("duplicate test", "tests:\n  - {name: a, events: [], expect: []}\n  - {name: a, events: [], expect: []}\n", wantErr{3, "tests[1].name", "already defined at line 2"})
	f("bad start", "tests:\n  - {name: a, start: monday, events: [], expect: []}\n", wantErr{2, "tests[0].start", "RFC 3339"})
	f("event without at", "tests:\n  - name: a\n    events:\n      - labels: {a: b}\n    expect: []\n", wantErr{4, "tests[0].events[0].at", "is required"})
	f("event bad at", "tests:\n  - name: a\n    events:\n      - {at: soon, labels: {a: b}}\n    expect: []\n", wantErr{4, "tests[0].events[0].at", "not a duration"})
	f("event without labels", "tests:\n  - name: a\n    events:\n      - {at: 1m}\n    expect: []\n", wantErr{4, "tests[0].events[0].labels", "is required"})
	f("event empty labels", "tests:\n  - name: a\n    events:\n      - {at: 1m, labels: {}}\n    expect: []\n", wantErr{4, "tests[0].events[0].labels", "at least one label"})
	f("event label not string", "tests:\n  - name: a\n    events:\n      - at: 1m\n        labels: {a: [b]}\n    expect: []\n", wantErr{5, "tests[0].events[0].labels.a", "must be a string"})
	f("event bad status", "tests:\n  - name: a\n    events:\n      - {at: 1m, labels: {a: b}, status: open}\n    expect: []\n", wantErr{4, "tests[0].events[0].status", `must be "firing" or "resolved"`})
	f("event bad severity", "tests:\n  - name: a\n    events:\n      - {at: 1m, labels: {a: b}, severity: urgent}\n    expect: []\n", wantErr{4, "tests[0].events[0].severity", "unknown severity"})
	f("repeat without every", "tests:\n  - name: a\n    events:\n      - {at: 1m, labels: {a: b}, repeat: 3}\n    expect: []\n", wantErr{4, "tests[0].events[0].every", "when repeat is given"})
	f("unknown event key", "tests:\n  - name: a\n    events:\n      - {at: 1m, labels: {a: b}, endsAt: 2m}\n    expect: []\n", wantErr{4, "tests[0].events[0].endsAt", "unknown field"})
	f("expect without at", "tests:\n  - name: a\n    events: []\n    expect:\n      - incidents: []\n", wantErr{5, "tests[0].expect[0].at", "is required"})
	f("incident without alerts", "tests:\n  - name: a\n    events: []\n    expect:\n      - at: 1m\n        incidents:\n          - {priority: P1}\n", wantErr{7, "tests[0].expect[0].incidents[0].alerts", "is required"})
	f("bad selector", "tests:\n  - name: a\n    events: []\n    expect:\n      - at: 1m\n        incidents:\n          - alerts: ['{alertname=~\"(\"}']\n", wantErr{7, "tests[0].expect[0].incidents[0].alerts[0]", "invalid selector"})
	f("bad priority", "tests:\n  - name: a\n    events: []\n    expect:\n      - at: 1m\n        incidents:\n          - {alerts: [A], priority: P0}\n", wantErr{7, "tests[0].expect[0].incidents[0].priority", "must be one of P1"})
	f("bad state", "tests:\n  - name: a\n    events: []\n    expect:\n      - at: 1m\n        incidents:\n          - {alerts: [A], state: open}\n", wantErr{7, "tests[0].expect[0].incidents[0].state", "must be one of new"})
	f("bad suppression", "tests:\n  - name: a\n    events: []\n    expect:\n      - at: 1m\n        suppressed:\n          - {alert: A, by: mute}\n", wantErr{7, "tests[0].expect[0].suppressed[0].by", "must be one of silence"})
	f("suppression without by", "tests:\n  - name: a\n    events: []\n    expect:\n      - at: 1m\n        suppressed:\n          - {alert: A}\n", wantErr{7, "tests[0].expect[0].suppressed[0].by", "is required"})
}

func TestShippedExampleRuleTestsAreValid(t *testing.T) {
	_, err := os.Stat("../deploy/examples/cmdb.yml")
	require.NoError(t, err, "the example CMDB the tests reference")
	tf, err := LoadTestFile("../deploy/examples/rules_test.yml")
	require.NoError(t, err)
	require.NotEmpty(t, tf.Tests)
	_, err = Load(tf.RuleFiles...)
	require.NoError(t, err)
}
