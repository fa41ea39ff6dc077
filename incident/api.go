package incident

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/prometheus/common/model"

	"github.com/sift-itsm/sift/internal/httpapi"
)

// Actor applies users' actions to incidents: the correlation engine, the
// only writer. An action the state does not allow is a *TransitionError.
type Actor interface {
	Act(ctx context.Context, a Action) (*Incident, error)
}

// APIOptions configures the incident API.
type APIOptions struct {
	// DB is the engine's state, read with read transactions only.
	DB       func() *memdb.MemDB
	Actor    Actor
	Problems ProblemUpdater
	// Alert returns the API representation of an alert for the detail
	// endpoint, from the same read transaction.
	Alert func(txn *memdb.Txn, fp model.Fingerprint) (any, bool)
	// NotFound reports whether an Actor error means the incident is
	// unknown (404 rather than 400).
	NotFound func(error) bool
	// Now is the clock for relative "since" filters.
	Now func() time.Time
	// MaxBodySize bounds action bodies.
	MaxBodySize int64
}

// API serves /api/v1/incidents.
type API struct{ o APIOptions }

// NewAPI returns the incident API.
func NewAPI(o APIOptions) *API {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxBodySize <= 0 {
		o.MaxBodySize = 1 << 20
	}
	if o.NotFound == nil {
		o.NotFound = func(error) bool { return false }
	}
	return &API{o: o}
}

// Register mounts the endpoints on mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/incidents", a.list)
	mux.HandleFunc("GET /api/v1/incidents/{id}", a.get)
	mux.HandleFunc("POST /api/v1/incidents/{id}/{verb}", a.act)
	if a.o.Problems != nil {
		a.registerProblems(mux)
	}
}

// Filter selects incidents for a list.
type Filter struct {
	State        *State
	Open         bool // only states before resolved
	Priority     Priority
	CI           string
	SupportGroup string
	Since        time.Time // opened at or after
}

// Matches reports whether inc passes the filter.
func (f *Filter) Matches(inc *Incident) bool {
	switch {
	case f.State != nil && inc.State != *f.State,
		f.Open && !inc.State.Open(),
		f.Priority != 0 && inc.Priority != f.Priority,
		f.SupportGroup != "" && inc.SupportGroup != f.SupportGroup,
		!f.Since.IsZero() && inc.OpenedAt.Before(f.Since),
		f.CI != "" && !inc.HasCI(f.CI):
		return false
	}
	return true
}

// Page is a page of incidents, newest first.
type Page struct {
	Incidents     []JSON `json:"incidents"`
	NextPageToken string `json:"next_page_token,omitempty"`
}

// List returns up to limit incidents passing f, newest first, from the
// incident with sequence number before on (0: from the newest).
func List(txn *memdb.Txn, f *Filter, before uint64, limit int) (Page, error) {
	page := Page{Incidents: []JSON{}}
	incs, next, err := newestFirst(txn, Table, before, limit, f.Matches, (*Incident).ID)
	for _, inc := range incs {
		page.Incidents = append(page.Incidents, inc.ToJSON(false))
	}
	page.NextPageToken = next
	return page, err
}

// newestFirst walks a table indexed by sequence number newest first, from
// before on (0: the newest), and returns up to limit rows that keep
// accepts and the id of the next such row, the page token ("" at the
// end).
func newestFirst[T any](txn *memdb.Txn, table string, before uint64, limit int, keep func(T) bool, id func(T) string) ([]T, string, error) {
	var (
		it  memdb.ResultIterator
		err error
	)
	if before == 0 {
		it, err = txn.GetReverse(table, "id")
	} else {
		it, err = txn.ReverseLowerBound(table, "id", before)
	}
	if err != nil {
		return nil, "", err
	}
	var out []T
	for raw := it.Next(); raw != nil; raw = it.Next() {
		row := raw.(T)
		if !keep(row) {
			continue
		}
		if len(out) == limit {
			return out, id(row), nil
		}
		out = append(out, row)
	}
	return out, "", nil
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var f Filter
	if s := q.Get("state"); s != "" {
		if s == "open" {
			f.Open = true
		} else {
			st, err := ParseState(s)
			if err != nil {
				httpapi.BadParam(w, "state", errors.New("must be open or one of "+strings.Join(stateNames[:], ", ")))
				return
			}
			f.State = &st
		}
	}
	if s := q.Get("priority"); s != "" {
		p, err := ParsePriority(s)
		if err != nil {
			httpapi.BadParam(w, "priority", err)
			return
		}
		f.Priority = p
	}
	f.CI = q.Get("ci")
	f.SupportGroup = q.Get("support_group")
	if s := q.Get("since"); s != "" {
		t, err := parseSince(s, a.o.Now())
		if err != nil {
			httpapi.BadParam(w, "since", err)
			return
		}
		f.Since = t
	}
	before, limit, ok := pageArgs(w, r, ParseID)
	if !ok {
		return
	}
	page, err := List(a.o.DB().Txn(false), &f, before, limit)
	if err != nil {
		httpapi.WriteError(w, httpapi.Error{Code: http.StatusInternalServerError, Message: err.Error()})
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, page)
}

