package ingest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/notify/webhook"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

type goldenCase struct {
	name  string // testdata/<name>.json in, testdata/<name>.golden.json out
	src   Source
	parse func(body []byte, receivedAt time.Time) ([]Event, error)
}

func pdBatch(prefix string) func([]byte, time.Time) ([]Event, error) {
	return func(body []byte, at time.Time) ([]Event, error) {
		e, err := ParsePagerDuty(body, at, seqKeys(prefix))
		if err != nil {
			return nil, err
		}
		return []Event{e}, nil
	}
}

var goldenCases = []goldenCase{
	{"prometheus_alerts", SourcePrometheus, ParsePrometheus},
	{"alertmanager_webhook", SourceAlertmanager, ParseAlertmanager},
	{"pagerduty_trigger", SourcePagerDuty, pdBatch("generated")},
	{"pagerduty_trigger_no_dedup_key", SourcePagerDuty, pdBatch("generated")},
	{"pagerduty_acknowledge", SourcePagerDuty, pdBatch("generated")},
	{"pagerduty_resolve", SourcePagerDuty, pdBatch("generated")},
	{"generic_object", SourceGeneric, ParseGeneric},
	{"generic_array", SourceGeneric, ParseGeneric},
}

// TestGolden parses every real payload in testdata/ and compares the events
// with testdata/<name>.golden.json. Run `go test ./ingest -run TestGolden
// -update` to rewrite the golden files, then review the diff by hand.
func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			body := readTestdata(t, tc.name+".json")
			events, err := tc.parse(body, testReceivedAt)
			require.NoError(t, err)
			require.NotEmpty(t, events)
			for i := range events {
				require.NoError(t, eventInvariants(&events[i], tc.src, testReceivedAt), "event %d", i)
			}
			got := renderJSON(events)
			path := filepath.Join("testdata", tc.name+".golden.json")
			if *update {
				require.NoError(t, os.WriteFile(path, got, 0o644))
				return
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run with -update to create it")
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the parse of %s.json (rerun with -update and review):\n--- got\n%s", path, tc.name, got)
			}
		})
	}
}

// The golden files pin every value; the tests below state the rules of
// ITSM.md the values come from, so a wrong golden file cannot hide a bug.

func TestGoldenPrometheusSemantics(t *testing.T) {
	events, err := ParsePrometheus(readTestdata(t, "prometheus_alerts.json"), testReceivedAt)
	require.NoError(t, err)
	require.Len(t, events, 5)
	type want struct {
		alertname string
		status    Status
		sev       Severity
		raw       string
	}
	for i, w := range []want{
		{"HighRequestLatency", StatusFiring, SeverityCritical, "page"},
		{"NodeFilesystemAlmostFull", StatusFiring, SeverityMajor, "error"},
		{"TargetDown", StatusResolved, SeverityWarning, "warning"}, // endsAt 10:14:45 <= receivedAt 10:15:30
		{"Watchdog", StatusFiring, SeverityInfo, "none"},
		{"CertificateExpiringSoon", StatusFiring, SeverityWarning, ""}, // no severity label
	} {
		e := events[i]
		name, _ := e.Labels.Get("alertname")
		require.Equal(t, w.alertname, name, "event %d", i)
		require.Equal(t, w.status, e.Status, "event %d", i)
		require.Equal(t, w.sev, e.Severity, "event %d", i)
		require.Equal(t, w.raw, e.RawSeverity, "event %d", i)
		require.Equal(t, SourcePrometheus, e.Source)
	}
	// \u0026 in the body is unescaped.
	require.Equal(t, "http://prometheus-0.monitoring.svc:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1", events[2].GeneratorURL)
	require.Equal(t, time.Date(2025, 6, 3, 9, 58, 15, 123e6, time.UTC), events[2].StartsAt.UTC())
	require.Equal(t, time.Date(2025, 6, 3, 10, 14, 45, 123e6, time.UTC), events[2].EndsAt.UTC())
	// Non-ASCII text survives.
	s, _ := events[4].Annotations.Get("summary")
	require.True(t, strings.Contains(s, "— renew"), s)
	// Fingerprints are Alertmanager's: model.LabelSet of the same labels.
	for i := range events {
		require.Equal(t, events[i].Labels.LabelSet().Fingerprint(), events[i].Fingerprint)
	}
}

