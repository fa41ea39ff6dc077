package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options are siftload's settings; main fills them from the flags.
type Options struct {
	URL            string
	Format         string
	Series         int
	DuplicateRatio float64
	ResolveRatio   float64
	Batch          int
	Concurrency    int
	Duration       time.Duration
	Requests       int64
	// Rate paces requests to this many events per second in all; 0 sends
	// as fast as the workers can.
	Rate    float64
	Labels  int
	Seed    uint64
	Timeout time.Duration
	Output  string
	// Partition gives each worker its own share of the series (those
	// equal to its number modulo Concurrency), so that the events of one
	// series go out one request at a time, in order.
	Partition bool
	// ResolveAtEnd sends, once the run is over, a resolve of every series
	// introduced in every format of the run.
	ResolveAtEnd bool
	// AckLog, when set, is the file that records every acknowledged
	// request and every request left in doubt (ackLog).
	AckLog string

	// poolBudget overrides defaultPoolBudget; tests make it small.
	poolBudget int
}

// defaultPoolBudget bounds the bytes of pre-encoded steady-state bodies,
// over all workers and formats.
const defaultPoolBudget = 64 << 20

// Pool size limits, per worker and format.
const (
	minPool = 2
	maxPool = 256
)

// errorBackoff is how long a worker pauses after a request that got no
// response, so that a dead target is not spun on.
const errorBackoff = 20 * time.Millisecond

func (o *Options) validate() ([]format, *url.URL, error) {
	var errs []error
	check := func(ok bool, f string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(f, args...))
		}
	}
	check(o.Series >= 1 && o.Series <= maxSeries, "--series must be from 1 to %d, got %d", maxSeries, o.Series)
	check(o.DuplicateRatio >= 0 && o.DuplicateRatio <= 1, "--duplicate-ratio must be from 0 to 1, got %g", o.DuplicateRatio)
	check(o.ResolveRatio >= 0 && o.ResolveRatio <= 1, "--resolve-ratio must be from 0 to 1, got %g", o.ResolveRatio)
	check(o.Batch >= 1, "--batch must be at least 1, got %d", o.Batch)
	check(o.Concurrency >= 1, "--concurrency must be at least 1, got %d", o.Concurrency)
	check(o.Duration >= 0, "--duration must not be negative, got %s", o.Duration)
	check(o.Requests >= 0, "--requests must not be negative, got %d", o.Requests)
	check(o.Rate >= 0, "--rate must not be negative, got %g", o.Rate)
	check(o.Labels >= minLabels && o.Labels <= 99, "--labels must be from %d to 99, got %d", minLabels, o.Labels)
	check(o.Timeout > 0, "--timeout must be positive, got %s", o.Timeout)
	check(o.Output == "text" || o.Output == "json", "--output must be text or json, got %q", o.Output)
	check(!o.Partition || o.Series >= o.Concurrency, "--partition needs at least as many --series as --concurrency (each worker its own), got %d series for %d workers", o.Series, o.Concurrency)
	var fmts []format
	switch o.Format {
	case "mixed":
		fmts = []format{fmtPrometheus, fmtAlertmanager, fmtPagerDuty, fmtGeneric}
	default:
		for f := range numFormats {
			if f.String() == o.Format {
				fmts = []format{f}
			}
		}
		check(fmts != nil, "--format must be prometheus, alertmanager, pagerduty, generic or mixed, got %q", o.Format)
	}
	u, err := url.Parse(o.URL)
	if err != nil {
		errs = append(errs, fmt.Errorf("--url: %w", err))
	} else {
		check(u.Scheme == "http" || u.Scheme == "https", "--url must be http:// or https://, got %q", o.URL)
		check(u.Host != "", "--url has no host: %q", o.URL)
	}
	return fmts, u, errors.Join(errs...)
}

