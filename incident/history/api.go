package history

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/alertmanager/matcher/compat"
	"github.com/prometheus/common/model"

	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/internal/httpapi"
)

// Paging limits of the history endpoints.
const (
	DefaultPageSize  = httpapi.DefaultPageSize
	MaxPageSize      = httpapi.MaxPageSize
	DefaultEventSpan = 24 * time.Hour
	// DefaultAnalyticsSpan is the range of the analytics without from.
	DefaultAnalyticsSpan = 30 * 24 * time.Hour
	// DefaultTopN and MaxTopN bound the analytics' top lists.
	DefaultTopN = 10
	MaxTopN     = 1000
	// QueryTimeout bounds one history query.
	QueryTimeout = 30 * time.Second
)

// Querier is what the API reads: *Store in production.
type Querier interface {
	Events(ctx context.Context, q EventQuery) (EventPage, error)
	AlertStates(ctx context.Context, fp model.Fingerprint, from, to time.Time, limit int) (AlertHistory, error)
	Incident(ctx context.Context, id string) (IncidentHistory, error)
	Problem(ctx context.Context, id string) (ProblemHistory, error)
	Recurring(ctx context.Context, q RecurringQuery) (Recurring, error)
	MTT(ctx context.Context, r Range) (MTT, error)
	Noise(ctx context.Context, q NoiseQuery) (Noise, error)
}

// API serves /api/v1/history and /api/v1/analytics. With a nil Querier
// (history off) every endpoint answers 503 saying so.
type API struct {
	q             Querier
	now           func() time.Time
	logger        *slog.Logger
	parseMatchers compat.ParseMatchers
}

// NewAPI returns the history API over q; now is the clock of default
// time ranges (time.Now when nil).
func NewAPI(q Querier, logger *slog.Logger, now func() time.Time) *API {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &API{q: q, now: now, logger: logger, parseMatchers: compat.FallbackMatchersParser(logger)}
}

// Register mounts the endpoints on mux.
func (a *API) Register(mux *http.ServeMux) {
	handle := func(pattern string, h http.HandlerFunc) {
		if a.q == nil {
			h = off
		}
		mux.HandleFunc(pattern, h)
	}
	handle("GET /api/v1/history/events", a.events)
	handle("GET /api/v1/history/alerts/{fingerprint}", a.alert)
	handle("GET /api/v1/history/incidents/{id}", a.incident)
	handle("GET /api/v1/history/problems/{id}", a.problem)
	handle("GET /api/v1/analytics/recurring", a.recurring)
	handle("GET /api/v1/analytics/mtt", a.mtt)
	handle("GET /api/v1/analytics/noise", a.noise)
}

var (
	writeJSON = httpapi.WriteJSON
	badParam  = httpapi.BadParam
)

// off answers every endpoint while history is off (no Querier).
func off(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusServiceUnavailable, httpapi.Error{Code: http.StatusServiceUnavailable,
		Message: "history is off: set history.clickhouse.addresses in the config file"})
}

// queryFailed answers 503: history is a replica that may be away while
// siftd runs on; the caller retries.
func (a *API) queryFailed(w http.ResponseWriter, err error) {
	a.logger.Warn("history query failed", "err", err)
	writeJSON(w, http.StatusServiceUnavailable, httpapi.Error{Code: http.StatusServiceUnavailable, Message: "history query failed: " + err.Error()})
}

// parseTime accepts RFC 3339 or Unix seconds (with a fraction), as the
// Prometheus API does.
func parseTime(s string) (time.Time, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1<<33 {
			return time.Time{}, errors.New("out of range")
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, errors.New("must be RFC 3339 or Unix seconds")
	}
	return t, nil
}

// timeRange reads from and to; missing, to is now and from is to - span
// (or the epoch when span is 0).
func (a *API) timeRange(w http.ResponseWriter, r *http.Request, span time.Duration) (from, to time.Time, ok bool) {
	q := r.URL.Query()
	to = a.now()
	if s := q.Get("to"); s != "" {
		t, err := parseTime(s)
		if err != nil {
			badParam(w, "to", err)
			return from, to, false
		}
		to = t
	}
	from = time.Unix(0, 1)
	if span > 0 {
		from = to.Add(-span)
	}
	if s := q.Get("from"); s != "" {
		t, err := parseTime(s)
		if err != nil {
			badParam(w, "from", err)
			return from, to, false
		}
		from = t
	}
	if !from.Before(to) {
		badParam(w, "from", errors.New("must be before to"))
		return from, to, false
	}
	return from, to, true
}

func limitParam(w http.ResponseWriter, r *http.Request, def int) (int, bool) {
	return intParam(w, r, "limit", def, MaxPageSize)
}

