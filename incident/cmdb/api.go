package cmdb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/sift-itsm/sift/internal/httpapi"
)

// Paging limits of GET /api/v1/cis, as for the alert list.
const (
	DefaultPageSize = httpapi.DefaultPageSize
	MaxPageSize     = httpapi.MaxPageSize
)

// Bounds of GET /api/v1/cis/{id}/impact.
const (
	DefaultImpactHops = 3
	MaxImpactHops     = 100
)

// DefaultMaxImportBytes bounds a POST /api/v1/cmdb/import body.
const DefaultMaxImportBytes = 32 << 20

// APIOptions configure the CMDB endpoints.
type APIOptions struct {
	Logger *slog.Logger
	// OpenIncidents returns the ids of the open incidents of each CI
	// given (CIs without any may be left out). The app wires it to the
	// incident store; nil answers no incidents.
	OpenIncidents func(ciIDs []string) map[string][]string
	// MaxImportBytes bounds an import body (413 beyond it);
	// DefaultMaxImportBytes when 0.
	MaxImportBytes int64
}

// API serves the CMDB endpoints from the store's snapshots.
type API struct {
	s *Store
	o APIOptions
}

// NewAPI returns the CMDB endpoints of s.
func NewAPI(s *Store, o APIOptions) *API {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxImportBytes <= 0 {
		o.MaxImportBytes = DefaultMaxImportBytes
	}
	return &API{s: s, o: o}
}

// Register mounts the endpoints on mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/cis", a.list)
	mux.HandleFunc("GET /api/v1/cis/{id}", a.get)
	mux.HandleFunc("PUT /api/v1/cis/{id}", a.put)
	mux.HandleFunc("DELETE /api/v1/cis/{id}", a.delete)
	mux.HandleFunc("GET /api/v1/cis/{id}/impact", a.impact)
	mux.HandleFunc("POST /api/v1/cmdb/import", a.importHandler)
}

// apiError is the REST error body every API shares (httpapi.Error), plus
// every import error.
type apiError struct {
	httpapi.Error
	Errors Errors `json:"errors,omitempty"`
}

var writeJSON = httpapi.WriteJSON

func writeError(w http.ResponseWriter, code int, field, msg string) {
	httpapi.WriteError(w, httpapi.Error{Code: code, Field: field, Message: msg})
}

func badParam(w http.ResponseWriter, field string, msg string) {
	writeError(w, http.StatusBadRequest, field, "invalid "+field+": "+msg)
}

func notFound(w http.ResponseWriter, id string) {
	writeError(w, http.StatusNotFound, "", fmt.Sprintf("no CI with id %q", id))
}

// CIPage is a page of CIs in id order.
type CIPage struct {
	CIs []*CI `json:"cis"`
	// NextPageToken, when not empty, is the page_token of the next page.
	NextPageToken string `json:"next_page_token,omitempty"`
}

// List returns up to limit CIs of the class (any when empty) whose id or
// name contains q (case-insensitive; any when empty), with ids at or
// after from, in id order.
func (g *Graph) List(class, q, from string, limit int) CIPage {
	page := CIPage{CIs: []*CI{}}
	q = strings.ToLower(q)
	i, _ := slices.BinarySearchFunc(g.sorted, from, func(p int32, id string) int { return strings.Compare(g.cis[p].ID, id) })
	for _, p := range g.sorted[i:] {
		c := &g.cis[p]
		if class != "" && c.Class != class {
			continue
		}
		if q != "" && !strings.Contains(strings.ToLower(c.ID), q) && !strings.Contains(strings.ToLower(c.Name), q) {
			continue
		}
		if len(page.CIs) == limit {
			page.NextPageToken = c.ID
			break
		}
		page.CIs = append(page.CIs, c)
	}
	return page
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := httpapi.Limit(r)
	if err != nil {
		httpapi.BadParam(w, "limit", err)
		return
	}
	writeJSON(w, http.StatusOK, a.s.Graph().List(q.Get("class"), q.Get("q"), q.Get("page_token"), limit))
}

// ciDetail is a CI with the relations that touch it.
type ciDetail struct {
	ciJSON
	Relations []Relation `json:"relations"`
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	g := a.s.Graph()
	id := r.PathValue("id")
	c, ok := g.CI(id)
	if !ok {
		notFound(w, id)
		return
	}
	up, down := g.RelationsOf(id)
	writeJSON(w, http.StatusOK, ciDetail{ciJSON: c.wire(), Relations: append(append([]Relation{}, up...), down...)})
}

