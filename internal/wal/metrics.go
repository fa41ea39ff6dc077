package wal

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	appends       prometheus.Counter
	records       prometheus.Counter
	bytes         prometheus.Counter
	fsyncs        prometheus.Counter
	fsyncDuration prometheus.Histogram
	groupSize     prometheus.Histogram
	segments      prometheus.Gauge
	size          prometheus.Gauge
	repaired      prometheus.Counter
	failures      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		appends: f.NewCounter(prometheus.CounterOpts{
			Namespace: "sift", Subsystem: "wal", Name: "appends_total",
			Help: "Appends written to the write-ahead log (one per ingest request).",
		}),
		records: f.NewCounter(prometheus.CounterOpts{
			Namespace: "sift", Subsystem: "wal", Name: "records_total",
			Help: "Records written to the write-ahead log.",
		}),
		bytes: f.NewCounter(prometheus.CounterOpts{
			Namespace: "sift", Subsystem: "wal", Name: "written_bytes_total",
			Help: "Bytes of records, framing included, written to the write-ahead log.",
		}),
		fsyncs: f.NewCounter(prometheus.CounterOpts{
			Namespace: "sift", Subsystem: "wal", Name: "fsyncs_total",
			Help: "Fsyncs of write-ahead log segments.",
		}),
		fsyncDuration: f.NewHistogram(prometheus.HistogramOpts{
			Namespace: "sift", Subsystem: "wal", Name: "fsync_duration_seconds",
			Help:    "Duration of write-ahead log fsyncs.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		groupSize: f.NewHistogram(prometheus.HistogramOpts{
			Namespace: "sift", Subsystem: "wal", Name: "group_commit_appends",
			Help:    "Appends written together by one group commit (one write, at most one fsync).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024},
		}),
		segments: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "sift", Subsystem: "wal", Name: "segments",
			Help: "Write-ahead log segment files on disk.",
		}),
		size: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "sift", Subsystem: "wal", Name: "size_bytes",
			Help: "Bytes of write-ahead log segment files on disk.",
		}),
		repaired: f.NewCounter(prometheus.CounterOpts{
			Namespace: "sift", Subsystem: "wal", Name: "corruptions_repaired_total",
			Help: "Torn writes at the tail of the write-ahead log truncated at start.",
		}),
		failures: f.NewCounter(prometheus.CounterOpts{
			Namespace: "sift", Subsystem: "wal", Name: "failures_total",
			Help: "Write or fsync failures; after one the log refuses appends until restart.",
		}),
	}
}
