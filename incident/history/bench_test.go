package history

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// serverCPU is the user+system CPU time of the ClickHouse server that
// scripts/clickhouse started (its pid file in SIFT_CLICKHOUSE_DIR), from
// /proc; false when there is none to read. Clock ticks are 10ms: read it
// over seconds.
func serverCPU() (time.Duration, bool) {
	dir := os.Getenv("SIFT_CLICKHOUSE_DIR")
	if dir == "" {
		return 0, false
	}
	pid, err := os.ReadFile(filepath.Join(dir, "server.pid"))
	if err != nil {
		return 0, false
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strings.TrimSpace(string(pid)), "stat"))
	if err != nil {
		return 0, false
	}
	// Fields 14 and 15, utime and stime, after the command in parentheses.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	return time.Duration(ut+st) * tick, true
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
// the last batch is acknowledged), the process' CPU cores used and its
// CPU per event (getrusage user+system; it includes making the events, so
// it overstates the writer), and, when scripts/clickhouse started the
// server (SIFT_CLICKHOUSE_DIR), the server's CPU per event. The feeder
// holds back while the writer has 400k rows queued, as a saturated
// engine would, so nothing spools.
//
//	eval "$(scripts/clickhouse start)"
//	go test -run '^$' -bench WriterClickHouse -benchtime 2000000x -count 5 ./incident/history/
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
	srv0, srvOK := serverCPU()
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
	srv1, _ := serverCPU()
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(b.N)/wall.Seconds(), "events/s")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cpu-cores")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/event")
	if srvOK {
		// The server's CPU over the run, background merges included (of
		// this run's parts, and of earlier runs' still going).
		b.ReportMetric(float64((srv1-srv0).Nanoseconds())/float64(b.N), "server-cpu-ns/event")
	}
	b.ReportMetric(0, "ns/op")
	_, spooled := w.SpoolSize()
	require.Zero(b, spooled)
	require.Equal(b, float64(b.N), testutil.ToFloat64(w.m.written.WithLabelValues(TableEvents)))
	require.Equal(b, uint64(b.N), count(b, s, "SELECT count() FROM {db}.events"))
}

// BenchmarkSortEvents measures putting a 200k-row batch of the writer
// benchmark's events in the events table's order.
func BenchmarkSortEvents(b *testing.B) {
	next := benchBatches(200000, 1000)
	tr := newTracker(1, DefaultServiceLabel)
	r := &Rows{}
	for bt := next(); bt != nil; bt = next() {
		tr.appendTo(r, &item{seq: bt.Seq, now: bt.Now, events: bt.Events})
	}
	var c eventBuffers
	b.ResetTimer()
	for range b.N {
		c.sortEvents(r.Events, 0)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(r.Events)), "ns/event")
}
