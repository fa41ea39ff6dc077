package history

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/ingest"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchBatches makes engine batches of per events each, n events in all,
// over 10000 distinct alerts with six labels and two annotations: what
// Prometheus resending a large rule set looks like. It returns them one
// at a time, made on the fly as the engine would hand them over: holding
// millions of events at once would make the benchmark's GC, not the
// writer, the cost.
func benchBatches(n, per int) func() *correlate.Batch {
	const alerts = 10000
	sets := make([]ingest.Labels, alerts)
	for i := range sets {
		sets[i] = ingest.NewLabels(
			ingest.Label{Name: "alertname", Value: fmt.Sprintf("Alert%d", i%97)},
			ingest.Label{Name: "instance", Value: fmt.Sprintf("host-%d.example.net:9100", i)},
			ingest.Label{Name: "job", Value: "node"},
			ingest.Label{Name: "service", Value: fmt.Sprintf("svc-%d", i%31)},
			ingest.Label{Name: "severity", Value: "warning"},
			ingest.Label{Name: "team", Value: fmt.Sprintf("team-%d", i%7)},
		)
	}
	ann := ingest.NewLabels(ingest.Label{Name: "summary", Value: "something is not right on this host"},
		ingest.Label{Name: "runbook_url", Value: "https://runbooks.example.net/node/alert"})
	seq := 0
	return func() *correlate.Batch {
		if n == 0 {
			return nil
		}
		seq++
		k := min(per, n)
		n -= k
		b := &correlate.Batch{Seq: uint64(seq), Now: t0, Events: make([]ingest.Event, k)}
		for i := range b.Events {
			ls := sets[(seq*per+i)%alerts]
			at := t0.Add(time.Duration(seq) * time.Millisecond)
			b.Events[i] = ingest.Event{Fingerprint: ls.Fingerprint(), Source: ingest.SourcePrometheus, Labels: ls, Annotations: ann,
				Severity: ingest.SeverityWarning, RawSeverity: "warning", StartsAt: at, ReceivedAt: at,
				GeneratorURL: "http://prometheus:9090/graph?g0.expr=up"}
		}
		return b
	}
}

// BenchmarkWriterClickHouse measures the writer's sustained rate into a
// real ClickHouse: one op is one event. It reports events/s (wall, until
// the last batch is acknowledged) and the process' CPU cores used
// (getrusage user+system over wall; the ClickHouse server is another
// process; it includes making the events, so it overstates the writer).
// The feeder holds back while the writer has 400k rows queued,
// as a saturated engine would, so nothing spools.
//
//	SIFT_CLICKHOUSE_ADDR=127.0.0.1:9000 go test -run '^$' -bench WriterClickHouse -benchtime 3000000x ./incident/history/
func BenchmarkWriterClickHouse(b *testing.B) {
	s := testStore(b, clickhouseAddr(b), func(o *Options) { o.Compression = os.Getenv("SIFT_BENCH_COMPRESSION") })
	require.NoError(b, s.Prepare(context.Background()))
	next := benchBatches(b.N, 1000)
	rows, _ := strconv.Atoi(os.Getenv("SIFT_BENCH_BATCH_ROWS"))
	w, err := NewWriter(s, WriterOptions{SpoolDir: b.TempDir(), BatchMaxRows: rows})
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()

	b.ResetTimer()
	cpu0, t0 := cpuTime(), time.Now()
	for bt := next(); bt != nil; bt = next() {
		for w.QueueLength() > 400000 {
			time.Sleep(time.Millisecond)
		}
		w.Consume(bt)
	}
	for w.QueueLength() > 0 || w.Pending() > 0 {
		time.Sleep(time.Millisecond)
	}
	wall, cpu := time.Since(t0), cpuTime()-cpu0
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(b.N)/wall.Seconds(), "events/s")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cpu-cores")
	b.ReportMetric(0, "ns/op")
	_, spooled := w.SpoolSize()
	require.Zero(b, spooled)
	require.Equal(b, float64(b.N), testutil.ToFloat64(w.m.written.WithLabelValues(TableEvents)))
	require.Equal(b, uint64(b.N), count(b, s, "SELECT count() FROM {db}.events"))
}
