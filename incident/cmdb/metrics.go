package cmdb

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

const (
	resultSuccess = "success"
	resultFailure = "failure"
)

type metrics struct {
	cis        prometheus.Gauge
	relations  prometheus.Gauge
	imports    *prometheus.CounterVec
	lastImport prometheus.Gauge
}

// newMetrics builds the store's metrics; a nil reg registers none.
func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		cis: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "sift", Subsystem: "cmdb", Name: "cis",
			Help: "Configuration items in the CMDB in force.",
		}),
		relations: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "sift", Subsystem: "cmdb", Name: "relations",
			Help: "Relations between configuration items in the CMDB in force.",
		}),
		imports: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sift", Subsystem: "cmdb", Name: "imports_total",
			Help: "CMDB imports (cmdb.files loads and POST /api/v1/cmdb/import) by result.",
		}, []string{"result"}),
		lastImport: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "sift", Subsystem: "cmdb", Name: "last_import_timestamp_seconds",
			Help: "Unix time of the last successful CMDB import; 0 before the first.",
		}),
	}
	m.imports.WithLabelValues(resultSuccess)
	m.imports.WithLabelValues(resultFailure)
	return m
}
