package correlate

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/ingest"
	"github.com/sift-itsm/sift/internal/httpapi"
)

func apiFixture(t *testing.T) (*Engine, *http.ServeMux) {
	t.Helper()
	e := New(Options{})
	set := DefaultSettings()
	events := []ingest.Event{
		ev(0, "alertname", "Latency", "service", "api", "severity", "critical"),
		ev(0, "alertname", "Errors", "service", "api", "severity", "warning"),
		ev(0, "alertname", "Latency", "service", "web", "severity", "critical"),
		ev(0, "alertname", "Disk", "service", "db", "severity", "crit-ish"),
		ev(0, "alertname", "Disk", "service", "db2", "severity", "info"),
	}
	e.st.apply(t0, events, &set)
	e.st.apply(t0, []ingest.Event{resolved(ev(0, "alertname", "Errors", "service", "api", "severity", "warning"), 0)}, &set)
	mux := http.NewServeMux()
	NewAPI(e, nil).Register(mux)
	return e, mux
}

func getJSON(t *testing.T, mux http.Handler, path string, code int, into any) {
	t.Helper()
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	require.Equal(t, code, rec.Code, rec.Body.String())
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), into))
}

func names(p AlertPage) []string {
	var n []string
	for _, a := range p.Alerts {
		n = append(n, a.Labels["alertname"]+"/"+a.Labels["service"])
	}
	sort.Strings(n)
	return n
}

func TestListAlertsFilters(t *testing.T) {
	_, mux := apiFixture(t)
	f := func(query string, want ...string) {
		t.Helper()
		var p AlertPage
		getJSON(t, mux, "/api/v1/alerts?"+query, http.StatusOK, &p)
		if want == nil {
			want = []string{}
		}
		got := names(p)
		if got == nil {
			got = []string{}
		}
		require.Equal(t, want, got, query)
	}
	f("", "Disk/db", "Disk/db2", "Errors/api", "Latency/api", "Latency/web")
	f("filter="+url.QueryEscape(`{service="api",severity=~"crit.*"}`), "Latency/api")
	f("filter="+url.QueryEscape(`severity=~"crit.*"`), "Disk/db", "Latency/api", "Latency/web")
	f("filter="+url.QueryEscape(`alertname="Disk"`)+"&filter="+url.QueryEscape(`service!="db"`), "Disk/db2")
	f("filter="+url.QueryEscape(`{nosuchlabel=""}`), "Disk/db", "Disk/db2", "Errors/api", "Latency/api", "Latency/web")
	f("status=resolved", "Errors/api")
	f("status=firing&severity=critical", "Latency/api", "Latency/web")
	f("severity=warning", "Disk/db", "Errors/api") // "crit-ish" is unknown: warning
	f("filter=" + url.QueryEscape(`service=~"nope"`))
}

func TestListAlertsPaging(t *testing.T) {
	_, mux := apiFixture(t)
	var all []string
	token := ""
	pages := 0
	for {
		var p AlertPage
		getJSON(t, mux, "/api/v1/alerts?limit=2&page_token="+token, http.StatusOK, &p)
		require.LessOrEqual(t, len(p.Alerts), 2)
		for _, a := range p.Alerts {
			all = append(all, a.Fingerprint)
		}
		pages++
		if p.NextPageToken == "" {
			break
		}
		token = p.NextPageToken
	}
	require.Equal(t, 3, pages)
	require.Len(t, all, 5)
	require.True(t, sort.StringsAreSorted(all), "pages come in fingerprint order without gaps or repeats")
}

func TestListAlertsBadParams(t *testing.T) {
	_, mux := apiFixture(t)
	for q, field := range map[string]string{
		"filter=" + url.QueryEscape(`{service=~"("}`): "filter",
		"filter=" + url.QueryEscape(`{service`):       "filter",
		"status=open":                                 "status",
		"severity=urgent":                             "severity",
		"limit=0":                                     "limit",
		"limit=x":                                     "limit",
		"limit=100001":                                "limit",
		"page_token=zz":                               "page_token",
	} {
		var e httpapi.Error
		getJSON(t, mux, "/api/v1/alerts?"+q, http.StatusBadRequest, &e)
		require.Equal(t, field, e.Field, q)
		require.Equal(t, http.StatusBadRequest, e.Code)
		require.Contains(t, e.Message, field)
	}
}

func TestGetAlert(t *testing.T) {
	_, mux := apiFixture(t)
	a := ev(0, "alertname", "Latency", "service", "api", "severity", "critical")
	var got AlertJSON
	getJSON(t, mux, "/api/v1/alerts/"+a.Fingerprint.String(), http.StatusOK, &got)
	require.Equal(t, a.Fingerprint.String(), got.Fingerprint)
	require.Equal(t, "critical", got.Severity)
	require.Equal(t, "firing", got.Status)
	require.Equal(t, uint64(1), got.Count)
	require.Equal(t, t0, got.FirstSeen)
	require.Equal(t, t0, got.LastSeen)
	require.Equal(t, map[string]string{"alertname": "Latency", "service": "api", "severity": "critical"}, got.Labels)

	var e httpapi.Error
	getJSON(t, mux, "/api/v1/alerts/0000000000000001", http.StatusNotFound, &e)
	require.Contains(t, e.Message, "0000000000000001")
	getJSON(t, mux, "/api/v1/alerts/xyz", http.StatusBadRequest, &e)
	require.Equal(t, "fingerprint", e.Field)
}