// pageArgs reads the limit and page_token of a newest-first list, whose
// page token parse reads as a sequence number; it answers 400 itself, and
// ok is false, when one is bad.
func pageArgs(w http.ResponseWriter, r *http.Request, parse func(string) (uint64, error)) (before uint64, limit int, ok bool) {
	limit, err := httpapi.Limit(r)
	if err != nil {
		httpapi.BadParam(w, "limit", err)
		return 0, 0, false
	}
	if s := r.URL.Query().Get("page_token"); s != "" {
		if before, err = parse(s); err != nil {
			httpapi.BadParam(w, "page_token", err)
			return 0, 0, false
		}
	}
	return before, limit, true
}

// parseSince reads an RFC 3339 time or a duration back from now ("2h").
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := model.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration like 2h", s)
	}
	return now.Add(-time.Duration(d)), nil
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	txn := a.o.DB().Txn(false)
	id := r.PathValue("id")
	if _, err := ParseID(id); err != nil {
		httpapi.BadParam(w, "id", err)
		return
	}
	inc, err := Get(txn, id)
	if err != nil || inc == nil {
		httpapi.NotFound(w, "no incident "+id+" in memory")
		return
	}
	j := inc.ToJSON(true)
	if a.o.Alert != nil {
		j.AlertDetails = make([]any, 0, len(inc.Alerts))
		for _, fp := range inc.Alerts {
			if d, ok := a.o.Alert(txn, fp); ok {
				j.AlertDetails = append(j.AlertDetails, d)
			}
		}
	}
	httpapi.WriteJSON(w, http.StatusOK, j)
}

// actionBody is the JSON body of POST /api/v1/incidents/{id}/{verb}.
type actionBody struct {
	Actor        string `json:"actor"`
	Text         string `json:"text"`
	Assignee     string `json:"assignee"`
	SupportGroup string `json:"support_group"`
}

func (a *API) act(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := ParseID(id); err != nil {
		httpapi.BadParam(w, "id", err)
		return
	}
	var body actionBody
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.o.MaxBodySize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpapi.WriteError(w, httpapi.Error{Code: http.StatusRequestEntityTooLarge, Message: "body over " + strconv.FormatInt(a.o.MaxBodySize, 10) + " bytes"})
			return
		}
		httpapi.BadParam(w, "body", err)
		return
	}
	if len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			httpapi.BadParam(w, "body", err)
			return
		}
	}
	act := Action{ID: id, Verb: Verb(r.PathValue("verb")), Actor: body.Actor, Text: body.Text, Assignee: body.Assignee, SupportGroup: body.SupportGroup}
	act.Actor = actorOf(act.Actor, r)
	if err := act.Validate(); err != nil {
		var fe fieldError
		if errors.As(err, &fe) {
			code := http.StatusBadRequest
			if fe.field == "verb" {
				code = http.StatusNotFound
			}
			httpapi.WriteError(w, httpapi.Error{Code: code, Field: fe.field, Message: err.Error()})
			return
		}
		httpapi.BadParam(w, "body", err)
		return
	}
	inc, err := a.o.Actor.Act(r.Context(), act)
	var te *TransitionError
	switch {
	case err == nil:
		httpapi.WriteJSON(w, http.StatusOK, inc.ToJSON(true))
	case errors.As(err, &te):
		httpapi.WriteError(w, httpapi.Error{Code: http.StatusConflict, Message: err.Error(), State: te.State.String()})
	case a.o.NotFound(err):
		httpapi.NotFound(w, "no incident "+id+" in memory")
	default:
		httpapi.WriteError(w, httpapi.Error{Code: http.StatusServiceUnavailable, Message: err.Error()})
	}
}
