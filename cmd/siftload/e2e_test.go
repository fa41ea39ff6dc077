package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/internal/app"
)

type siftd struct {
	app *app.App
	srv *httptest.Server
	reg *prometheus.Registry
}

// startSiftd runs a real siftd, engine included, behind an httptest server.
func startSiftd(t *testing.T) *siftd {
	t.Helper()
	reg := prometheus.NewRegistry()
	d, err := app.New(app.Options{ListenAddress: "127.0.0.1:0", StoragePath: t.TempDir(), Registry: reg})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = d.Engine().Run(ctx) }()
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(func() {
		srv.Close()
		d.Engine().Close()
		select {
		case <-d.Engine().Done():
		case <-time.After(10 * time.Second):
			t.Error("engine did not stop")
		}
		cancel()
	})
	return &siftd{app: d, srv: srv, reg: reg}
}

// accepted is siftd's sift_ingest_events_received_total{result="accepted"}
// over all sources.
func (s *siftd) accepted(t *testing.T) int64 {
	t.Helper()
	n, err := testutil.GatherAndCount(s.reg, "sift_ingest_events_received_total")
	require.NoError(t, err)
	require.Positive(t, n)
	mfs, err := s.reg.Gather()
	require.NoError(t, err)
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != "sift_ingest_events_received_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "result" && lp.GetValue() == "accepted" {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return int64(sum)
}

// alerts is the number of alerts siftd holds, once the engine applied
// everything.
func (s *siftd) alerts(t *testing.T) int {
	t.Helper()
	require.NoError(t, s.app.Engine().Flush(context.Background()))
	resp, err := http.Get(s.srv.URL + "/api/v1/alerts?limit=10000")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var page struct {
		Alerts        []json.RawMessage `json:"alerts"`
		NextPageToken string            `json:"next_page_token"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
	require.Empty(t, page.NextPageToken, "more than one page of alerts")
	return len(page.Alerts)
}

func testOptions(url, f string) Options {
	return Options{
		URL: url, Format: f, Series: 3000, DuplicateRatio: 0.9, ResolveRatio: 0.1,
		Batch: 50, Concurrency: 4, Duration: time.Minute, Requests: 300,
		Labels: 8, Seed: 1, Timeout: time.Minute, Output: "text",
		poolBudget: 8 << 20,
	}
}

func TestEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		format string
		edit   func(*Options)
	}{
		{"prometheus", nil},
		// Every series introduced, then the steady-state pools.
		{"prometheus", func(o *Options) { o.Series = 500; o.ResolveRatio = 0.3 }},
		{"alertmanager", nil},
		{"generic", func(o *Options) { o.Batch = 200; o.Series = 4000 }},
		{"pagerduty", func(o *Options) { o.DuplicateRatio = 0.5 }},
		{"mixed", func(o *Options) { o.Requests = 400 }},
	} {
		t.Run(tc.format, func(t *testing.T) {
			d := startSiftd(t)
			o := testOptions(d.srv.URL, tc.format)
			if tc.edit != nil {
				tc.edit(&o)
			}
			res, err := run(context.Background(), o)
			require.NoError(t, err)

			require.Equal(t, o.Requests, res.Requests)
			var dbg bytes.Buffer
			_ = writeReport(&dbg, res, "text")
			t.Log(dbg.String())
			require.Equal(t, o.Requests, res.OKRequests, "status counts: %v %v", res.StatusCounts, res.FirstErrors)
			require.Equal(t, res.EventsSent, res.EventsAccepted)
			require.Equal(t, d.accepted(t), res.EventsAccepted, "siftd's accepted-events metric")
			require.Equal(t, uint64(o.Requests), res.Latency.n)
			require.Positive(t, res.SeriesIntroduced)
			require.LessOrEqual(t, res.SeriesIntroduced, o.Series)

			alerts := d.alerts(t)
			if tc.format == "mixed" {
				// A series sent both as PagerDuty and otherwise is two alerts.
				require.GreaterOrEqual(t, alerts, res.SeriesIntroduced)
				require.LessOrEqual(t, alerts, 2*res.SeriesIntroduced)
			} else {
				require.Equal(t, res.SeriesIntroduced, alerts, "distinct alerts in siftd = series introduced")
			}
			if o.Series == 500 {
				require.Equal(t, 500, res.SeriesIntroduced)
				require.Positive(t, res.PoolBodies)
			}

			var out bytes.Buffer
			require.NoError(t, writeReport(&out, res, "json"))
			var rep map[string]any
			require.NoError(t, json.Unmarshal(out.Bytes(), &rep))
			for _, k := range []string{"requests", "events_sent", "events_accepted", "events_per_second", "status_counts",
				"latency_seconds", "duration_seconds", "format", "batch", "series", "concurrency"} {
				require.Contains(t, rep, k)
			}
			require.Equal(t, float64(res.EventsAccepted), rep["events_accepted"])
			lat := rep["latency_seconds"].(map[string]any)
			require.Positive(t, lat["p50"])
			require.GreaterOrEqual(t, lat["max"], lat["p99"])

			out.Reset()
			require.NoError(t, writeReport(&out, res, "text"))
			require.Contains(t, out.String(), "events/s accepted:")
			require.Contains(t, out.String(), "other errors:       none")
		})
	}
}

func TestDurationStopsAndCountsEverything(t *testing.T) {
	d := startSiftd(t)
	o := testOptions(d.srv.URL, "generic")
	o.Requests = 0
	o.Duration = 300 * time.Millisecond
	o.Batch = 100
	start := time.Now()
	res, err := run(context.Background(), o)
	require.NoError(t, err)
	require.Less(t, time.Since(start), 10*time.Second)
	require.Positive(t, res.Requests)
	require.Equal(t, res.Requests, res.OKRequests)
	require.Equal(t, d.accepted(t), res.EventsAccepted)
	require.Positive(t, res.EventsPerSecond())
}

func TestUnreachableTarget(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	res, err := run(context.Background(), testOptions("http://"+addr, "prometheus"))
	require.Error(t, err)
	require.Nil(t, res)
	require.Contains(t, err.Error(), "unreachable")

	var stdout, stderr bytes.Buffer
	code := runMain([]string{"--url=http://" + addr, "--requests=1"}, &stdout, &stderr)
	require.Equal(t, 1, code)
	require.Contains(t, stderr.String(), "unreachable")
}

func TestNoRequestSucceeded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"code":400,"message":"nope"}`, http.StatusBadRequest)
	}))
	defer srv.Close()
	o := testOptions(srv.URL, "prometheus")
	o.Requests = 5
	res, err := run(context.Background(), o)
	require.Error(t, err)
	require.Contains(t, err.Error(), "no request succeeded")
	require.Contains(t, err.Error(), "400")
	require.Equal(t, int64(5), res.StatusCounts["400"])
	require.Contains(t, res.FirstErrors["400"], "nope")

	var out bytes.Buffer
	require.NoError(t, writeReport(&out, res, "text"))
	require.Contains(t, out.String(), "400×5")
}

