package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/ingest"
)

const exampleCMDB = "../../deploy/examples/cmdb.yml"

// scenarioGroups maps each alert of a scenario file to the incident the
// scenario intends for it (its scenario_group annotation).
func scenarioGroups(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	groups := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		evs, err := ingest.ParseGeneric(bytes.Clone(sc.Bytes()), time.Time{})
		require.NoError(t, err)
		for _, e := range evs {
			g, _ := e.Annotations.Get("scenario_group")
			groups[e.Fingerprint.String()] = g
		}
	}
	return groups
}

type replayed struct {
	Incidents []struct {
		ID              string   `json:"id"`
		State           string   `json:"state"`
		Priority        string   `json:"priority"`
		ProbableCause   string   `json:"probable_cause"`
		Alerts          []string `json:"alerts"`
		ProblemID       string   `json:"problem_id"`
		ProbableChanges []struct {
			ID string `json:"id"`
		} `json:"probable_changes"`
	} `json:"incidents"`
	Problems []struct {
		ID          string   `json:"id"`
		IncidentIDs []string `json:"incident_ids"`
	} `json:"problems"`
	Stats struct {
		Events    int `json:"events"`
		Incidents int `json:"incidents"`
	} `json:"stats"`
}

func runReplay(t *testing.T, args ...string) replayed {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.json")
	var stderr bytes.Buffer
	code := run(append([]string{"replay", "--out", out}, args...), new(bytes.Buffer), &stderr)
	require.Equal(t, 0, code, stderr.String())
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	var r replayed
	require.NoError(t, json.Unmarshal(b, &r))
	return r
}

// pairwise scores "alerts in the same incident" against the intended
// grouping: precision, recall and F1 over all pairs of alerts.
func pairwise(r replayed, intended map[string]string) (p, rec, f1 float64) {
	got := map[string]string{}
	for _, inc := range r.Incidents {
		for _, fp := range inc.Alerts {
			got[fp] = inc.ID
		}
	}
	var fps []string
	for fp := range intended {
		fps = append(fps, fp)
	}
	var tp, fp, fn float64
	for i := range fps {
		for j := i + 1; j < len(fps); j++ {
			a, b := fps[i], fps[j]
			same := got[a] != "" && got[a] == got[b]
			want := intended[a] == intended[b]
			switch {
			case same && want:
				tp++
			case same:
				fp++
			case want:
				fn++
			}
		}
	}
	p, rec = tp/(tp+fp), tp/(tp+fn)
	return p, rec, 2 * p * rec / (p + rec)
}

func TestReplayScenarios(t *testing.T) {
	for _, c := range []struct {
		file      string
		incidents int
		check     func(t *testing.T, r replayed)
	}{
		{"switch-failure", 2, func(t *testing.T, r replayed) {
			require.Equal(t, "core-sw-fra-1", r.Incidents[0].ProbableCause)
			require.Contains(t, []string{"P1", "P2"}, r.Incidents[0].Priority)
		}},
		{"database-failure", 3, func(t *testing.T, r replayed) {
			require.Equal(t, "db-orders-fra", r.Incidents[0].ProbableCause)
		}},
		{"recurring-backup", 4, func(t *testing.T, r replayed) {
			require.Len(t, r.Problems, 1, "the third daily recurrence opens a problem")
			require.Equal(t, []string{"INC0000001", "INC0000002", "INC0000003", "INC0000004"}, r.Problems[0].IncidentIDs)
			for _, inc := range r.Incidents {
				require.Equal(t, r.Problems[0].ID, inc.ProblemID)
			}
		}},
		{"flapping-and-resends", 2, func(t *testing.T, r replayed) {
			require.Len(t, r.Incidents[1].Alerts, 100, "an hour of resends of 100 alerts: one incident")
		}},
	} {
		t.Run(c.file, func(t *testing.T) {
			path := "../../deploy/examples/scenarios/" + c.file + ".jsonl"
			r := runReplay(t, "--cmdb", exampleCMDB, "--events", path)
			require.Len(t, r.Incidents, c.incidents)
			require.Equal(t, c.incidents, r.Stats.Incidents)
			for _, inc := range r.Incidents {
				require.Equal(t, "closed", inc.State, "drained: every timer ran")
			}
			c.check(t, r)
			groups := scenarioGroups(t, path)
			if len(groups) < 2 {
				return // one alert, recurring: no pairs to score
			}
			p, rec, f1 := pairwise(r, groups)
			t.Logf("%s: pairwise precision %.3f recall %.3f F1 %.3f; events:incidents %d:%d", c.file, p, rec, f1, r.Stats.Events, len(r.Incidents))
			require.Equal(t, 1.0, f1, "the intended grouping exactly")
		})
	}
}

func TestReplayIsDeterministic(t *testing.T) {
	path := "../../deploy/examples/scenarios/switch-failure.jsonl"
	a := runReplay(t, "--cmdb", exampleCMDB, "--events", path)
	b := runReplay(t, "--cmdb", exampleCMDB, "--events", path)
	require.Equal(t, a, b)
}

func TestReplayBadLineNamesIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(`{"labels":{"a":"b"}}`+"\n"+`{"labels":{"a":1}}`+"\n"), 0o644))
	var stderr bytes.Buffer
	require.Equal(t, 1, run([]string{"replay", "--events", path}, new(bytes.Buffer), &stderr))
	require.Contains(t, stderr.String(), "bad.jsonl:2:")
}

func TestRulesTestExample(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"rules", "test", "../../deploy/examples/rules_test.yml"}, &stdout, &stderr), stderr.String())
	require.Contains(t, stdout.String(), "SUCCESS")
}

func TestRulesTestReportsFailures(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.yml")
	require.NoError(t, os.WriteFile(path, []byte(`tests:
  - name: two services stay apart
    events:
      - at: 0s
        labels: {alertname: Errors, service: api}
        severity: critical
      - at: 1m
        labels: {alertname: Errors, service: web}
        severity: critical
    expect:
      - at: 2m
        incidents:
          - alerts: ['{service="api"}']
            priority: P1
`), 0o644))
	var stdout, stderr bytes.Buffer
	require.Equal(t, 1, run([]string{"rules", "test", path}, &stdout, &stderr))
	out := stderr.String()
	require.Contains(t, out, "t.yml:2: two services stay apart")
	require.Contains(t, out, "priority P3, want P1", "critical without a CI: impact 3, urgency 1")
	require.Contains(t, out, "unexpected incident INC0000002")
}

func TestReplayProbableChanges(t *testing.T) {
	r := runReplay(t, "--cmdb", exampleCMDB, "--events", "../../deploy/examples/scenarios/switch-failure.jsonl",
		"--changes", "../../deploy/examples/scenarios/switch-failure.changes.jsonl")
	require.Equal(t, "core-sw-fra-1", r.Incidents[0].ProbableCause)
	var ids []string
	for _, c := range r.Incidents[0].ProbableChanges {
		ids = append(ids, c.ID)
	}
	require.Equal(t, []string{"CHG0001"}, ids, "the firmware upgrade 10 minutes before; not the other site's patch, not the change 4 hours before")
}