func TestGoldenAlertmanagerSemantics(t *testing.T) {
	body := readTestdata(t, "alertmanager_webhook.json")
	var msg webhook.Message
	require.NoError(t, json.Unmarshal(body, &msg))
	events, err := ParseAlertmanager(body, testReceivedAt)
	require.NoError(t, err)
	require.Len(t, events, len(msg.Alerts))
	for i, a := range msg.Alerts {
		e := events[i]
		// The fingerprint Alertmanager sent is the one sift computes: the
		// two can be cross-referenced.
		require.Equal(t, a.Fingerprint, e.Fingerprint.String(), "alert %d", i)
		require.Equal(t, a.Status, e.Status.String(), "alert %d", i)
		require.Equal(t, map[string]string(a.Labels), e.Labels.Map())
		require.Equal(t, map[string]string(a.Annotations), e.Annotations.Map())
		require.True(t, strings.HasSuffix(e.GeneratorURL, "&g0.tab=1"), e.GeneratorURL)
		require.Equal(t, SeverityWarning, e.Severity)
		require.Equal(t, "warning", e.RawSeverity)
	}
	// A firing alert's endsAt is Go's zero time on the wire: no end.
	require.True(t, events[0].EndsAt.IsZero())
	require.Equal(t, StatusFiring, events[0].Status)
	require.Equal(t, StatusResolved, events[1].Status)
	require.Equal(t, time.Date(2025, 6, 3, 10, 12, 0, 480e6, time.UTC), events[1].EndsAt.UTC())
}

func TestGoldenPagerDutySemantics(t *testing.T) {
	t.Run("trigger", func(t *testing.T) {
		keys := 0
		e, err := ParsePagerDuty(readTestdata(t, "pagerduty_trigger.json"), testReceivedAt, func() string { keys++; return "unused" })
		require.NoError(t, err)
		require.Zero(t, keys, "newKey called although the event has a dedup_key")
		require.Equal(t, map[string]string{
			"class":     "deploy",
			"component": "postgres",
			"dedup_key": "samplekeyhere",
			"group":     "prod-datapipe",
			"source":    "monitoringtool:cloudvendor:central-region-dc-01:852559987:cluster/api-stats-prod-003",
		}, e.Labels.Map())
		require.Equal(t, []string{"dedup_key"}, e.Identity)
		require.Equal(t, NewLabels(Label{"dedup_key", "samplekeyhere"}).Fingerprint(), e.Fingerprint)
		require.Equal(t, SeverityMajor, e.Severity) // PagerDuty error -> major
		require.Equal(t, "error", e.RawSeverity)
		require.Equal(t, StatusFiring, e.Status)
		require.False(t, e.Acknowledge)
		// The documented example's "+0000" offset (ISO 8601, not RFC 3339).
		require.Equal(t, time.Date(2015, 7, 17, 8, 42, 58, 315e6, time.UTC), e.StartsAt.UTC())
		require.Equal(t, "Sample Monitoring Service", e.Producer)
		require.Equal(t, "https://monitoring.example.com", e.GeneratorURL)
		ann := e.Annotations.Map()
		require.Equal(t, "Example alert on host1.example.com", ann["summary"])
		require.Equal(t, "1500ms", ann["ping time"])                                                       // strings stay strings
		require.Equal(t, "0.75", ann["load avg"])                                                          // numbers as JSON
		require.JSONEq(t, `{"mount":"/var/lib/postgresql","free_pct":3.1,"read_only":false}`, ann["disk"]) // objects as compact JSON
		require.NotContains(t, ann["disk"], "\n")
		require.NotContains(t, e.Labels.Map(), "routing_key") // a credential, not kept
	})
	t.Run("trigger without dedup_key", func(t *testing.T) {
		e, err := ParsePagerDuty(readTestdata(t, "pagerduty_trigger_no_dedup_key.json"), testReceivedAt, seqKeys("gen"))
		require.NoError(t, err)
		dk, ok := e.Labels.Get("dedup_key")
		require.True(t, ok)
		require.Equal(t, "gen-0001", dk)
		require.Equal(t, NewLabels(Label{"dedup_key", "gen-0001"}).Fingerprint(), e.Fingerprint)
		require.Equal(t, SeverityCritical, e.Severity)
	})
	t.Run("acknowledge and resolve share the trigger's fingerprint", func(t *testing.T) {
		ack, err := ParsePagerDuty(readTestdata(t, "pagerduty_acknowledge.json"), testReceivedAt, seqKeys("x"))
		require.NoError(t, err)
		res, err := ParsePagerDuty(readTestdata(t, "pagerduty_resolve.json"), testReceivedAt, seqKeys("x"))
		require.NoError(t, err)
		trig, err := ParsePagerDuty([]byte(`{"routing_key":"r","event_action":"trigger","dedup_key":"dedupkeyhere",
			"payload":{"summary":"s","source":"host-a","severity":"info","component":"c"}}`), testReceivedAt, seqKeys("x"))
		require.NoError(t, err)
		require.Equal(t, trig.Fingerprint, ack.Fingerprint)
		require.Equal(t, trig.Fingerprint, res.Fingerprint)
		require.True(t, ack.Acknowledge)
		require.Equal(t, StatusFiring, ack.Status)
		require.False(t, res.Acknowledge)
		require.Equal(t, StatusResolved, res.Status)
		require.Equal(t, SeverityWarning, res.Severity) // no payload: no severity
		require.Equal(t, testReceivedAt, res.StartsAt)
	})
}

