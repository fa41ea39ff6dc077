package notify

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Results of a notification, the result label.
const (
	ResultSent         = "sent"
	ResultFailed       = "failed"
	ResultDeduplicated = "deduplicated"
	ResultHeld         = "held"
	ResultDropped      = "dropped"
)

var results = []string{ResultSent, ResultFailed, ResultDeduplicated, ResultHeld, ResultDropped}

type metrics struct {
	notifications *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	retries       *prometheus.CounterVec
	dropped       prometheus.Counter
	unrecorded    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, queueLen func() float64, capacity int) *metrics {
	f := promauto.With(reg)
	const ns, sub = "sift", "notify"
	m := &metrics{
		notifications: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "notifications_total",
			Help: "Notifications by receiver, integration, event and result (sent, failed, deduplicated, held, dropped)."},
			[]string{"receiver", "integration", "event", "result"}),
		latency: f.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "request_duration_seconds",
			Help:    "Time of one delivery attempt, by receiver and integration.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}},
			[]string{"receiver", "integration"}),
		retries: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "retries_total",
			Help: "Delivery attempts after the first, by receiver and integration."},
			[]string{"receiver", "integration"}),
		dropped: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "dropped_changes_total",
			Help: "Incident changes not routed because the dispatch queue was full."}),
		unrecorded: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "unrecorded_total",
			Help: "Notifications whose outcome could not be written to the notification log (engine stopped); they may be sent again after a restart."}),
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "dispatch_queue_length_changes",
		Help: "Incident changes waiting to be routed."}, queueLen)
	f.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "dispatch_queue_capacity_changes",
		Help: "Incident changes the dispatch queue holds at most."}).Set(float64(capacity))
	return m
}

// initialize makes the series of an integration exist at 0.
func (m *metrics) initialize(receiver, integration string) {
	for _, ev := range Events() {
		for _, r := range results {
			m.notifications.WithLabelValues(receiver, integration, ev.String(), r)
		}
	}
	m.latency.WithLabelValues(receiver, integration)
	m.retries.WithLabelValues(receiver, integration)
}
