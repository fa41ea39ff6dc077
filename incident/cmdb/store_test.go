package cmdb

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func newTestStore(t *testing.T) (*Store, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	s := NewStore(Options{Registerer: reg, Now: func() time.Time { return time.Unix(1700000000, 0) }})
	return s, reg
}

func dataset(t *testing.T, yml string) *Dataset {
	t.Helper()
	ds, err := Parse("import.yml", FormatYAML, []byte(yml))
	require.NoError(t, err)
	return ds
}

func TestStoreImportReplaceMergeAtomic(t *testing.T) {
	s, reg := newTestStore(t)
	require.Equal(t, 0, s.Graph().Len(), "starts empty")
	require.Equal(t, 0.0, testutil.ToFloat64(s.m.lastImport))

	res, err := s.Import(dataset(t, handMade), ModeReplace)
	require.NoError(t, err)
	require.Equal(t, ImportResult{Mode: ModeReplace, ImportedCIs: 15, ImportedRelations: 12, CIs: 15, Relations: 12}, res)
	before := s.Graph()

	// A failed import changes nothing, whatever the mode.
	for _, mode := range []Mode{ModeReplace, ModeMerge} {
		_, err = s.Import(dataset(t, "cis: [{id: new}]\nrelations: [{from: new, type: runs_on, to: ghost}]\n"), mode)
		requireErrors(t, err, wantErr{"import.yml", 2, "relations[0].to", `unknown CI "ghost"`})
		require.Same(t, before, s.Graph())
	}
	require.Equal(t, 2.0, testutil.ToFloat64(s.m.imports.WithLabelValues("failure")))

	// Merge: h1 is replaced in place, x appended, a relation to an
	// existing CI added, a known relation kept once.
	res, err = s.Import(dataset(t, `
cis: [{id: h1, class: host, criticality: 4}, {id: x, class: host}]
relations:
  - {from: x, type: connected_to, to: sw1}
  - {from: h1, type: connected_to, to: sw1}
`), ModeMerge)
	require.NoError(t, err)
	require.Equal(t, ImportResult{Mode: ModeMerge, ImportedCIs: 2, ImportedRelations: 2, CIs: 16, Relations: 13}, res)
	g := s.Graph()
	h1, _ := g.CI("h1")
	require.Equal(t, 4, h1.Criticality)
	require.Empty(t, h1.Name, "a merged CI replaces the old one whole")
	require.Equal(t, int32(3), h1.pos, "in place")
	x, _ := g.CI("x")
	require.Equal(t, int32(15), x.pos, "appended")
	require.ElementsMatch(t, []string{"h1", "h2", "x"}, ids(g.Downstream("sw1", 1, 0)))
	old, _ := before.CI("h1")
	require.Equal(t, 2, old.Criticality, "the old snapshot is untouched")

	// Replace drops what the import lacks.
	_, err = s.Import(dataset(t, "cis: [{id: only}]\n"), ModeReplace)
	require.NoError(t, err)
	require.Equal(t, 1, s.Graph().Len())
	require.Equal(t, 3.0, testutil.ToFloat64(s.m.imports.WithLabelValues("success")))
	require.Equal(t, 1.0, testutil.ToFloat64(s.m.cis))
	require.Equal(t, 0.0, testutil.ToFloat64(s.m.relations))
	require.Equal(t, 1700000000.0, testutil.ToFloat64(s.m.lastImport))
	n, err := testutil.GatherAndCount(reg, "sift_cmdb_cis", "sift_cmdb_relations", "sift_cmdb_imports_total", "sift_cmdb_last_import_timestamp_seconds")
	require.NoError(t, err)
	require.Equal(t, 5, n)
}