// Result is what a run measured.
type Result struct {
	Format      string
	URL         string
	Batch       int
	Series      int
	Concurrency int
	// Duration is from the first request to the last response.
	Duration         time.Duration
	Requests         int64
	OKRequests       int64
	EventsSent       int64
	EventsAccepted   int64
	SeriesIntroduced int
	// StatusCounts counts requests by status code, and those that got no
	// response as "timeout" or "transport_error".
	StatusCounts map[string]int64
	// FirstErrors holds, per key of StatusCounts other than 2xx, the first
	// error: the start of the response body, or the transport error.
	FirstErrors map[string]string
	Latency     *histogram
	PoolBodies  int
	PoolBytes   int64
	// EndResolves counts the requests and events of --resolve-at-end,
	// which the figures above leave out.
	EndResolves EndResolves
}

// EndResolves is what --resolve-at-end sent.
type EndResolves struct {
	Requests       int64 `json:"requests"`
	OKRequests     int64 `json:"ok_requests"`
	Events         int64 `json:"events"`
	EventsAccepted int64 `json:"events_accepted"`
}

// EventsPerSecond is the accepted events per second of Duration.
func (r *Result) EventsPerSecond() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.EventsAccepted) / r.Duration.Seconds()
}

// Throttled is the number of 503 answers.
func (r *Result) Throttled() int64 { return r.StatusCounts["503"] }

// loader is one run's shared, read-only state plus the request counter.
type loader struct {
	o       Options
	formats []format
	urls    [numFormats]*url.URL
	client  *http.Client
	header  http.Header
	enc     *encoder
	// gens are the series generators: one shared by the workers, or one
	// per worker with --partition.
	gens []*seriesGen
	// ack is --ack-log; nil when off.
	ack  *ackLog
	reqs atomic.Int64
	// start is when sending began; with a rate, request n is due at
	// start + n*interval.
	start    time.Time
	interval time.Duration
}

func (l *loader) formatFor(idx int64) format { return l.formats[idx%int64(len(l.formats))] }

func (l *loader) batchFor(f format) int {
	if f == fmtPagerDuty {
		return 1
	}
	return l.o.Batch
}

// run sends load as o says until the duration is over, the request count
// is reached or ctx is cancelled, and returns what it measured. Requests
// in flight at the end are waited for (each bounded by o.Timeout) so that
// every event sent is accounted for. It returns an error, with the result
// when there is one, if the target cannot be reached or no request
// succeeded.
func run(ctx context.Context, o Options) (*Result, error) {
	fmts, base, err := o.validate()
	if err != nil {
		return nil, err
	}
	if err := preflight(ctx, base, o.Timeout); err != nil {
		return nil, err
	}
	l, workers := newLoader(o, fmts, base)
	defer l.client.CloseIdleConnections()
	if o.AckLog != "" {
		if l.ack, err = openAckLog(o.AckLog); err != nil {
			return nil, err
		}
	}
	res := &Result{
		Format: o.Format, URL: o.URL, Batch: o.Batch, Series: o.Series, Concurrency: o.Concurrency,
		StatusCounts: map[string]int64{}, FirstErrors: map[string]string{}, Latency: &histogram{},
	}
	if l.canFinish() {
		res.PoolBodies, res.PoolBytes = l.buildPools(workers)
	}

	stop := ctx
	if o.Duration > 0 {
		var cancel context.CancelFunc
		stop, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	start := time.Now()
	l.start = start
	if o.Rate > 0 {
		// Pacing assumes full batches; PagerDuty requests carry one event.
		l.interval = time.Duration(float64(l.batchFor(fmts[0])) / o.Rate * float64(time.Second))
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.loop(stop) })
	}
	wg.Wait()
	res.Duration = time.Since(start)
	for _, g := range l.gens {
		res.SeriesIntroduced += g.Introduced()
	}
	for _, w := range workers {
		w.stats.mergeInto(res)
	}
	if o.ResolveAtEnd {
		for _, w := range workers {
			wg.Go(w.resolveAll)
		}
		wg.Wait()
		for _, w := range workers {
			e := &res.EndResolves
			e.Requests += w.end.requests
			e.OKRequests += w.end.ok
			e.Events += w.end.eventsSent
			e.EventsAccepted += w.end.eventsAccepted
		}
	}
	if l.ack != nil {
		if err := l.ack.close(); err != nil {
			return res, fmt.Errorf("--ack-log: %w", err)
		}
	}
	if res.OKRequests == 0 {
		return res, errors.New("no request succeeded" + describeFailures(res))
	}
	return res, nil
}