func TestGoldenGenericSemantics(t *testing.T) {
	t.Run("object", func(t *testing.T) {
		events, err := ParseGeneric(readTestdata(t, "generic_object.json"), testReceivedAt)
		require.NoError(t, err)
		require.Len(t, events, 1)
		e := events[0]
		require.Equal(t, SeverityMajor, e.Severity)
		require.Equal(t, "nagios", e.Producer)
		require.Equal(t, SourceGeneric, e.Source)
		require.True(t, e.StartsAt.Equal(time.Date(2025, 6, 3, 10, 14, 2, 500e6, time.UTC)), e.StartsAt)
		require.Nil(t, e.Identity)
		require.Equal(t, e.Labels.LabelSet().Fingerprint(), e.Fingerprint)
		d, _ := e.Annotations.Get("dashboard")
		require.Equal(t, "https://grafana.example.com/d/storefront?var-host=web-7&from=now-1h", d)
	})
	t.Run("array", func(t *testing.T) {
		events, err := ParseGeneric(readTestdata(t, "generic_array.json"), testReceivedAt)
		require.NoError(t, err)
		require.Len(t, events, 5)

		// identity ["volume","alertname","volume"]: sorted, de-duplicated,
		// and the fingerprint is of those two labels only.
		e := events[0]
		require.Equal(t, []string{"alertname", "volume"}, e.Identity)
		require.Equal(t, NewLabels(Label{"alertname", "DiskLatencyHigh"}, Label{"volume", "vol-0a1b2c3d4e5f"}).LabelSet().Fingerprint(), e.Fingerprint)
		require.NotEqual(t, e.Labels.Fingerprint(), e.Fingerprint)
		require.Equal(t, SeverityCritical, e.Severity)
		require.Equal(t, testReceivedAt, e.StartsAt) // no timestamp

		require.Equal(t, StatusResolved, events[1].Status)
		require.Equal(t, StatusFiring, events[0].Status)

		// No severity field: the severity label; Alerta's "security" is critical.
		require.Equal(t, "security", events[2].RawSeverity)
		require.Equal(t, SeverityCritical, events[2].Severity)
		require.Equal(t, time.Date(2025, 6, 3, 10, 11, 0, 0, time.UTC), events[2].StartsAt)

		require.Equal(t, SeverityInfo, events[3].Severity) // indeterminate
		require.Empty(t, events[3].Producer)

		// Unknown severity: warning, raw value kept.
		require.Equal(t, SeverityWarning, events[4].Severity)
		require.Equal(t, "sev2", events[4].RawSeverity)
	})
}