// matchList decodes match as one matcher string or a list of them.
type matchList []string

func (m *matchList) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*m = matchList{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return errors.New("must be a matcher string or a list of them")
	}
	*m = l
	return nil
}

// putBody is a PUT body: a CI as GET shows it. relations are accepted so
// that a GET body can be sent back, and ignored: relations change by
// import.
type putBody struct {
	ID           *string           `json:"id"`
	Name         string            `json:"name"`
	Class        string            `json:"class"`
	Environment  string            `json:"environment"`
	Criticality  int               `json:"criticality"`
	SupportGroup string            `json:"support_group"`
	Owner        string            `json:"owner"`
	Attributes   map[string]string `json:"attributes"`
	Match        matchList         `json:"match"`
	Relations    json.RawMessage   `json:"relations"`
}

func (a *API) put(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var b putBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		writeError(w, http.StatusBadRequest, "", "invalid body: "+err.Error())
		return
	}
	if b.ID != nil && *b.ID != id {
		writeError(w, http.StatusBadRequest, "id", fmt.Sprintf("id %q in the body differs from %q in the path", *b.ID, id))
		return
	}
	ci := CI{
		ID: id, Name: b.Name, Class: b.Class, Environment: b.Environment, Criticality: b.Criticality,
		SupportGroup: b.SupportGroup, Owner: b.Owner, Attributes: b.Attributes,
	}
	for i, e := range b.Match {
		ms, err := ParseMatch(e)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("match[%d]", i), fmt.Sprintf("bad matcher %q: %v", e, err))
			return
		}
		ci.Match = append(ci.Match, ms...)
	}
	created, err := a.s.Put(ci)
	var inv *InvalidError
	if errors.As(err, &inv) {
		writeError(w, http.StatusBadRequest, inv.Field, err.Error())
		return
	} else if err != nil {
		writeError(w, http.StatusInternalServerError, "", err.Error())
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	c, _ := a.s.Graph().CI(id)
	writeJSON(w, code, c)
}

func (a *API) delete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	cascade := false
	if s := r.URL.Query().Get("cascade"); s != "" {
		v, err := strconv.ParseBool(s)
		if err != nil {
			badParam(w, "cascade", "must be true or false")
			return
		}
		cascade = v
	}
	removed, err := a.s.Delete(id, cascade)
	switch {
	case errors.Is(err, ErrNotFound):
		notFound(w, id)
	case errors.Is(err, ErrHasRelations):
		writeError(w, http.StatusConflict, "", err.Error())
	case err != nil:
		writeError(w, http.StatusInternalServerError, "", err.Error())
	default:
		writeJSON(w, http.StatusOK, map[string]any{"deleted": id, "relations_removed": removed})
	}
}

// impactJSON is one impacted CI.
type impactJSON struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Class        string   `json:"class"`
	Criticality  int      `json:"criticality"`
	SupportGroup string   `json:"support_group"`
	Hops         int      `json:"hops"`
	Incidents    []string `json:"incidents"`
}

