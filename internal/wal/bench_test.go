package wal

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/ingest"
)

// BenchmarkAppend appends from many goroutines at once, as concurrent
// HTTP requests do, and reports the fsyncs per append: group commit makes
// it well under one. Records are event batches of 1 and of 1000 events.
//
//	go test ./internal/wal -run='^$' -bench=Append -benchtime=2s
func BenchmarkAppend(b *testing.B) {
	for _, events := range []int{1, 1000} {
		rec := AppendEvents(nil, benchEvents(events))
		for _, mode := range []FsyncMode{FsyncAlways, FsyncNever} {
			for _, par := range []int{1, 8, 64} {
				b.Run(fmt.Sprintf("events=%d/fsync=%s/appenders=%d", events, mode, par), func(b *testing.B) {
					l, err := Open(Options{Dir: b.TempDir(), Fsync: mode})
					if err != nil {
						b.Fatal(err)
					}
					defer l.Close()
					base := testutil.ToFloat64(l.m.fsyncs)
					b.SetBytes(int64(len(rec)))
					b.SetParallelism(par) // par × GOMAXPROCS goroutines
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						recs := [][]byte{rec}
						for pb.Next() {
							if _, err := l.Append(recs); err != nil {
								b.Error(err)
								return
							}
						}
					})
					b.StopTimer()
					b.ReportMetric(float64(b.N*events)/b.Elapsed().Seconds(), "events/s")
					b.ReportMetric((testutil.ToFloat64(l.m.fsyncs)-base)/float64(b.N), "fsyncs/op")
				})
			}
		}
	}
}

// BenchmarkEncodeEvents and BenchmarkDecodeEvents: the record format's
// cost per batch of 1000 events.
func BenchmarkEncodeEvents(b *testing.B) {
	evs := benchEvents(1000)
	buf := AppendEvents(nil, evs)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEvents(buf[:0], evs)
	}
	b.ReportMetric(float64(b.N*len(evs))/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkDecodeEvents(b *testing.B) {
	evs := benchEvents(1000)
	rec := AppendEvents(nil, evs)
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEvents(rec, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(evs))/b.Elapsed().Seconds(), "events/s")
}

// benchEvents are shaped like siftload's: 8 labels, 2 annotations and a
// generator URL.
func benchEvents(n int) []ingest.Event {
	now := time.Now()
	evs := make([]ingest.Event, n)
	for i := range evs {
		ls := ingest.NewLabels(
			ingest.Label{Name: "alertname", Value: fmt.Sprintf("Alert%d", i%50)},
			ingest.Label{Name: "instance", Value: fmt.Sprintf("host-%05d.example.com:9100", i)},
			ingest.Label{Name: "job", Value: "node"},
			ingest.Label{Name: "service", Value: fmt.Sprintf("svc-%d", i%20)},
			ingest.Label{Name: "severity", Value: "critical"},
			ingest.Label{Name: "env", Value: "prod"},
			ingest.Label{Name: "region", Value: "eu-west-1"},
			ingest.Label{Name: "team", Value: "sre"},
		)
		evs[i] = ingest.Event{
			Fingerprint:  ls.Fingerprint(),
			Source:       ingest.SourcePrometheus,
			Labels:       ls,
			Annotations:  ingest.NewLabels(ingest.Label{Name: "summary", Value: "instance down for 5 minutes"}, ingest.Label{Name: "runbook", Value: "https://runbooks.example.com/node-down"}),
			StartsAt:     now.Add(-time.Minute),
			ReceivedAt:   now,
			GeneratorURL: "http://prometheus.example.com:9090/graph?g0.expr=up%3D%3D0",
		}
	}
	return evs
}

// BenchmarkRecover replays a log of 100 requests of 1000 events (10k
// series, so mostly duplicates, as siftload sends) into a new engine:
// decoding, decompressing and applying.
//
//	go test ./internal/wal -run='^$' -bench=Recover -benchtime=5x
func BenchmarkRecover(b *testing.B) {
	dir := b.TempDir()
	l, err := Open(Options{Dir: dir, Fsync: FsyncNever})
	if err != nil {
		b.Fatal(err)
	}
	logRequests(b, l, benchEvents(10000), 100)
	b.ResetTimer()
	for b.Loop() {
		eng := correlate.New(correlate.Options{})
		st, err := Recover(l, Pos{}, eng, nil)
		if err != nil || st.Events != 100000 {
			b.Fatal(err, st)
		}
	}
	b.ReportMetric(float64(b.N*100000)/b.Elapsed().Seconds(), "events/s")
	_ = l.Close()
}

// BenchmarkRestoreSnapshotAndTail is issue 9's restore figure: a snapshot
// of 100k firing alerts in 10k open incidents, then a 1M-event log tail
// (1000 requests of 1000 events over those alerts), into a new engine.
//
//	go test ./internal/wal -run='^$' -bench=RestoreSnapshotAndTail -benchtime=3x
func BenchmarkRestoreSnapshotAndTail(b *testing.B) {
	const alerts, incidents = 100_000, 10_000
	series := benchEvents(alerts)
	for i := range series {
		// 10 alerts an incident under the default rule (alertname, service).
		ls := ingest.LabelsFromMap(map[string]string{"alertname": "Down", "service": fmt.Sprintf("svc-%d", i%incidents),
			"instance": fmt.Sprintf("host-%d:9100", i), "job": "node", "severity": "critical"})
		series[i].Labels, series[i].Fingerprint = ls, ls.Fingerprint()
	}
	src := correlate.New(correlate.Options{})
	for i := 0; i < alerts; i += 1000 {
		src.Replay(series[i].ReceivedAt, series[i:i+1000])
	}
	var snap bytes.Buffer
	if st := src.Snapshot(); st.Encode(&snap) != nil || st.Alerts != alerts || st.Incidents != incidents {
		b.Fatal(st.Alerts, st.Incidents, st.Err)
	}
	l, err := Open(Options{Dir: b.TempDir(), Fsync: FsyncNever})
	if err != nil {
		b.Fatal(err)
	}
	logRequests(b, l, series, 1000)
	b.ResetTimer()
	for b.Loop() {
		eng := correlate.New(correlate.Options{})
		if err := eng.RestoreSnapshot(bytes.NewReader(snap.Bytes())); err != nil {
			b.Fatal(err)
		}
		st, err := Recover(l, Pos{}, eng, nil)
		if err != nil || st.Events != 1_000_000 {
			b.Fatal(err, st)
		}
	}
	b.ReportMetric(float64(snap.Len())/alerts, "snapshot-bytes/alert")
	_ = l.Close()
}

// logRequests appends n compressed records of 1000 events, taking the
// series in turn, as siftd logs requests.
func logRequests(b *testing.B, l *Log, series []ingest.Event, n int) {
	var raw, rec []byte
	for i := range n {
		j := i % (len(series) / 1000)
		raw = AppendEvents(raw[:0], series[j*1000:(j+1)*1000])
		rec = Compress(rec[:0], raw)
		if _, err := l.Append([][]byte{rec}); err != nil {
			b.Fatal(err)
		}
	}
}