func TestStorePutDelete(t *testing.T) {
	s, _ := newTestStore(t)
	_, err := s.Import(dataset(t, handMade), ModeReplace)
	require.NoError(t, err)

	ms, err := ParseMatch(`team="db"`)
	require.NoError(t, err)
	created, err := s.Put(CI{ID: "new", Class: "host", Criticality: 2, Match: ms, Attributes: map[string]string{"a": "b"}})
	require.NoError(t, err)
	require.True(t, created)
	c, ok := s.Graph().Bind(lbls("team", "db"))
	require.True(t, ok)
	require.Equal(t, "new", c.ID)

	created, err = s.Put(CI{ID: "db1", Class: "database", Criticality: 3})
	require.NoError(t, err)
	require.False(t, created)
	db1, _ := s.Graph().CI("db1")
	require.Equal(t, 3, db1.Criticality)
	require.Empty(t, db1.Match, "PUT replaces the whole CI")
	require.Len(t, s.Graph().Downstream("db1", 1, 0), 2, "relations stay")

	_, err = s.Put(CI{ID: " bad"})
	require.ErrorIs(t, err, ErrInvalid)
	_, err = s.Put(CI{ID: "ok", Criticality: 5})
	var inv *InvalidError
	require.ErrorAs(t, err, &inv)
	require.Equal(t, "criticality", inv.Field)

	_, err = s.Delete("db1", false)
	require.ErrorIs(t, err, ErrHasRelations)
	require.Contains(t, err.Error(), "3 relations")
	_, ok = s.Graph().CI("db1")
	require.True(t, ok)
	removed, err := s.Delete("db1", true)
	require.NoError(t, err)
	require.Equal(t, 3, removed)
	_, ok = s.Graph().CI("db1")
	require.False(t, ok)
	require.Equal(t, 9, s.Graph().NumRelations())
	removed, err = s.Delete("new", false)
	require.NoError(t, err)
	require.Zero(t, removed)
	_, err = s.Delete("new", false)
	require.ErrorIs(t, err, ErrNotFound)
	// Positions follow the deletions: binding still works.
	c, ok = s.Graph().Bind(lbls("host", "h3"))
	require.True(t, ok)
	require.Equal(t, "h3", c.ID)
}

func TestStoreLoadFiles(t *testing.T) {
	s, _ := newTestStore(t)
	dir := t.TempDir()
	f := filepath.Join(dir, "cmdb.yml")
	write := func(content string) { require.NoError(t, os.WriteFile(f, []byte(content), 0o644)) }
	write(handMade)

	changed, err := s.LoadFiles([]string{f})
	require.NoError(t, err)
	require.True(t, changed)
	g := s.Graph()
	require.Equal(t, 15, g.Len())

	// Unchanged files keep the CMDB, API changes included.
	_, err = s.Put(CI{ID: "api-made"})
	require.NoError(t, err)
	changed, err = s.LoadFiles([]string{f})
	require.NoError(t, err)
	require.False(t, changed)
	_, ok := s.Graph().CI("api-made")
	require.True(t, ok)

	// A bad file keeps the CMDB in force and says why.
	write("cis: [{id: a, criticality: 9}]\n")
	before := s.Graph()
	_, err = s.LoadFiles([]string{f})
	require.ErrorContains(t, err, "cmdb.yml:1: cis[0].criticality")
	require.Same(t, before, s.Graph())
	_, err = s.LoadFiles([]string{filepath.Join(dir, "missing.yml")})
	require.ErrorContains(t, err, "missing.yml")
	require.Same(t, before, s.Graph())

	// A good change replaces it.
	write("cis: [{id: a}]\n")
	changed, err = s.LoadFiles([]string{f})
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, 1, s.Graph().Len())

	changed, err = s.LoadFiles(nil)
	require.NoError(t, err)
	require.False(t, changed, "no files: the CMDB stays")
	require.Equal(t, 1, s.Graph().Len())
}

// TestStoreConcurrentReadersAndWriters is for the race detector: readers
// bind and walk while writers swap graphs.
func TestStoreConcurrentReadersAndWriters(t *testing.T) {
	s, _ := newTestStore(t)
	_, err := s.Import(dataset(t, handMade), ModeReplace)
	require.NoError(t, err)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				g := s.Graph()
				g.Bind(lbls("instance", "h1:9100"))
				g.Linked("app1", "app2", 3, 0)
				g.MostUpstream([]string{"app1", "db1", "h1"}, 3, 0)
				g.BlastRadius("sw1", 3)
			}
		})
	}
	for i := range 50 {
		_, err := s.Put(CI{ID: "h1", Criticality: i % 5})
		require.NoError(t, err)
		_, err = s.Import(dataset(t, handMade), ModeMerge)
		require.NoError(t, err)
	}
	close(stop)
	wg.Wait()
}
