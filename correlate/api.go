package correlate

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/prometheus/alertmanager/matcher/compat"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/sift-itsm/sift/ingest"
	"github.com/sift-itsm/sift/internal/httpapi"
)

// API serves the alert endpoints from memdb read transactions; it never
// blocks the engine.
type API struct {
	e             *Engine
	parseMatchers compat.ParseMatchers
}

// NewAPI returns the alert API of e.
func NewAPI(e *Engine, logger *slog.Logger) *API {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &API{e: e, parseMatchers: compat.FallbackMatchersParser(logger)}
}

// Register mounts the endpoints on mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/alerts", a.list)
	mux.HandleFunc("GET /api/v1/alerts/{fingerprint}", a.get)
}

// AlertFilter selects alerts for a list.
type AlertFilter struct {
	Matchers labels.Matchers
	Status   *ingest.Status
	Severity *ingest.Severity
}

// Matches reports whether a passes the filter.
func (f *AlertFilter) Matches(a *Alert) bool {
	if f.Status != nil && a.Status != *f.Status {
		return false
	}
	if f.Severity != nil && a.Severity != *f.Severity {
		return false
	}
	for _, m := range f.Matchers {
		v, _ := a.Labels.Get(m.Name)
		if !m.Matches(v) {
			return false
		}
	}
	return true
}

// AlertPage is a page of alerts in fingerprint order.
type AlertPage struct {
	Alerts []AlertJSON `json:"alerts"`
	// NextPageToken, when not empty, is the page_token of the next page.
	NextPageToken string `json:"next_page_token,omitempty"`
}

// ListAlerts returns up to limit alerts passing f with fingerprints at or
// after from, in fingerprint order, from one consistent read snapshot.
func (e *Engine) ListAlerts(f *AlertFilter, from model.Fingerprint, limit int) AlertPage {
	page := AlertPage{Alerts: []AlertJSON{}}
	it, err := e.st.db.Txn(false).LowerBound(tableAlerts, "id", from)
	if err != nil {
		return page
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		a := raw.(*Alert)
		if !f.Matches(a) {
			continue
		}
		if len(page.Alerts) == limit {
			page.NextPageToken = a.Fingerprint.String()
			break
		}
		page.Alerts = append(page.Alerts, a.JSON())
	}
	return page
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var f AlertFilter
	for _, s := range q["filter"] {
		ms, err := a.parseMatchers(s, "api")
		if err != nil {
			httpapi.BadParam(w, "filter", err)
			return
		}
		f.Matchers = append(f.Matchers, ms...)
	}
	if s := q.Get("status"); s != "" {
		st, ok := ingest.ParseStatus(s)
		if !ok {
			httpapi.BadParam(w, "status", errors.New(`must be "firing" or "resolved"`))
			return
		}
		f.Status = &st
	}
	if s := q.Get("severity"); s != "" {
		var sev ingest.Severity
		if err := sev.UnmarshalText([]byte(s)); err != nil {
			httpapi.BadParam(w, "severity", errors.New("must be one of critical, major, minor, warning, info"))
			return
		}
		f.Severity = &sev
	}
	limit, err := httpapi.Limit(r)
	if err != nil {
		httpapi.BadParam(w, "limit", err)
		return
	}
	var from model.Fingerprint
	if s := q.Get("page_token"); s != "" {
		fp, err := model.ParseFingerprint(s)
		if err != nil {
			httpapi.BadParam(w, "page_token", err)
			return
		}
		from = fp
	}
	httpapi.WriteJSON(w, http.StatusOK, a.e.ListAlerts(&f, from, limit))
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	fp, err := model.ParseFingerprint(r.PathValue("fingerprint"))
	if err != nil {
		httpapi.BadParam(w, "fingerprint", err)
		return
	}
	al, ok := a.e.Alert(fp)
	if !ok {
		httpapi.NotFound(w, "no alert with fingerprint "+fp.String())
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, al.JSON())
}
