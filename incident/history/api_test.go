package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

type fakeQuerier struct {
	q     EventQuery
	id    string
	rq    RecurringQuery
	rg    Range
	nq    NoiseQuery
	fp    model.Fingerprint
	from  time.Time
	to    time.Time
	limit int
	err   error
}

func (f *fakeQuerier) Events(_ context.Context, q EventQuery) (EventPage, error) {
	f.q = q
	return EventPage{Events: []EventJSON{{ID: "1-1-0"}}, NextPageToken: "tok"}, f.err
}

func (f *fakeQuerier) AlertStates(_ context.Context, fp model.Fingerprint, from, to time.Time, limit int) (AlertHistory, error) {
	f.fp, f.from, f.to, f.limit = fp, from, to, limit
	return AlertHistory{Fingerprint: fp.String(), States: []AlertStateJSON{}}, f.err
}

func (f *fakeQuerier) Incident(_ context.Context, id string) (IncidentHistory, error) {
	f.id = id
	if id == "INC0000404" {
		return IncidentHistory{}, fmt.Errorf("incident %s: %w", id, ErrNotFound)
	}
	var h IncidentHistory
	h.ID = id
	return h, f.err
}

func (f *fakeQuerier) Problem(_ context.Context, id string) (ProblemHistory, error) {
	f.id = id
	if id == "PRB0000404" {
		return ProblemHistory{}, fmt.Errorf("problem %s: %w", id, ErrNotFound)
	}
	var h ProblemHistory
	h.ID = id
	return h, f.err
}

func (f *fakeQuerier) Recurring(_ context.Context, q RecurringQuery) (Recurring, error) {
	f.rq = q
	return Recurring{Range: q.Range, Incidents: 3}, f.err
}

func (f *fakeQuerier) MTT(_ context.Context, r Range) (MTT, error) {
	f.rg = r
	return MTT{Range: r}, f.err
}

func (f *fakeQuerier) Noise(_ context.Context, q NoiseQuery) (Noise, error) {
	f.nq = q
	return Noise{Range: q.Range}, f.err
}

func serve(t *testing.T, q Querier, url string) (int, map[string]any) {
	t.Helper()
	mux := http.NewServeMux()
	NewAPI(q, nil, func() time.Time { return t0 }).Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
	var body map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	return rec.Code, body
}

func TestAPIEventsParameters(t *testing.T) {
	q := &fakeQuerier{}
	code, body := serve(t, q, `/api/v1/history/events?filter={service="api",severity=~"crit.*"}&from=2026-03-14T10:00:00Z&to=1773489600.5&limit=5&page_token=1-2-3-4`)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "tok", body["next_page_token"])
	require.Len(t, q.q.Matchers, 2)
	require.Equal(t, time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC), q.q.From)
	require.Equal(t, time.Unix(1773489600, 5e8).UTC(), q.q.To)
	require.Equal(t, 5, q.q.Limit)
	require.Equal(t, &Cursor{ReceivedNs: 1, ID: EventID{Run: 2, Seq: 3, Idx: 4}}, q.q.Before)

	// Defaults: the last 24h to now, 100 a page.
	code, _ = serve(t, q, "/api/v1/history/events")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, t0, q.q.To)
	require.Equal(t, t0.Add(-DefaultEventSpan), q.q.From)
	require.Equal(t, DefaultPageSize, q.q.Limit)
	require.Nil(t, q.q.Before)
}

