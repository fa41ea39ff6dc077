package correlate

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	dropped     prometheus.Counter
	applied     prometheus.Counter
	deduped     prometheus.Counter
	ignored     prometheus.Counter
	batchSize   prometheus.Histogram
	applyTime   prometheus.Histogram
	changes     *prometheus.CounterVec
	active      *prometheus.GaugeVec
	activeBySev [len(severityIndex)]prometheus.Gauge
	inMemory    prometheus.Gauge
	opened      prometheus.Counter
	updated     prometheus.Counter
	resolved    prometheus.Counter
	expired     prometheus.Counter

	incChanges  *prometheus.CounterVec
	incOpened   prometheus.Counter
	incUpdated  prometheus.Counter
	incOpen     prometheus.Gauge
	incInMemory prometheus.Gauge
	breaches    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, e *Engine) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		dropped: f.NewCounter(prometheus.CounterOpts{
			Namespace: "sift", Subsystem: "engine", Name: "queue_dropped_events_total",
			Help: "Events refused because the engine queue was full (their requests got 503).",
		}),
		applied: f.NewCounter(prometheus.CounterOpts{
			Namespace: "sift", Subsystem: "engine", Name: "events_applied_total",
			Help: "Events applied to the alert state.",
		}),
		deduped: f.NewCounter(prometheus.CounterOpts{
			Namespace: "sift", Subsystem: "engine", Name: "deduplicated_events_total",
			Help: "Events for a held alert that changed nothing readers see (duplicates, resolves of resolved alerts, late resolves).",
		}),
		ignored: f.NewCounter(prometheus.CounterOpts{
			Namespace: "sift", Subsystem: "engine", Name: "ignored_events_total",
			Help: "Resolve and acknowledge events for alerts not held in memory (never seen, or past retention).",
		}),
		batchSize: f.NewHistogram(prometheus.HistogramOpts{
			Namespace: "sift", Subsystem: "engine", Name: "batch_size_events",
			Help:    "Events per applied micro-batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		applyTime: f.NewHistogram(prometheus.HistogramOpts{
			Namespace: "sift", Subsystem: "engine", Name: "batch_apply_duration_seconds",
			Help:    "Time to apply one micro-batch and commit it.",
			Buckets: prometheus.ExponentialBuckets(1e-5, 4, 10),
		}),
		changes: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sift", Subsystem: "engine", Name: "alert_changes_total",
			Help: "Visible alert changes, by kind: opened, updated, resolved, expired.",
		}, []string{"kind"}),
		active: f.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "sift", Name: "alerts_active",
			Help: "Firing alerts, by normalised severity.",
		}, []string{"severity"}),
		inMemory: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "sift", Name: "alerts_in_memory",
			Help: "Alerts held in memory, firing and recently resolved.",
		}),
		incChanges: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sift", Subsystem: "engine", Name: "incident_changes_total",
			Help: "Incident versions published, by kind: opened, updated (at most one per incident and batch).",
		}, []string{"kind"}),
		incOpen: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "sift", Name: "incidents_open",
			Help: "Incidents in new, acknowledged, in_progress or on_hold.",
		}),
		breaches: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sift", Name: "incident_sla_breaches_total",
			Help: "SLA clocks that ran out, by incident priority and kind (respond, resolve).",
		}, []string{"priority", "kind"}),
		incInMemory: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "sift", Name: "incidents_in_memory",
			Help: "Incidents held in memory: open, resolved, and closed within retention.",
		}),
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "sift", Subsystem: "engine", Name: "queue_length_events",
		Help: "Events waiting to be applied.",
	}, func() float64 { return float64(e.queued.Load()) })
	f.NewGauge(prometheus.GaugeOpts{
		Namespace: "sift", Subsystem: "engine", Name: "queue_capacity_events",
		Help: "Events the engine queue holds at most.",
	}).Set(float64(e.capacity))
	for i, s := range severityIndex {
		m.activeBySev[i] = m.active.WithLabelValues(s.String())
	}
	m.opened = m.changes.WithLabelValues("opened")
	m.updated = m.changes.WithLabelValues("updated")
	m.resolved = m.changes.WithLabelValues("resolved")
	m.expired = m.changes.WithLabelValues("expired")
	m.incOpened = m.incChanges.WithLabelValues("opened")
	m.incUpdated = m.incChanges.WithLabelValues("updated")
	return m
}

func (m *metrics) observe(b *Batch, took time.Duration, st *state) {
	if len(b.Events) > 0 {
		m.batchSize.Observe(float64(len(b.Events)))
		m.applyTime.Observe(took.Seconds())
		m.applied.Add(float64(len(b.Events)))
		m.deduped.Add(float64(b.Duplicates))
		m.ignored.Add(float64(b.Ignored))
	}
	for _, c := range b.Changes {
		switch {
		case c.Kind == IncidentOpened:
			m.incOpened.Inc()
		case c.Kind == IncidentUpdated:
			m.incUpdated.Inc()
		case c.Problem != nil:
			// problems have no change counter of their own yet
		case c.Kind == AlertOpened:
			m.opened.Inc()
		case c.Kind == AlertUpdated:
			m.updated.Inc()
		case c.Expired:
			m.expired.Inc()
		default:
			m.resolved.Inc()
		}
	}
	for i := range st.active {
		m.activeBySev[i].Set(float64(st.active[i]))
	}
	m.inMemory.Set(float64(len(st.alerts)))
	for _, br := range b.Breaches {
		m.breaches.WithLabelValues(br.Priority.String(), br.Kind).Inc()
	}
	m.incOpen.Set(float64(st.openIncidents))
	m.incInMemory.Set(float64(len(st.incidents)))
}
