package rules

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

func TestStoreReloadGoodAndBad(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rules.yml")
	write := func(s string) { require.NoError(t, os.WriteFile(file, []byte(s), 0o644)) }
	write("correlation_rules:\n  - name: a\n")

	reg := prometheus.NewRegistry()
	now := time.Unix(1000, 0)
	st := NewStore(StoreOptions{Registerer: reg, Now: func() time.Time { return now }}, nil)
	require.Len(t, st.Load().Correlation, 1, "nil initial: the default set")
	require.Equal(t, 1.0, testutil.ToFloat64(st.loaded.WithLabelValues("correlation")))
	require.Equal(t, 1000.0, testutil.ToFloat64(st.lastReload))

	now = time.Unix(2000, 0)
	s, err := st.Reload(file)
	require.NoError(t, err)
	require.Same(t, s, st.Load())
	require.Equal(t, "a", st.Load().Correlation[0].Name)
	require.Equal(t, 2.0, testutil.ToFloat64(st.loaded.WithLabelValues("correlation")))
	require.Equal(t, 1.0, testutil.ToFloat64(st.reloads.WithLabelValues("success")))
	require.Equal(t, 2000.0, testutil.ToFloat64(st.lastReload))

	good := st.Load()
	write("correlation_rules:\n  - name: a\n    window: later\n")
	now = time.Unix(3000, 0)
	_, err = st.Reload(file)
	require.ErrorContains(t, err, file+":3:")
	require.Same(t, good, st.Load(), "a bad reload keeps the set in force")
	require.Equal(t, 1.0, testutil.ToFloat64(st.reloads.WithLabelValues("failure")))
	require.Equal(t, 2000.0, testutil.ToFloat64(st.lastReload))

	_, err = st.Reload()
	require.NoError(t, err)
	require.Len(t, st.Load().Correlation, 1, "no files: back to the default set")

	n, err := testutil.GatherAndCount(reg, "sift_rules_loaded", "sift_rules_reloads_total", "sift_rules_last_reload_timestamp_seconds")
	require.NoError(t, err)
	require.Equal(t, 3+2+1, n)
}

func TestStoreConcurrentLoad(t *testing.T) {
	st := NewStore(StoreOptions{}, Default())
	set := mustParse(t, "correlation_rules:\n  - name: a\n")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				_ = st.Load().Match(lbls("x", "y"))
			}
		})
	}
	for range 100 {
		st.Set(set)
		st.Set(Default())
	}
	wg.Wait()
}