func TestAPIErrors(t *testing.T) {
	f := func(q Querier, url string, code int, field string) {
		t.Helper()
		got, body := serve(t, q, url)
		require.Equal(t, code, got, url)
		require.Equal(t, float64(code), body["code"])
		if field != "" {
			require.Equal(t, field, body["field"], url)
		}
	}
	q := &fakeQuerier{}
	f(q, "/api/v1/history/events?filter={a=~\"(\"}", 400, "filter")
	f(q, "/api/v1/history/events?limit=0", 400, "limit")
	f(q, "/api/v1/history/events?limit=10001", 400, "limit")
	f(q, "/api/v1/history/events?from=yesterday", 400, "from")
	f(q, "/api/v1/history/events?from=2026-03-15T00:00:00Z&to=2026-03-14T00:00:00Z", 400, "from")
	f(q, "/api/v1/history/events?page_token=x", 400, "page_token")
	f(q, "/api/v1/history/alerts/nothex", 400, "fingerprint")
	f(nil, "/api/v1/history/events", 503, "")
	f(nil, "/api/v1/history/alerts/00000000000000ff", 503, "")
	f(&fakeQuerier{err: errors.New("connection refused")}, "/api/v1/history/events", 503, "")
	f(q, "/api/v1/history/incidents/PRB0000001", 400, "id")
	f(q, "/api/v1/history/incidents/INC0000404", 404, "")
	f(q, "/api/v1/history/problems/INC0000001", 400, "id")
	f(q, "/api/v1/history/problems/PRB0000404", 404, "")
	f(q, "/api/v1/analytics/recurring?limit=1001", 400, "limit")
	f(q, "/api/v1/analytics/recurring?from=x", 400, "from")
	f(q, "/api/v1/analytics/mtt?to=2026-03-14T00:00:00Z&from=2026-03-15T00:00:00Z", 400, "from")
	f(q, "/api/v1/analytics/noise?min_changes=0", 400, "min_changes")
	for _, u := range []string{"/api/v1/history/incidents/INC0000001", "/api/v1/history/problems/PRB0000001", "/api/v1/analytics/recurring", "/api/v1/analytics/mtt", "/api/v1/analytics/noise"} {
		f(nil, u, 503, "")
		f(&fakeQuerier{err: errors.New("connection refused")}, u, 503, "")
	}
}

func TestAPIAnalyticsParameters(t *testing.T) {
	q := &fakeQuerier{}
	code, body := serve(t, q, "/api/v1/analytics/recurring")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, float64(3), body["incidents"])
	require.Equal(t, RecurringQuery{Range: Range{From: t0.Add(-DefaultAnalyticsSpan), To: t0}, Limit: DefaultTopN}, q.rq)
	code, _ = serve(t, q, "/api/v1/analytics/recurring?from=2026-03-01T00:00:00Z&to=2026-03-08T00:00:00Z&limit=3")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, RecurringQuery{Range: Range{From: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)}, Limit: 3}, q.rq)

	code, _ = serve(t, q, "/api/v1/analytics/mtt?from=2026-03-01T00:00:00Z")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, Range{From: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), To: t0}, q.rg)

	code, _ = serve(t, q, "/api/v1/analytics/noise?min_changes=6&limit=20")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, NoiseQuery{Range: Range{From: t0.Add(-DefaultAnalyticsSpan), To: t0}, Limit: 20, MinChanges: 6}, q.nq)
	code, _ = serve(t, q, "/api/v1/analytics/noise")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, DefaultMinChanges, q.nq.MinChanges)

	code, body = serve(t, q, "/api/v1/history/incidents/INC0000042")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "INC0000042", q.id)
	require.Equal(t, "INC0000042", body["id"])

	code, body = serve(t, q, "/api/v1/history/problems/PRB0000007")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "PRB0000007", q.id)
	require.Equal(t, "PRB0000007", body["id"])
}

func TestAPIAlert(t *testing.T) {
	q := &fakeQuerier{}
	code, body := serve(t, q, "/api/v1/history/alerts/00000000000000ff?limit=7")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "00000000000000ff", body["fingerprint"])
	require.Equal(t, model.Fingerprint(255), q.fp)
	require.Equal(t, 7, q.limit)
	require.Equal(t, t0, q.to)
	require.True(t, q.from.Before(time.Unix(1, 0)), "all of history by default")
}