func intParam(w http.ResponseWriter, r *http.Request, name string, def, maxV int) (int, bool) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxV {
		badParam(w, name, errors.New("must be an integer from 1 to "+strconv.Itoa(maxV)))
		return 0, false
	}
	return n, true
}

func (a *API) events(w http.ResponseWriter, r *http.Request) {
	var q EventQuery
	for _, s := range r.URL.Query()["filter"] {
		ms, err := a.parseMatchers(s, "api")
		if err != nil {
			badParam(w, "filter", err)
			return
		}
		q.Matchers = append(q.Matchers, ms...)
	}
	var ok bool
	if q.From, q.To, ok = a.timeRange(w, r, DefaultEventSpan); !ok {
		return
	}
	if q.Limit, ok = limitParam(w, r, DefaultPageSize); !ok {
		return
	}
	if s := r.URL.Query().Get("page_token"); s != "" {
		c, err := ParseCursor(s)
		if err != nil {
			badParam(w, "page_token", err)
			return
		}
		q.Before = &c
	}
	a.answer(w, r, func(ctx context.Context) (any, error) { return a.q.Events(ctx, q) })
}

func (a *API) alert(w http.ResponseWriter, r *http.Request) {
	fp, err := model.ParseFingerprint(r.PathValue("fingerprint"))
	if err != nil {
		badParam(w, "fingerprint", err)
		return
	}
	from, to, ok := a.timeRange(w, r, 0)
	if !ok {
		return
	}
	limit, ok := limitParam(w, r, 1000)
	if !ok {
		return
	}
	a.answer(w, r, func(ctx context.Context) (any, error) { return a.q.AlertStates(ctx, fp, from, to, limit) })
}

func (a *API) incident(w http.ResponseWriter, r *http.Request) {
	byID(a, w, r, "incident", incident.ParseID, a.q.Incident)
}

func (a *API) problem(w http.ResponseWriter, r *http.Request) {
	byID(a, w, r, "problem", incident.ParseProblemID, a.q.Problem)
}

// byID answers GET of one incident or problem: 400 for an id parse
// refuses, 404 for one history has no rows of.
func byID[T any](a *API, w http.ResponseWriter, r *http.Request, what string, parse func(string) (uint64, error),
	get func(context.Context, string) (T, error)) {
	id := r.PathValue("id")
	if _, err := parse(id); err != nil {
		badParam(w, "id", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), QueryTimeout)
	defer cancel()
	h, err := get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		httpapi.NotFound(w, what+" "+id+" is not in history")
		return
	}
	if err != nil {
		a.queryFailed(w, err)
		return
	}
	writeJSON(w, http.StatusOK, h)
}

// analyticsRange reads from and to, the last DefaultAnalyticsSpan by
// default.
func (a *API) analyticsRange(w http.ResponseWriter, r *http.Request) (Range, bool) {
	from, to, ok := a.timeRange(w, r, DefaultAnalyticsSpan)
	return Range{From: from, To: to}, ok
}

func (a *API) recurring(w http.ResponseWriter, r *http.Request) {
	var q RecurringQuery
	var ok bool
	if q.Range, ok = a.analyticsRange(w, r); !ok {
		return
	}
	if q.Limit, ok = intParam(w, r, "limit", DefaultTopN, MaxTopN); !ok {
		return
	}
	a.answer(w, r, func(ctx context.Context) (any, error) { return a.q.Recurring(ctx, q) })
}

func (a *API) mtt(w http.ResponseWriter, r *http.Request) {
	rg, ok := a.analyticsRange(w, r)
	if !ok {
		return
	}
	a.answer(w, r, func(ctx context.Context) (any, error) { return a.q.MTT(ctx, rg) })
}

func (a *API) noise(w http.ResponseWriter, r *http.Request) {
	var q NoiseQuery
	var ok bool
	if q.Range, ok = a.analyticsRange(w, r); !ok {
		return
	}
	if q.Limit, ok = intParam(w, r, "limit", DefaultTopN, MaxTopN); !ok {
		return
	}
	if q.MinChanges, ok = intParam(w, r, "min_changes", DefaultMinChanges, math.MaxInt32); !ok {
		return
	}
	a.answer(w, r, func(ctx context.Context) (any, error) { return a.q.Noise(ctx, q) })
}

// answer runs a query bounded by QueryTimeout and writes its result.
func (a *API) answer(w http.ResponseWriter, r *http.Request, query func(context.Context) (any, error)) {
	ctx, cancel := context.WithTimeout(r.Context(), QueryTimeout)
	defer cancel()
	res, err := query(ctx)
	if err != nil {
		a.queryFailed(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