func TestThrottledIsCounted(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1)%2 == 0 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "engine queue is full", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	o := testOptions(srv.URL, "prometheus")
	o.Requests, o.Concurrency = 10, 1
	res, err := run(context.Background(), o)
	require.NoError(t, err)
	require.Equal(t, int64(5), res.Throttled())
	require.Equal(t, int64(5), res.OKRequests)
	require.Equal(t, 5*int64(o.Batch), res.EventsAccepted)
	require.Equal(t, 10*int64(o.Batch), res.EventsSent)
}

func TestFlagValidation(t *testing.T) {
	for _, args := range [][]string{
		{"--format=xml"}, {"--series=0"}, {"--duplicate-ratio=1.5"}, {"--labels=2"}, {"--batch=0"}, {"--output=yaml"},
		{"--url=ftp://x"},
	} {
		var stdout, stderr bytes.Buffer
		require.Equal(t, 2, runMain(args, &stdout, &stderr), "%v", args)
		require.True(t, strings.HasPrefix(stderr.String(), "siftload: "), stderr.String())
	}
}

func testWorker(t *testing.T, srvURL string, o Options) (*loader, *worker) {
	t.Helper()
	o.URL = srvURL
	fmts, base, err := o.validate()
	require.NoError(t, err)
	l, ws := newLoader(o, fmts, base)
	t.Cleanup(l.client.CloseIdleConnections)
	return l, ws[0]
}

// A body is busy only while the transport writes it, so that pool bodies
// are rewritten in place rather than copied.
func TestBodyNotBusyAfterAnswer(t *testing.T) {
	d := startSiftd(t)
	for _, f := range []format{fmtPrometheus, fmtPagerDuty} {
		l, w := testWorker(t, d.srv.URL, testOptions("", f.String()))
		b := &body{}
		l.enc.build(b, f, specsOf(1, 2, 3), time.Now().Unix())
		for range 20 {
			require.True(t, w.send(b))
			require.False(t, b.busy(), "inflight=%d", b.inflight.Load())
		}
		require.Equal(t, int64(20), w.stats.ok)
	}
}

// A server that answers before reading the body: the transport may still
// be uploading when Do returns, and the worker must not rewrite those
// bytes (the race detector watches this test).
func TestEarlyAnswerDoesNotRewriteBodyInUse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	}))
	defer srv.Close()
	o := testOptions("", "prometheus")
	o.Series = 10
	l, w := testWorker(t, srv.URL, o)
	w.pool[fmtPrometheus] = []*body{{}}
	big := steadySpecs(nil, 20000, rand.New(rand.NewPCG(1, 1)), allSeries(10), 0) // ~9 MB
	l.enc.build(w.pool[fmtPrometheus][0], fmtPrometheus, big, time.Now().Unix()-10)
	w.gen.finished.Store(true)
	copies := 0
	for range 5 {
		prev := w.pool[fmtPrometheus][0]
		prev.stamp = 0 // make nextBody rewrite its times
		b := w.nextBody(fmtPrometheus)
		if b != prev {
			copies++
		}
		w.send(b)
	}
	t.Logf("%d of 5 bodies were still being uploaded and were copied", copies)
	require.Equal(t, int64(5), w.stats.requests)
	require.Positive(t, w.stats.status[http.StatusRequestEntityTooLarge]+w.stats.other["transport_error"])
}

func TestRatePacesRequests(t *testing.T) {
	d := startSiftd(t)
	o := testOptions(d.srv.URL, "generic")
	o.Batch = 10
	o.Requests = 5
	o.Rate = 100 // 10 events per request: one request every 100ms
	start := time.Now()
	res, err := run(context.Background(), o)
	require.NoError(t, err)
	require.Equal(t, int64(5), res.OKRequests)
	// The 5th request is due 400ms after the first; unpaced, 5 tiny
	// requests take a few milliseconds.
	require.GreaterOrEqual(t, time.Since(start), 400*time.Millisecond)
}