// canFinish reports whether every series will be introduced, so that the
// workers reach their steady-state pools.
func (l *loader) canFinish() bool {
	for _, g := range l.gens {
		if !g.canFinish() {
			return false
		}
	}
	return true
}

// newLoader sets up a run: the shared state and the workers.
func newLoader(o Options, fmts []format, base *url.URL) (*loader, []*worker) {
	l := &loader{
		o:       o,
		formats: fmts,
		header:  http.Header{"Content-Type": {"application/json"}, "User-Agent": {"siftload"}},
		enc:     newEncoder(o.Labels, time.Now().Unix()),
	}
	for _, f := range fmts {
		u := *base
		u.Path = strings.TrimSuffix(u.Path, "/") + formatPaths[f]
		l.urls[f] = &u
	}
	l.client = &http.Client{
		Timeout: o.Timeout,
		Transport: &http.Transport{
			Proxy:               nil, // a proxy would measure itself
			DialContext:         (&net.Dialer{Timeout: min(o.Timeout, 10*time.Second), KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        o.Concurrency,
			MaxIdleConnsPerHost: o.Concurrency,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
			WriteBufferSize:     64 << 10,
			ReadBufferSize:      4 << 10,
		},
	}
	workers := make([]*worker, o.Concurrency)
	var shared *seriesGen
	if !o.Partition {
		shared = newSeriesGen(o.Series, o.DuplicateRatio, o.ResolveRatio, o.Seed)
		l.gens = []*seriesGen{shared}
	}
	for i := range workers {
		w := &worker{l: l, id: i, stats: newStats(), end: newStats(), gen: shared, share: allSeries(o.Series)}
		if o.Partition {
			w.share = workerShare(o.Series, i, o.Concurrency)
			w.gen = newShareGen(w.share, o.DuplicateRatio, o.ResolveRatio, o.Seed, uint64(i)<<32)
			l.gens = append(l.gens, w.gen)
		}
		w.gotConn = func(httptrace.GotConnInfo) { w.reached.Store(true) }
		workers[i] = w
	}
	return l, workers
}

// preflight fails fast, with a clear error, when nothing listens at the
// target.
func preflight(ctx context.Context, u *url.URL, timeout time.Duration) error {
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	d := net.Dialer{Timeout: min(timeout, 5*time.Second)}
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return fmt.Errorf("target %s is unreachable: %w", u.Redacted(), err)
	}
	return c.Close()
}

func describeFailures(r *Result) string {
	if r.Requests == 0 {
		return ": no request was sent"
	}
	var b strings.Builder
	for _, k := range sortedKeys(r.StatusCounts) {
		fmt.Fprintf(&b, "; %s×%d", k, r.StatusCounts[k])
		if e := r.FirstErrors[k]; e != "" {
			fmt.Fprintf(&b, " (first: %s)", e)
		}
	}
	return b.String()
}

// buildPools pre-encodes each worker's steady-state bodies: per format,
// as many as fit the budget, between minPool and maxPool. Workers build
// their own in parallel, from their own random streams.
func (l *loader) buildPools(workers []*worker) (bodies int, size int64) {
	sec := time.Now().Unix()
	rng := rand.New(rand.NewPCG(l.o.Seed, 1<<32))
	var per [numFormats]int
	for _, f := range l.formats {
		var probe body
		l.enc.build(&probe, f, steadySpecs(nil, l.batchFor(f), rng, workers[0].share, l.o.ResolveRatio), sec)
		budget := l.o.poolBudget
		if budget <= 0 {
			budget = defaultPoolBudget
		}
		n := budget / (len(workers) * len(l.formats) * max(len(probe.buf), 1))
		per[f] = min(max(n, minPool), maxPool)
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(l.o.Seed, uint64(w.id)+1))
			var specs []spec
			for _, f := range l.formats {
				w.pool[f] = make([]*body, per[f])
				for i := range w.pool[f] {
					specs = steadySpecs(specs[:0], l.batchFor(f), rng, w.share, l.o.ResolveRatio)
					b := &body{}
					l.enc.build(b, f, specs, sec)
					w.pool[f][i] = b
				}
			}
		})
	}
	wg.Wait()
	for _, w := range workers {
		for _, p := range w.pool {
			for _, b := range p {
				bodies++
				size += int64(len(b.buf))
			}
		}
	}
	return bodies, size
}

