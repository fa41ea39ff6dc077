package rules

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// StoreOptions configure a Store.
type StoreOptions struct {
	// Registerer takes the metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Now stamps successful loads; time.Now when nil.
	Now func() time.Time
}

// Store holds the Set in force and swaps it on reload: readers Load the
// current Set with one atomic read, and a reload that fails keeps the
// Set they see.
//
// Load is safe from any goroutine; Reload and Set are serialised.
type Store struct {
	cur atomic.Pointer[Set]
	mu  sync.Mutex
	now func() time.Time

	loaded     *prometheus.GaugeVec
	reloads    *prometheus.CounterVec
	lastReload prometheus.Gauge
}

// NewStore returns a Store holding initial (Default() when nil).
func NewStore(o StoreOptions, initial *Set) *Store {
	s := &Store{now: o.Now}
	if s.now == nil {
		s.now = time.Now
	}
	f := promauto.With(o.Registerer)
	s.loaded = f.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "sift", Subsystem: "rules", Name: "loaded",
		Help: "Rules in force by kind (correlation includes the built-in default rule).",
	}, []string{"kind"})
	s.reloads = f.NewCounterVec(prometheus.CounterOpts{
		Namespace: "sift", Subsystem: "rules", Name: "reloads_total",
		Help: "Rule reload attempts by result.",
	}, []string{"result"})
	s.lastReload = f.NewGauge(prometheus.GaugeOpts{
		Namespace: "sift", Subsystem: "rules", Name: "last_reload_timestamp_seconds",
		Help: "Time of the last successful rule load (the start or a reload).",
	})
	for _, r := range []string{"success", "failure"} {
		s.reloads.WithLabelValues(r)
	}
	if initial == nil {
		initial = Default()
	}
	s.set(initial)
	return s
}

// Load returns the Set in force.
func (s *Store) Load() *Set { return s.cur.Load() }

// Reload loads the rule files (Default() when there are none) and, when
// they are valid, puts the new Set in force and returns it. When they are
// not, the Set in force stays and the error says why.
func (s *Store) Reload(paths ...string) (*Set, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set, err := Load(paths...)
	if err != nil {
		s.reloads.WithLabelValues("failure").Inc()
		return nil, err
	}
	s.reloads.WithLabelValues("success").Inc()
	s.set(set)
	return set, nil
}

// Set puts set in force, as a successful reload would.
func (s *Store) Set(set *Set) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set(set)
}

func (s *Store) set(set *Set) {
	s.cur.Store(set)
	s.loaded.WithLabelValues("correlation").Set(float64(len(set.Correlation)))
	s.loaded.WithLabelValues("inhibit").Set(float64(len(set.Inhibit)))
	s.loaded.WithLabelValues("maintenance").Set(float64(len(set.Maintenance)))
	s.lastReload.Set(float64(s.now().UnixNano()) / 1e9)
}
