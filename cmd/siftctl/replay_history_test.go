package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/incident/history"
	"github.com/sift-itsm/sift/ingest"
	"github.com/sift-itsm/sift/rules"
)

type storedEvents []history.StoredEvent

func (s storedEvents) ScanEvents(_ context.Context, from, to time.Time, f func(*history.StoredEvent) error) error {
	for i := range s {
		if e := s[i]; !e.Event.ReceivedAt.Before(from) && e.Event.ReceivedAt.Before(to) {
			if err := f(&e); err != nil {
				return err
			}
		}
	}
	return nil
}

// What happened grouped by service (A and B of s1 in INC1; C of s2 in
// INC2 and C of s3 in INC3; D in none, as an info alert); the candidate
// rules group by alertname alone and let D open incidents: INC1 splits,
// INC2 and INC3 merge, D is new.
func TestReplayHistoryDiff(t *testing.T) {
	at := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	ev := func(d time.Duration, inc string, kv ...string) history.StoredEvent {
		m := map[string]string{"severity": "critical"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		ls := ingest.LabelsFromMap(m)
		return history.StoredEvent{IncidentID: inc, Event: ingest.Event{Fingerprint: ls.Fingerprint(), Labels: ls, Source: ingest.SourceGeneric,
			Severity: ingest.SeverityCritical, RawSeverity: "critical", ReceivedAt: at.Add(d), StartsAt: at.Add(d)}}
	}
	src := storedEvents{
		ev(0, "INC0000001", "alertname", "A", "service", "s1"),
		ev(time.Second, "INC0000001", "alertname", "B", "service", "s1"),
		ev(2*time.Second, "INC0000002", "alertname", "C", "service", "s2"),
		ev(3*time.Second, "INC0000003", "alertname", "C", "service", "s3"),
		ev(4*time.Second, "", "alertname", "D", "service", "s4"),
		ev(30*time.Second, "INC0000001", "alertname", "A", "service", "s1"),
		ev(-time.Hour, "INC0000009", "alertname", "Z", "service", "s1"), // before the range
	}
	file := filepath.Join(t.TempDir(), "new.yml")
	require.NoError(t, os.WriteFile(file, []byte("correlation_rules:\n  - name: by-name\n    group_by: [alertname]\n    window: 5m\n"), 0o644))
	rs, err := rules.Load(file)
	require.NoError(t, err)

	var out, errOut bytes.Buffer
	require.NoError(t, replayHistory(src, at.Add(-time.Minute), at.Add(time.Hour), correlate.NewOffline(correlate.DefaultSettings(), rs, nil), &out, &errOut))
	var d ruleDiff
	require.NoError(t, json.Unmarshal(out.Bytes(), &d))
	require.Equal(t, 6, d.Events)
	require.Equal(t, 3, d.Incidents)
	require.Equal(t, 4, d.CandidateIncidents) // A, B, C, D
	require.Equal(t, 5, d.EventsInIncidents)
	require.Equal(t, 6, d.EventsInCandidates)
	require.Equal(t, 0, d.Same)
	require.Len(t, d.Splits, 1)
	require.Equal(t, "INC0000001", d.Splits[0].ID)
	require.Equal(t, 3, d.Splits[0].Events)
	require.Len(t, d.Splits[0].Members, 2)
	require.Len(t, d.Merges, 1)
	require.Equal(t, map[string]int{"INC0000002": 1, "INC0000003": 1}, d.Merges[0].Members)
	require.Len(t, d.New, 1)
	require.Empty(t, d.Gone)
	require.Contains(t, errOut.String(), "1 merges, 1 splits, 1 new, 0 gone")

	// The same rules as what happened: nothing differs.
	out.Reset()
	same := storedEvents{ev(0, "INC0000001", "alertname", "A", "service", "s1"), ev(time.Second, "INC0000001", "alertname", "A", "service", "s1")}
	require.NoError(t, replayHistory(same, at.Add(-time.Minute), at.Add(time.Hour), correlate.NewOffline(correlate.DefaultSettings(), rs, nil), &out, &errOut))
	require.NoError(t, json.Unmarshal(out.Bytes(), &d))
	require.Equal(t, 1, d.Same)
	require.Empty(t, d.Merges)
	require.Empty(t, d.Splits)
}

func TestReplayFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 1, run([]string{"replay"}, &out, &errOut))
	require.Contains(t, errOut.String(), "--events, --requests or --from-clickhouse is required")
	errOut.Reset()
	require.Equal(t, 1, run([]string{"replay", "--events", "x.jsonl", "--from-clickhouse", "127.0.0.1:1"}, &out, &errOut))
	require.Contains(t, errOut.String(), "exclude each other")
	errOut.Reset()
	require.Equal(t, 1, run([]string{"replay", "--from-clickhouse", "127.0.0.1:1", "--since", "x"}, &out, &errOut))
	require.Contains(t, errOut.String(), "--since")
}