// worker sends requests one at a time on its own connection.
type worker struct {
	l  *loader
	id int
	// gen draws the introduction phase's series from share, the worker's
	// (--partition) or all.
	gen     *seriesGen
	share   share
	pool    [numFormats][]*body
	next    [numFormats]int
	scratch [numFormats]*body
	specs   []spec
	// stats counts the run, end the resolves of --resolve-at-end.
	stats, end *stats
	// reached is set by gotConn, a trace hook of --ack-log: the request
	// in progress got a connection, so siftd may have received it.
	reached atomic.Bool
	gotConn func(httptrace.GotConnInfo)
	// line is the --ack-log line being built.
	line []byte
}

func (w *worker) loop(stop context.Context) {
	for stop.Err() == nil {
		idx := w.l.reqs.Add(1) - 1
		if w.l.o.Requests > 0 && idx >= w.l.o.Requests {
			return
		}
		if w.l.interval > 0 {
			due := w.l.start.Add(time.Duration(idx) * w.l.interval)
			if d := time.Until(due); d > 0 {
				select {
				case <-stop.Done():
					return
				case <-time.After(d):
				}
			}
		}
		b := w.nextBody(w.l.formatFor(idx))
		if !w.send(b) {
			select {
			case <-stop.Done():
			case <-time.After(errorBackoff):
			}
		}
	}
}

// nextBody returns the body to send next in format f: while series are
// still being introduced a fresh one encoded from the shared sequence,
// afterwards the next of the worker's pool. Its time fields are current.
func (w *worker) nextBody(f format) *body {
	sec := time.Now().Unix()
	if !w.gen.finished.Load() {
		if w.specs = w.gen.draw(w.specs[:0], w.l.batchFor(f)); w.specs != nil {
			b := w.scratch[f]
			if b == nil || b.busy() {
				b = &body{}
				w.scratch[f] = b
			}
			w.l.enc.build(b, f, w.specs, sec)
			return b
		}
	}
	p := w.pool[f]
	i := w.next[f]
	w.next[f] = (i + 1) % len(p)
	b := p[i]
	if b.busy() && b.stamp != sec {
		// The transport still holds a reader over it (a request abandoned
		// mid-upload): rewrite a copy.
		b = b.clone()
		p[i] = b
	}
	b.refresh(sec)
	return b
}

// newBodyReader returns a request body over b's bytes and counts it in
// b.inflight until the transport has written it (see send).
//
// The reader is an io.NopCloser over a *bytes.Reader on purpose: the
// transport recognises that as in-memory and writes the headers and a
// small body in one syscall, where another type makes it flush the
// headers on their own first.
func newBodyReader(b *body) io.ReadCloser {
	b.inflight.Add(1)
	return io.NopCloser(bytes.NewReader(b.buf))
}

