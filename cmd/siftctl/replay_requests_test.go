package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/correlate"
)

// An ack log as siftload writes it: lines in the order the answers came,
// so not in the order sent; the last is in doubt.
const ackLog = `{"worker":1,"format":"generic","sent":"2026-11-24T12:00:02Z","done":"2026-11-24T12:00:02.004Z","status":202,"events":1,"body":[{"labels":{"alertname":"Down","instance":"a"},"status":"resolved","timestamp":"2026-11-24T12:00:02Z"}]}
{"worker":0,"format":"prometheus","sent":"2026-11-24T12:00:00Z","done":"2026-11-24T12:00:00.003Z","status":200,"events":1,"body":[{"labels":{"alertname":"Down","instance":"a"},"startsAt":"2026-11-24T11:59:00Z","endsAt":"2026-11-24T12:04:00Z"}]}
{"worker":2,"format":"pagerduty","sent":"2026-11-24T12:00:01Z","done":"2026-11-24T12:00:01.002Z","status":202,"events":1,"body":{"routing_key":"k","event_action":"trigger","dedup_key":"d1","payload":{"summary":"Disk full","source":"db1","severity":"critical"}}}
{"worker":3,"format":"alertmanager","sent":"2026-11-24T12:00:03Z","done":"2026-11-24T12:00:09Z","status":0,"events":1,"body":{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"Late","instance":"b"},"startsAt":"2026-11-24T12:00:00Z"}]}}
`

type replayedAlerts struct {
	Alerts []correlate.AlertJSON `json:"alerts"`
}

func TestReplayRequests(t *testing.T) {
	in := filepath.Join(t.TempDir(), "ack.jsonl")
	require.NoError(t, os.WriteFile(in, []byte(ackLog), 0o644))
	replayAlerts := func(args ...string) (map[string]correlate.AlertJSON, string) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "out.json")
		var stderr bytes.Buffer
		code := run(append([]string{"replay", "--requests", in, "--alerts", "--advance", "1m", "--out", out}, args...), new(bytes.Buffer), &stderr)
		require.Equal(t, 0, code, stderr.String())
		b, err := os.ReadFile(out)
		require.NoError(t, err)
		var r replayedAlerts
		require.NoError(t, json.Unmarshal(b, &r))
		m := map[string]correlate.AlertJSON{}
		for _, a := range r.Alerts {
			m[a.Labels["alertname"]+a.Labels["dedup_key"]] = a
		}
		return m, stderr.String()
	}

	got, stderr := replayAlerts()
	require.Contains(t, stderr, "from 3 requests (1 not acknowledged, skipped)")
	require.Len(t, got, 2, "the request in doubt is left out")
	down := got["Down"]
	require.Equal(t, "prometheus", down.Source, "applied in the order sent: the firing Prometheus alert first")
	require.Equal(t, "resolved", down.Status)
	require.Equal(t, uint64(2), down.Count)
	pd := got["d1"]
	require.Equal(t, "pagerduty", pd.Source)
	require.Equal(t, "firing", pd.Status, "PagerDuty alerts do not expire")
	require.Equal(t, "2026-11-24T12:00:01Z", pd.FirstSeen.Format("2006-01-02T15:04:05Z07:00"), "received when sent")

	got, stderr = replayAlerts("--in-doubt")
	require.Contains(t, stderr, "from 4 requests (0 not acknowledged, skipped)")
	require.Equal(t, "alertmanager", got["Late"].Source)
}

func TestReplayRequestsBadLine(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ line, want string }{
		{`{"format":"xml","sent":"2026-11-24T12:00:00Z","status":200,"body":{}}`, `line 2: xml body: unknown format "xml"`},
		{`{"format":"generic","sent":"2026-11-24T12:00:00Z","status":200,"body":[{}]}`, `line 2: generic body:`},
		{`{"labels":{"a":"b"}}`, "line 2: not an ack log line"},
	} {
		in := filepath.Join(dir, "ack.jsonl")
		require.NoError(t, os.WriteFile(in, []byte("# comment\n"+c.line+"\n"), 0o644))
		var stderr bytes.Buffer
		require.Equal(t, 1, run([]string{"replay", "--requests", in}, new(bytes.Buffer), &stderr))
		require.Contains(t, stderr.String(), c.want)
	}
	var stderr bytes.Buffer
	require.Equal(t, 1, run([]string{"replay", "--requests", "a", "--events", "b"}, new(bytes.Buffer), &stderr))
	require.Contains(t, stderr.String(), "exclude each other")
}
