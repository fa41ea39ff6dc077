package correlate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"time"

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
	mux.HandleFunc("GET /api/v1/silences", a.listSilences)
	mux.HandleFunc("POST /api/v1/silences", a.addSilence)
	mux.HandleFunc("DELETE /api/v1/silences/{id}", a.expireSilence)
	mux.HandleFunc("POST /api/v1/changes", a.addChanges)
	mux.HandleFunc("GET /api/v1/changes", a.listChanges)
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
	for a := range AlertsFrom(e.st.db.Txn(false), from) {
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

// SilenceJSON is the API representation of a silence.
type SilenceJSON struct {
	ID        string    `json:"id"`
	Matchers  []string  `json:"matchers"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	CreatedBy string    `json:"created_by"`
	Comment   string    `json:"comment"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	State     string    `json:"state"`
}

func silenceJSON(s *Silence, now time.Time) SilenceJSON {
	j := SilenceJSON{
		ID: s.ID, Matchers: make([]string, len(s.Matchers)),
		StartsAt: s.StartsAt.UTC(), EndsAt: s.EndsAt.UTC(),
		CreatedBy: s.CreatedBy, Comment: s.Comment,
		CreatedAt: s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC(),
		State: s.State(now),
	}
	for i, m := range s.Matchers {
		j.Matchers[i] = m.String()
	}
	return j
}

// silenceBody is the body of POST /api/v1/silences.
type silenceBody struct {
	Matchers  []string  `json:"matchers"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	Duration  string    `json:"duration"`
	CreatedBy string    `json:"created_by"`
	Comment   string    `json:"comment"`
}

func (a *API) listSilences(w http.ResponseWriter, _ *http.Request) {
	now := a.e.now()
	out := struct {
		Silences []SilenceJSON `json:"silences"`
	}{Silences: []SilenceJSON{}}
	it, err := a.e.st.db.Txn(false).Get(tableSilences, "id")
	if err == nil {
		for raw := it.Next(); raw != nil; raw = it.Next() {
			out.Silences = append(out.Silences, silenceJSON(raw.(*Silence), now))
		}
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}

func (a *API) addSilence(w http.ResponseWriter, r *http.Request) {
	var body silenceBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		httpapi.BadParam(w, "body", err)
		return
	}
	now := a.e.now()
	s := Silence{StartsAt: body.StartsAt, EndsAt: body.EndsAt, CreatedBy: body.CreatedBy, Comment: body.Comment}
	for _, text := range body.Matchers {
		ms, err := a.parseMatchers(text, "api")
		if err != nil {
			httpapi.BadParam(w, "matchers", err)
			return
		}
		s.Matchers = append(s.Matchers, ms...)
	}
	if s.StartsAt.IsZero() {
		s.StartsAt = now
	}
	if body.Duration != "" {
		if !s.EndsAt.IsZero() {
			httpapi.BadParam(w, "duration", errors.New("give ends_at or duration, not both"))
			return
		}
		d, err := model.ParseDuration(body.Duration)
		if err != nil || d <= 0 {
			httpapi.BadParam(w, "duration", errors.New("must be a positive duration like 2h"))
			return
		}
		s.EndsAt = s.StartsAt.Add(time.Duration(d))
	}
	if !s.EndsAt.IsZero() && !s.EndsAt.After(now) {
		httpapi.BadParam(w, "ends_at", errors.New("must be in the future"))
		return
	}
	sil, err := a.e.AddSilence(r.Context(), s)
	var fe *FieldError
	switch {
	case errors.As(err, &fe):
		httpapi.WriteError(w, httpapi.Error{Code: http.StatusBadRequest, Field: fe.Field, Message: err.Error()})
	case err != nil:
		httpapi.WriteError(w, httpapi.Error{Code: http.StatusServiceUnavailable, Message: err.Error()})
	default:
		httpapi.WriteJSON(w, http.StatusCreated, silenceJSON(sil, now))
	}
}

func (a *API) expireSilence(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	sil, err := a.e.ExpireSilence(r.Context(), id)
	switch {
	case errors.Is(err, ErrNoSilence):
		httpapi.NotFound(w, "silence "+id+": "+err.Error())
	case err != nil:
		httpapi.WriteError(w, httpapi.Error{Code: http.StatusServiceUnavailable, Message: err.Error()})
	default:
		httpapi.WriteJSON(w, http.StatusOK, silenceJSON(sil, a.e.now()))
	}
}

// addChanges takes one change event or an array of them.
func (a *API) addChanges(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 8<<20))
	if err != nil {
		httpapi.WriteError(w, httpapi.Error{Code: http.StatusRequestEntityTooLarge, Message: err.Error()})
		return
	}
	cs, err := DecodeChanges(raw)
	if err != nil {
		httpapi.BadParam(w, "body", err)
		return
	}
	err = a.e.AddChanges(r.Context(), cs)
	var (
		fe *FieldError
		ie *IndexedError
	)
	switch {
	case errors.As(err, &fe):
		field := fe.Field
		if errors.As(err, &ie) {
			field = fmt.Sprintf("[%d].%s", ie.Index, fe.Field)
		}
		httpapi.WriteError(w, httpapi.Error{Code: http.StatusBadRequest, Field: field, Message: err.Error()})
	case err != nil:
		httpapi.WriteError(w, httpapi.Error{Code: http.StatusServiceUnavailable, Message: err.Error()})
	default:
		httpapi.WriteJSON(w, http.StatusAccepted, map[string]int{"accepted": len(cs)})
	}
}

// listChanges shows the change events within the lookback, the latest
// start first.
func (a *API) listChanges(w http.ResponseWriter, _ *http.Request) {
	out := struct {
		Changes []ChangeEvent `json:"changes"`
	}{Changes: []ChangeEvent{}}
	it, err := a.e.st.db.Txn(false).Get(tableChanges, "id")
	if err == nil {
		for raw := it.Next(); raw != nil; raw = it.Next() {
			out.Changes = append(out.Changes, *raw.(*ChangeEvent))
		}
	}
	slices.SortStableFunc(out.Changes, func(a, b ChangeEvent) int { return b.Start.Compare(a.Start) })
	httpapi.WriteJSON(w, http.StatusOK, out)
}