// send posts b and records the outcome; false when no response came.
func (w *worker) send(b *body) bool {
	u := w.l.urls[b.format]
	// The transport may go on writing the body after Do returned (when the
	// answer comes before the upload ends, or a connection fails), so the
	// body stays busy until WroteRequest says the write is over; a body
	// that never gets there stays busy and is copied, not rewritten.
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { b.inflight.Add(-1) }}
	if w.l.ack != nil {
		w.reached.Store(false)
		trace.GotConn = w.gotConn
	}
	req := (&http.Request{
		Method:        http.MethodPost,
		URL:           u,
		Host:          u.Host,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.l.header,
		Body:          newBodyReader(b),
		ContentLength: int64(len(b.buf)),
		GetBody:       func() (io.ReadCloser, error) { return newBodyReader(b), nil },
	}).WithContext(httptrace.WithClientTrace(context.Background(), trace))
	s := w.stats
	s.requests++
	s.eventsSent += int64(b.events)
	start := time.Now()
	resp, err := w.l.client.Do(req)
	if err != nil {
		key := "transport_error"
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			key = "timeout"
		}
		s.fail(key, err.Error())
		if w.l.ack != nil && w.reached.Load() {
			w.logRequest(b, start, time.Now(), 0)
		}
		return false
	}
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		_, _ = io.Copy(io.Discard, resp.Body)
		s.ok++
		s.eventsAccepted += int64(b.events)
		if w.l.ack != nil {
			w.logRequest(b, start, time.Now(), code)
		}
	} else if s.status[code] == 0 {
		head, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		_, _ = io.Copy(io.Discard, resp.Body)
		s.firstErr[strconv.Itoa(code)] = strings.TrimSpace(string(head))
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	_ = resp.Body.Close()
	s.latency.record(time.Since(start))
	s.status[code]++
	return true
}

// resolveAll sends, for --resolve-at-end, a resolve of each of the
// worker's series introduced during the run, in each format of the run:
// with --partition its own share, else the introduced series equal to its
// number modulo the workers. Alertmanager and PagerDuty alerts never
// expire in siftd, so this is what leaves it with no firing alert.
func (w *worker) resolveAll() {
	w.stats = w.end
	var series []int
	for _, n := range w.gen.introducedSeries(nil) {
		if w.l.o.Partition || n%w.l.o.Concurrency == w.id {
			series = append(series, n)
		}
	}
	sec := time.Now().Unix()
	for _, f := range w.l.formats {
		n := w.l.batchFor(f)
		for i := 0; i < len(series); i += n {
			w.specs = w.specs[:0]
			for _, s := range series[i:min(i+n, len(series))] {
				w.specs = append(w.specs, spec{series: s, resolved: true})
			}
			// A new body each time: an abandoned upload may still read
			// the last one.
			b := &body{}
			w.l.enc.build(b, f, w.specs, sec)
			w.send(b)
		}
	}
}

// stats is one worker's tally.
type stats struct {
	requests, ok, eventsSent, eventsAccepted int64
	status                                   map[int]int64
	other                                    map[string]int64
	firstErr                                 map[string]string
	latency                                  histogram
}

func newStats() *stats {
	return &stats{status: map[int]int64{}, other: map[string]int64{}, firstErr: map[string]string{}}
}

func (s *stats) fail(key, msg string) {
	if s.other[key] == 0 {
		s.firstErr[key] = msg
	}
	s.other[key]++
}

func (s *stats) mergeInto(r *Result) {
	r.Requests += s.requests
	r.OKRequests += s.ok
	r.EventsSent += s.eventsSent
	r.EventsAccepted += s.eventsAccepted
	for code, n := range s.status {
		r.StatusCounts[strconv.Itoa(code)] += n
	}
	for k, n := range s.other {
		r.StatusCounts[k] += n
	}
	for k, m := range s.firstErr {
		if _, ok := r.FirstErrors[k]; !ok {
			r.FirstErrors[k] = m
		}
	}
	r.Latency.merge(&s.latency)
}
