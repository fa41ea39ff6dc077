package incident

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/hashicorp/go-memdb"

	"github.com/sift-itsm/sift/internal/httpapi"
)

// ProblemUpdater applies users' changes to problems: the engine.
type ProblemUpdater interface {
	UpdateProblem(ctx context.Context, u ProblemUpdate) (*Problem, error)
}

func (a *API) registerProblems(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/problems", a.listProblems)
	mux.HandleFunc("GET /api/v1/problems/{id}", a.getProblem)
	mux.HandleFunc("PATCH /api/v1/problems/{id}", a.patchProblem)
	mux.HandleFunc("POST /api/v1/problems/{id}/incidents", a.linkIncident)
	mux.HandleFunc("DELETE /api/v1/problems/{id}/incidents/{incident}", a.unlinkIncident)
}

// ProblemPage is a page of problems, newest first.
type ProblemPage struct {
	Problems      []ProblemJSON `json:"problems"`
	NextPageToken string        `json:"next_page_token,omitempty"`
}

// ListProblems returns up to limit problems (in state, when given; with
// the signature, when given), newest first, from before on (0: the
// newest).
func ListProblems(txn *memdb.Txn, state *ProblemState, signature string, before uint64, limit int) (ProblemPage, error) {
	page := ProblemPage{Problems: []ProblemJSON{}}
	keep := func(p *Problem) bool {
		return (state == nil || p.State == *state) && (signature == "" || p.Signature == signature)
	}
	ps, next, err := newestFirst(txn, ProblemTable, before, limit, keep, (*Problem).ID)
	for _, p := range ps {
		page.Problems = append(page.Problems, p.ToJSON())
	}
	page.NextPageToken = next
	return page, err
}

func (a *API) listProblems(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var state *ProblemState
	if s := q.Get("state"); s != "" {
		st, err := ParseProblemState(s)
		if err != nil {
			httpapi.BadParam(w, "state", err)
			return
		}
		state = &st
	}
	before, limit, ok := pageArgs(w, r, ParseProblemID)
	if !ok {
		return
	}
	page, err := ListProblems(a.o.DB().Txn(false), state, q.Get("signature"), before, limit)
	if err != nil {
		httpapi.WriteError(w, httpapi.Error{Code: http.StatusInternalServerError, Message: err.Error()})
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, page)
}

func (a *API) getProblem(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	seq, err := ParseProblemID(id)
	if err != nil {
		httpapi.BadParam(w, "id", err)
		return
	}
	raw, err := a.o.DB().Txn(false).First(ProblemTable, "id", seq)
	if err != nil || raw == nil {
		httpapi.NotFound(w, "no problem "+id)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, raw.(*Problem).ToJSON())
}

// problemPatch is the body of PATCH /api/v1/problems/{id}.
type problemPatch struct {
	Actor      string        `json:"actor"`
	State      *ProblemState `json:"state"`
	Title      *string       `json:"title"`
	RootCause  *string       `json:"root_cause"`
	Workaround *string       `json:"workaround"`
	RunbookURL *string       `json:"runbook_url"`
}

func (a *API) patchProblem(w http.ResponseWriter, r *http.Request) {
	var body problemPatch
	if !a.decode(w, r, &body) {
		return
	}
	a.updateProblem(w, r, ProblemUpdate{ID: r.PathValue("id"), Actor: actorOf(body.Actor, r), State: body.State, Title: body.Title,
		RootCause: body.RootCause, Workaround: body.Workaround, RunbookURL: body.RunbookURL})
}

func (a *API) linkIncident(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Actor      string `json:"actor"`
		IncidentID string `json:"incident_id"`
	}
	if !a.decode(w, r, &body) {
		return
	}
	if body.IncidentID == "" {
		httpapi.WriteError(w, httpapi.Error{Code: http.StatusBadRequest, Field: "incident_id", Message: "incident_id: required"})
		return
	}
	a.updateProblem(w, r, ProblemUpdate{ID: r.PathValue("id"), Actor: actorOf(body.Actor, r), Link: body.IncidentID})
}

func (a *API) unlinkIncident(w http.ResponseWriter, r *http.Request) {
	a.updateProblem(w, r, ProblemUpdate{ID: r.PathValue("id"), Actor: actorOf("", r), Unlink: r.PathValue("incident")})
}

func (a *API) updateProblem(w http.ResponseWriter, r *http.Request, u ProblemUpdate) {
	if _, err := ParseProblemID(u.ID); err != nil {
		httpapi.BadParam(w, "id", err)
		return
	}
	p, err := a.o.Problems.UpdateProblem(r.Context(), u)
	var te *ProblemTransitionError
	switch {
	case err == nil:
		httpapi.WriteJSON(w, http.StatusOK, p.ToJSON())
	case errors.As(err, &te):
		httpapi.WriteError(w, httpapi.Error{Code: http.StatusConflict, Message: err.Error(), State: te.From.String()})
	case a.o.NotFound(err):
		httpapi.NotFound(w, err.Error())
	default:
		httpapi.WriteError(w, httpapi.Error{Code: http.StatusBadRequest, Message: err.Error()})
	}
}

// decode reads a JSON body strictly into v, answering 400 or 413 itself.
func (a *API) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, a.o.MaxBodySize))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpapi.WriteError(w, httpapi.Error{Code: http.StatusRequestEntityTooLarge, Message: err.Error()})
			return false
		}
		httpapi.BadParam(w, "body", err)
		return false
	}
	return true
}

// actorOf is the acting user: the body's, else the basic-auth user, else
// "api".
func actorOf(given string, r *http.Request) string {
	if given != "" {
		return given
	}
	if u, _, ok := r.BasicAuth(); ok && u != "" {
		return u
	}
	return "api"
}
