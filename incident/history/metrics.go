package history

import (
	"context"
	"errors"
	"net"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Reasons a row is dropped (sift_history_dropped_rows_total).
const (
	dropQueueFull = "queue_full" // in memory over twice queue_max_rows: the spool cannot keep up
	dropSpoolFull = "spool_full" // oldest spooled batch removed to stay under spool_max_size
	dropRejected  = "rejected"   // ClickHouse refused the batch max_attempts times, or the driver could not encode it
	dropCorrupt   = "corrupt"    // a spool file that cannot be read back
	dropSpoolIO   = "spool_error"
	dropClosed    = "closed" // handed to a stopped writer
	// dropNotDurable: at shutdown, batches whose mark never reached the
	// write-ahead log (it failed); the next start replays them.
	dropNotDurable = "not_durable"
)

var dropReasons = []string{dropQueueFull, dropSpoolFull, dropRejected, dropCorrupt, dropSpoolIO, dropClosed, dropNotDurable}

// Error reasons (sift_history_errors_total).
const (
	errUnreachable = "unreachable" // no connection, or it broke
	errTimeout     = "timeout"
	errServer      = "server"  // ClickHouse answered with an exception
	errInvalid     = "invalid" // rows the driver cannot encode
	errSpool       = "spool"   // writing or reading a spool file
	errRetention   = "retention"
)

var errReasons = []string{errUnreachable, errTimeout, errServer, errInvalid, errSpool, errRetention}

// reasonOf classifies a send error.
func reasonOf(err error) string {
	var ex *clickhouse.Exception
	var ne net.Error
	switch {
	case errors.Is(err, errInvalidRows):
		return errInvalid
	case errors.As(err, &ex):
		return errServer
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return errTimeout
	}
	return errUnreachable
}

type metrics struct {
	written  *prometheus.CounterVec
	dropped  *prometheus.CounterVec
	errors   *prometheus.CounterVec
	batch    prometheus.Histogram
	duration *prometheus.HistogramVec
	up       prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, w *Writer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		written: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sift", Subsystem: "history", Name: "rows_written_total",
			Help: "Rows inserted into ClickHouse, by table (a re-sent batch counts again).",
		}, []string{"table"}),
		dropped: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sift", Subsystem: "history", Name: "dropped_rows_total",
			Help: "Rows that will never reach ClickHouse, by table and reason.",
		}, []string{"table", "reason"}),
		errors: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sift", Subsystem: "history", Name: "errors_total",
			Help: "Failed ClickHouse operations and spool I/O, by reason.",
		}, []string{"reason"}),
		batch: f.NewHistogram(prometheus.HistogramOpts{
			Namespace: "sift", Subsystem: "history", Name: "batch_size_rows",
			Help:    "Rows per batch sent to ClickHouse, all tables together.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "sift", Subsystem: "history", Name: "write_duration_seconds",
			Help:    "Time of one successful INSERT, by table.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}, []string{"table"}),
		up: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "sift", Subsystem: "history", Name: "clickhouse_up",
			Help: "1 when the last ClickHouse operation succeeded, 0 while it fails.",
		}),
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "sift", Subsystem: "history", Name: "queue_length_rows",
		Help: "Rows held in memory, waiting to be sent or spooled.",
	}, func() float64 { return float64(w.QueueLength()) })
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "sift", Subsystem: "history", Name: "queue_capacity_rows",
		Help: "history.clickhouse.queue_max_rows: past it batches spool to disk; past twice it rows are dropped.",
	}, func() float64 { return float64(w.o.QueueMaxRows) })
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "sift", Subsystem: "history", Name: "spool_bytes",
		Help: "Bytes of batches spooled to disk, waiting for ClickHouse.",
	}, func() float64 { b, _ := w.SpoolSize(); return float64(b) })
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "sift", Subsystem: "history", Name: "spool_batches",
		Help: "Batches spooled to disk, waiting for ClickHouse.",
	}, func() float64 { _, n := w.SpoolSize(); return float64(n) })
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "sift", Subsystem: "history", Name: "spool_capacity_bytes",
		Help: "history.clickhouse.spool_max_size.",
	}, func() float64 { return float64(w.o.SpoolMaxBytes) })
	for _, t := range Tables {
		m.written.WithLabelValues(t)
		m.duration.WithLabelValues(t)
		for _, r := range dropReasons {
			m.dropped.WithLabelValues(t, r)
		}
	}
	for _, r := range errReasons {
		m.errors.WithLabelValues(r)
	}
	return m
}

func (m *metrics) drop(c counts, reason string) {
	for i, n := range c {
		if n > 0 {
			m.dropped.WithLabelValues(Tables[i], reason).Add(float64(n))
		}
	}
}
