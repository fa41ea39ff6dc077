package correlate

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/ingest"
	"github.com/sift-itsm/sift/rules"
)

// benchStream makes n pre-parsed Prometheus-style events over series
// distinct alerts with eight labels, as the receivers would hand them over.
func benchStream(n, series int) []ingest.Event {
	out := make([]ingest.Event, n)
	for i := range out {
		s := i % series
		ls := ingest.LabelsFromMap(map[string]string{
			"alertname": fmt.Sprintf("Alert%d", s%50),
			"service":   fmt.Sprintf("svc-%d", s%200),
			"instance":  fmt.Sprintf("host-%d:9100", s),
			"job":       "node",
			"severity":  []string{"critical", "warning", "info"}[s%3],
			"cluster":   fmt.Sprintf("c%d", s%4),
			"env":       "prod",
			"team":      fmt.Sprintf("team-%d", s%10),
		})
		sev, _ := ls.Get("severity")
		nsev, _ := ingest.NormalizeSeverity(sev)
		at := t0.Add(time.Duration(i) * time.Microsecond)
		out[i] = ingest.Event{
			Fingerprint: ls.Fingerprint(),
			Source:      ingest.SourcePrometheus,
			Labels:      ls,
			Annotations: ingest.NewLabels(ingest.Label{Name: "summary", Value: "something is wrong"}),
			Severity:    nsev,
			RawSeverity: sev,
			StartsAt:    t0,
			EndsAt:      at.Add(4 * time.Minute),
			ReceivedAt:  at,
		}
	}
	return out
}

// BenchmarkApplyDuplicateHeavy is the engine figure: 10k distinct
// series, batches of 1000, events already parsed. After the first pass
// every event is a duplicate of a firing alert.
func BenchmarkApplyDuplicateHeavy(b *testing.B) {
	const batch, series = 1000, 10000
	stream := benchStream(100*batch, series)
	s, set := newState(), DefaultSettings()
	for i := 0; i < len(stream); i += batch {
		s.apply(stream[i].ReceivedAt, stream[i:i+batch], &set)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if i+batch > len(stream) {
			i = 0
		}
		s.apply(stream[i].ReceivedAt, stream[i:i+batch], &set)
		i += batch
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkApplyNewAlerts measures the other end: every event opens an
// alert, so every event is a memdb insert.
func BenchmarkApplyNewAlerts(b *testing.B) {
	const batch = 1000
	stream := benchStream(200*batch, 200*batch)
	b.ReportAllocs()
	var s *state
	set := DefaultSettings()
	i := len(stream)
	for b.Loop() {
		if i+batch > len(stream) {
			b.StopTimer()
			s, i = newState(), 0
			b.StartTimer()
		}
		s.apply(stream[i].ReceivedAt, stream[i:i+batch], &set)
		i += batch
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkNaiveUpsertPerDuplicate is the design the engine avoids, kept
// as a yardstick: every duplicate writes a new row version to memdb, as a
// store without the fingerprint map and shared counters would. Compare it
// with BenchmarkApplyDuplicateHeavy in the same run.
func BenchmarkNaiveUpsertPerDuplicate(b *testing.B) {
	const batch, series = 1000, 10000
	stream := benchStream(100*batch, series)
	s, set := newState(), DefaultSettings()
	for i := 0; i < series; i += batch {
		s.apply(stream[i].ReceivedAt, stream[i:i+batch], &set)
	}
	// A row per alert, as memdb is commonly used.
	db, err := memdb.NewMemDB(&memdb.DBSchema{Tables: map[string]*memdb.TableSchema{"alerts": {
		Name:    "alerts",
		Indexes: map[string]*memdb.IndexSchema{"id": {Name: "id", Unique: true, Indexer: &memdb.UintFieldIndex{Field: "Fingerprint"}}},
	}}})
	require.NoError(b, err)
	txn := db.Txn(true)
	for a := range AlertsFrom(s.db.Txn(false), 0) {
		require.NoError(b, txn.Insert("alerts", a))
	}
	txn.Commit()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i+batch > len(stream) {
			i = 0
		}
		txn := db.Txn(true)
		for j := i; j < i+batch; j++ {
			raw, _ := txn.First("alerts", "id", uint64(stream[j].Fingerprint))
			n := *raw.(*Alert)
			n.Version++
			_ = txn.Insert("alerts", &n)
		}
		txn.Commit()
		i += batch
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}

// snapshotBenchState is issue 9's snapshot figure: 100k firing alerts in
// 10k open incidents.
func snapshotBenchState(b *testing.B) *state {
	const alerts, incidents, batch = 100_000, 10_000, 1000
	stream := benchStream(alerts, alerts)
	for i := range stream {
		ls := ingest.LabelsFromMap(map[string]string{
			"alertname": "Down", "service": fmt.Sprintf("svc-%d", i%incidents), "instance": fmt.Sprintf("host-%d:9100", i),
			"job": "node", "severity": "critical", "cluster": fmt.Sprintf("c%d", i%4), "env": "prod", "team": fmt.Sprintf("team-%d", i%10),
		})
		stream[i].Labels, stream[i].Fingerprint = ls, ls.Fingerprint()
	}
	s, set := newState(), DefaultSettings()
	for i := 0; i < alerts; i += batch {
		s.apply(stream[i+batch-1].ReceivedAt, stream[i:i+batch], &set)
	}
	require.Len(b, s.alerts, alerts)
	require.Len(b, s.incidents, incidents)
	return s
}

// BenchmarkSnapshotPause copies the state for a snapshot: the engine
// pauses for this long; the encoding (BenchmarkSnapshot) runs elsewhere.
func BenchmarkSnapshotPause(b *testing.B) {
	s := snapshotBenchState(b)
	for b.Loop() {
		if _, err := s.buildSnapshot(t0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshot copies and encodes the state: the whole cost of a
// snapshot but the file.
func BenchmarkSnapshot(b *testing.B) {
	s := snapshotBenchState(b)
	var buf bytes.Buffer
	for b.Loop() {
		buf = bytes.Buffer{}
		buf.Grow(400 * len(s.alerts))
		require.NoError(b, s.writeSnapshot(&buf, t0))
	}
	b.ReportMetric(float64(buf.Len())/float64(len(s.alerts)), "bytes/alert")
}

// BenchmarkRestore decodes a snapshot into a fresh state, as a start does
// before it replays the log after it.
func BenchmarkRestore(b *testing.B) {
	var buf bytes.Buffer
	require.NoError(b, snapshotBenchState(b).writeSnapshot(&buf, t0))
	for b.Loop() {
		_, err := newState().readSnapshot(bytes.NewReader(buf.Bytes()), rules.Default())
		require.NoError(b, err)
	}
}
