package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/incident/history"
)

// analyticsServer answers the analytics endpoints with canned figures and
// records the queries.
func analyticsServer(t *testing.T) (*httptest.Server, *[]url.URL) {
	t.Helper()
	var seen []url.URL
	at := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	r := history.Range{From: at.Add(-7 * 24 * time.Hour), To: at}
	answers := map[string]any{
		"/api/v1/analytics/recurring": history.Recurring{Range: r, Incidents: 4,
			Signatures: []history.RecurringEntry{{Key: `disk/{service="billing"}`, Rule: "disk", GroupKey: `{service="billing"}`, Incidents: 3, Events: 8, FirstOpened: at, LastOpened: at, LastIncident: "INC0000005", ProblemID: "PRB0000002"},
				{Key: `load/{service="web"}`, Rule: "load", GroupKey: `{service="web"}`, Incidents: 2, Events: 4, FirstOpened: at, LastOpened: at, LastIncident: "INC0000004"}},
			CIs:      []history.RecurringEntry{{Key: "db1", Incidents: 3, Events: 8, FirstOpened: at, LastOpened: at, LastIncident: "INC0000005"}},
			Services: []history.RecurringEntry{}},
		"/api/v1/analytics/mtt": history.MTT{Range: r,
			All:            history.MTTEntry{Incidents: 4, Acknowledged: 3, Resolved: 3, MTTASeconds: 1200, MTTRSeconds: 4500, MedianTTA: 1200, MedianTTR: 3600},
			ByPriority:     []history.MTTEntry{{Key: "P3", Incidents: 1, Resolved: 1, MTTRSeconds: 2700, MedianTTR: 2700}},
			ByService:      []history.MTTEntry{},
			BySupportGroup: []history.MTTEntry{}},
		"/api/v1/analytics/noise": history.Noise{Range: r, Events: 22, EventsInIncidents: 18, Incidents: 3, EventsPerIncident: 6, MedianPerIncident: 5, MaxPerIncident: 10,
			TopIncidents:   []history.IncidentNoise{{ID: "INC0000003", Events: 10}},
			NoisiestAlerts: []history.AlertNoise{{Fingerprint: "00000000000000ff", Alertname: "C", Labels: map[string]string{"alertname": "C"}, Events: 10, Incidents: 1}},
			Flapping:       []history.AlertFlaps{{Fingerprint: "00000000000000ff", Alertname: "C", Changes: 6, Opened: 3, Resolved: 3, Incidents: []string{"INC0000003"}}}},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		seen = append(seen, *req.URL)
		v, ok := answers[req.URL.Path]
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"code":503,"message":"history is off: set history.clickhouse.addresses in the config file"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(v)
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

func TestReport(t *testing.T) {
	srv, seen := analyticsServer(t)
	f := func(args ...string) (int, string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := run(append([]string{"report", "--url", srv.URL}, args...), &out, &errOut)
		return code, out.String(), errOut.String()
	}

	code, out, errOut := f("recurring", "--from", "2026-03-07T12:00:00Z", "--to", "2026-03-14T12:00:00Z", "--limit", "3")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "4 incidents opened")
	require.Regexp(t, `(?m)^SIGNATURE\s+INCIDENTS\s+EVENTS`, out)
	require.Regexp(t, `(?m)^SIGNATURE\s+INCIDENTS\s+EVENTS\s+FIRST OPENED\s+LAST OPENED\s+LAST INCIDENT\s+PROBLEM$`, out)
	require.Regexp(t, `(?m)^disk/\{service="billing"\}\s+3\s+8\s.*INC0000005\s+PRB0000002$`, out)
	require.Regexp(t, `(?m)^load/\{service="web"\}\s+2\s+4\s.*INC0000004\s+-$`, out)
	require.Regexp(t, `(?m)^CI\s+INCIDENTS\s+EVENTS\s+FIRST OPENED\s+LAST OPENED\s+LAST INCIDENT$`, out)
	require.Regexp(t, `(?m)^db1\s+3\s+8\s`, out)
	q := (*seen)[0].Query()
	require.Equal(t, "2026-03-07T12:00:00Z", q.Get("from"))
	require.Equal(t, "2026-03-14T12:00:00Z", q.Get("to"))
	require.Equal(t, "3", q.Get("limit"))

	code, out, errOut = f("mtt", "--since", "7d", "--to", "2026-03-14T12:00:00Z")
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `(?m)^all\s+-\s+4\s+3\s+20m0s\s+20m0s\s+3\s+1h15m0s\s+1h0m0s`, out)
	require.Regexp(t, `(?m)^priority\s+P3\s+1\s+0\s+-\s+-\s+1\s+45m0s\s+45m0s`, out)
	q = (*seen)[1].Query()
	require.Equal(t, "2026-03-07T12:00:00Z", q.Get("from"), "--since counts back from --to")
	require.Empty(t, q.Get("limit"))

	code, out, errOut = f("noise", "--min-changes", "6", "-o", "json")
	require.Equal(t, 0, code, errOut)
	var n history.Noise
	require.NoError(t, json.Unmarshal([]byte(out), &n))
	require.Equal(t, uint64(22), n.Events)
	require.Equal(t, "6", (*seen)[2].Query().Get("min_changes"))
	code, out, errOut = f("noise")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "22 events, 18 in 3 incidents: 6.0 per incident (median 5, max 10)")
	require.Regexp(t, `(?m)^C\s+00000000000000ff\s+6\s+3\s+3\s+INC0000003`, out)

	code, _, errOut = f("mtt", "--since", "soon")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "--since")
	var out2, errOut2 bytes.Buffer
	require.Equal(t, 1, run([]string{"report", "--url", srv.URL + "/off", "mtt"}, &out2, &errOut2))
	require.Contains(t, errOut2.String(), "history is off")
}