func (a *API) impact(w http.ResponseWriter, r *http.Request) {
	g := a.s.Graph()
	id := r.PathValue("id")
	if _, ok := g.CI(id); !ok {
		notFound(w, id)
		return
	}
	hops := DefaultImpactHops
	if s := r.URL.Query().Get("hops"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxImpactHops {
			badParam(w, "hops", "must be an integer from 1 to "+strconv.Itoa(MaxImpactHops))
			return
		}
		hops = n
	}
	reach := g.BlastRadius(id, hops)
	ids := make([]string, 0, len(reach)+1)
	ids = append(ids, id)
	for _, rc := range reach {
		ids = append(ids, rc.CI.ID)
	}
	var open map[string][]string
	if a.o.OpenIncidents != nil {
		open = a.o.OpenIncidents(ids)
	}
	incidents := func(id string) []string {
		if l := open[id]; l != nil {
			return l
		}
		return []string{}
	}
	out := struct {
		ID        string       `json:"id"`
		Hops      int          `json:"hops"`
		Incidents []string     `json:"incidents"`
		Impacted  []impactJSON `json:"impacted"`
	}{ID: id, Hops: hops, Incidents: incidents(id), Impacted: make([]impactJSON, len(reach))}
	for i, rc := range reach {
		c := rc.CI
		out.Impacted[i] = impactJSON{ID: c.ID, Name: c.Name, Class: c.Class, Criticality: c.Criticality, SupportGroup: c.SupportGroup, Hops: rc.Hops, Incidents: incidents(c.ID)}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) importHandler(w http.ResponseWriter, r *http.Request) {
	mode := ModeReplace
	if s := r.URL.Query().Get("mode"); s != "" {
		m, ok := ParseMode(s)
		if !ok {
			badParam(w, "mode", `must be "replace" or "merge"`)
			return
		}
		mode = m
	}
	ds, err := a.decodeImport(w, r)
	if err != nil {
		var tooBig *http.MaxBytesError
		var es Errors
		switch {
		case errors.As(err, &tooBig):
			a.s.m.imports.WithLabelValues(resultFailure).Inc()
			writeError(w, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("body exceeds the limit of %d bytes", tooBig.Limit))
		case errors.Is(err, errContentType):
			writeError(w, http.StatusUnsupportedMediaType, "", err.Error())
		case errors.As(err, &es):
			a.s.m.imports.WithLabelValues(resultFailure).Inc()
			writeJSON(w, http.StatusBadRequest, apiError{Error: httpapi.Error{Code: http.StatusBadRequest, Message: importMessage(es)}, Errors: es})
		default:
			a.s.m.imports.WithLabelValues(resultFailure).Inc()
			writeError(w, http.StatusBadRequest, "", err.Error())
		}
		return
	}
	res, err := a.s.Import(ds, mode)
	if es, ok := AsErrors(err); ok {
		writeJSON(w, http.StatusBadRequest, apiError{Error: httpapi.Error{Code: http.StatusBadRequest, Message: importMessage(es)}, Errors: es})
		return
	} else if err != nil {
		writeError(w, http.StatusInternalServerError, "", err.Error())
		return
	}
	a.o.Logger.Info("cmdb imported", "mode", mode, "cis", res.CIs, "relations", res.Relations)
	writeJSON(w, http.StatusOK, struct {
		Mode string `json:"mode"`
		ImportResult
	}{mode.String(), res})
}

func importMessage(es Errors) string {
	if len(es) == 1 {
		return "import refused, nothing applied: " + es[0].Error()
	}
	return fmt.Sprintf("import refused, nothing applied: %d errors", len(es))
}

var errContentType = errors.New("unsupported Content-Type: send application/json, application/yaml, text/csv, or multipart/form-data with CSV parts named cis and relations")

// decodeImport decodes the body by its Content-Type.
func (a *API) decodeImport(w http.ResponseWriter, r *http.Request) (*Dataset, error) {
	ct, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, errContentType
	}
	r.Body = http.MaxBytesReader(w, r.Body, a.o.MaxImportBytes)
	var f Format
	switch ct {
	case "application/json":
		f = FormatJSON
	case "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml":
		f = FormatYAML
	case "text/csv":
		f = FormatCSV
	case "multipart/form-data":
		return a.decodeMultipart(r, params["boundary"])
	default:
		return nil, errContentType
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	return Parse("body", f, b)
}

// decodeMultipart reads CSV parts named cis and relations (either may be
// missing; a relations-only import makes sense with mode=merge).
func (a *API) decodeMultipart(r *http.Request, boundary string) (*Dataset, error) {
	if boundary == "" {
		return nil, errors.New("multipart body without a boundary")
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, err
	}
	ds := &Dataset{}
	var errs errList
	seen := map[string]bool{}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		name := p.FormName()
		var want csvKind
		switch name {
		case "cis":
			want = csvCIs
		case "relations":
			want = csvRelations
		default:
			return nil, fmt.Errorf("unknown part %q: name the CSV parts cis and relations", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("part %q given twice", name)
		}
		seen[name] = true
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, p); err != nil {
			return nil, err
		}
		file := p.FileName()
		if file == "" {
			file = name + ".csv"
		}
		decodeCSV(file, buf.Bytes(), want, ds, &errs)
	}
	if len(seen) == 0 {
		return nil, errors.New("no part named cis or relations")
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return ds, nil
}
