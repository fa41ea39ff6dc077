package cmdb

import (
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Mode says how an import combines with the CMDB in force.
type Mode int

// Import modes.
const (
	// ModeReplace makes the import the whole CMDB.
	ModeReplace Mode = iota
	// ModeMerge adds the import's CIs and relations: a CI with a known id
	// replaces that CI (keeping its place in file order), a new one is
	// appended, relations already present are kept once. Nothing is
	// removed.
	ModeMerge
)

func (m Mode) String() string {
	if m == ModeMerge {
		return "merge"
	}
	return "replace"
}

// ParseMode parses "replace" or "merge".
func ParseMode(s string) (Mode, bool) {
	switch s {
	case "replace":
		return ModeReplace, true
	case "merge":
		return ModeMerge, true
	}
	return 0, false
}

// Errors of single-CI changes; the API maps them to status codes.
var (
	ErrNotFound     = errors.New("no such CI")
	ErrHasRelations = errors.New("relations reference the CI")
	ErrInvalid      = errors.New("invalid CI")
)

// InvalidError is a CI that Put refuses, naming the field.
type InvalidError struct {
	Field, Message string
}

func (e *InvalidError) Error() string { return "invalid CI: " + e.Field + ": " + e.Message }

// Unwrap makes an InvalidError an ErrInvalid.
func (e *InvalidError) Unwrap() error { return ErrInvalid }

// Options configure a Store.
type Options struct {
	Logger *slog.Logger
	// Registerer takes the store's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Now is the clock of sift_cmdb_last_import_timestamp_seconds;
	// time.Now when nil.
	Now func() time.Time
}

// Store holds the CMDB in force and serialises its changes. See the
// package documentation for its concurrency contract.
type Store struct {
	logger *slog.Logger
	now    func() time.Time
	m      *metrics

	g  atomic.Pointer[Graph]
	mu sync.Mutex // serialises writers
	// filesHash identifies the cmdb.files last loaded (names and bytes),
	// so that a reload that changes none of them keeps the CMDB, API
	// changes included.
	filesHash uint64
}

// NewStore returns a store holding an empty CMDB.
func NewStore(o Options) *Store {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Store{logger: o.Logger, now: o.Now, m: newMetrics(o.Registerer)}
	s.swap(newGraph(nil, nil))
	return s
}

// Graph returns the CMDB in force. It never blocks and is never nil.
func (s *Store) Graph() *Graph { return s.g.Load() }

func (s *Store) swap(g *Graph) {
	s.g.Store(g)
	s.m.cis.Set(float64(g.Len()))
	s.m.relations.Set(float64(g.NumRelations()))
}

// ImportResult describes an applied import.
type ImportResult struct {
	Mode Mode `json:"-"`
	// Imported counts the CIs and relations of the import itself.
	ImportedCIs       int `json:"imported_cis"`
	ImportedRelations int `json:"imported_relations"`
	// CIs and Relations are the totals in force afterwards.
	CIs       int `json:"cis"`
	Relations int `json:"relations"`
}

// Import validates ds as a whole (merged into the CMDB in force for
// ModeMerge) and swaps it in. On any error nothing changes; the error is
// an Errors listing every problem.
func (s *Store) Import(ds *Dataset, mode Mode) (ImportResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var base *Graph
	if mode == ModeMerge {
		base = s.Graph()
	}
	cis, rels, err := assemble(base, ds)
	if err != nil {
		s.m.imports.WithLabelValues(resultFailure).Inc()
		return ImportResult{}, err
	}
	g := newGraph(cis, rels)
	s.swap(g)
	s.imported()
	return ImportResult{Mode: mode, ImportedCIs: len(ds.CIs), ImportedRelations: len(ds.Relations), CIs: g.Len(), Relations: g.NumRelations()}, nil
}

func (s *Store) imported() {
	s.m.imports.WithLabelValues(resultSuccess).Inc()
	s.m.lastImport.Set(float64(s.now().UnixNano()) / 1e9)
}

// LoadFiles replaces the CMDB with the files (cmdb.files), unless they
// and their content are the same as at the last successful LoadFiles:
// then the CMDB, changes made through the API included, stays, and
// changed is false. An empty list changes nothing (the CMDB is then
// managed through the API alone). On error the CMDB in force stays.
func (s *Store) LoadFiles(paths []string) (changed bool, err error) {
	if len(paths) == 0 {
		return false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := fnv.New64a()
	contents := make([][]byte, len(paths))
	for i, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			s.m.imports.WithLabelValues(resultFailure).Inc()
			return false, fmt.Errorf("loading cmdb: %w", err)
		}
		contents[i] = b
		fmt.Fprintf(h, "%d:%s%d:", len(p), p, len(b))
		_, _ = h.Write(b)
	}
	if h.Sum64() == s.filesHash {
		return false, nil
	}
	ds, err := parseContents(paths, contents)
	var g *Graph
	if err == nil {
		g, err = NewGraph(ds)
	}
	if err != nil {
		s.m.imports.WithLabelValues(resultFailure).Inc()
		return false, fmt.Errorf("loading cmdb: %w", err)
	}
	s.swap(g)
	s.filesHash = h.Sum64()
	s.imported()
	s.logger.Info("cmdb loaded", "files", len(paths), "cis", g.Len(), "relations", g.NumRelations())
	return true, nil
}

// Put creates or replaces one CI; its relations are kept. A new CI comes
// last in file order (so its match is tried after every other CI's). It
// reports whether the CI was created. ci.Match must be parsed already
// (ParseMatch); an invalid id or criticality is an ErrInvalid.
func (s *Store) Put(ci CI) (created bool, err error) {
	if !validID(ci.ID) {
		return false, &InvalidError{"id", fmt.Sprintf("%q is not a valid id (not empty, no surrounding spaces or control characters)", ci.ID)}
	}
	if ci.Criticality < 0 || ci.Criticality > CriticalityMax {
		return false, &InvalidError{"criticality", fmt.Sprintf("must be from 1 to 4 (0: unknown), got %d", ci.Criticality)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.Graph()
	ci = ci.clone()
	ci.Source = Source{}
	cis := slices.Clone(g.cis)
	if p, ok := g.byID[ci.ID]; ok {
		cis[p] = ci
	} else {
		cis = append(cis, ci)
		created = true
	}
	s.swap(newGraph(cis, g.rels))
	return created, nil
}

// Delete removes a CI. While relations reference it, it is refused with
// ErrHasRelations unless cascade is set, which removes those relations
// too; removed is how many.
func (s *Store) Delete(id string, cascade bool) (removed int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.Graph()
	p, ok := g.byID[id]
	if !ok {
		return 0, ErrNotFound
	}
	n := len(g.up.of(p)) + len(g.down.of(p))
	if n > 0 && !cascade {
		return 0, fmt.Errorf("%w: %d relations reference %q; delete with cascade to remove them too", ErrHasRelations, n, id)
	}
	cis := slices.Delete(slices.Clone(g.cis), int(p), int(p)+1)
	rels := g.rels
	if n > 0 {
		rels = slices.DeleteFunc(slices.Clone(g.rels), func(r Relation) bool { return r.From == id || r.To == id })
	}
	s.swap(newGraph(cis, rels))
	return len(g.rels) - len(rels), nil
}
