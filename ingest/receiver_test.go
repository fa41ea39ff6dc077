package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// fakeSubmitter records what it is given; err makes it refuse.
type fakeSubmitter struct {
	mu     sync.Mutex
	err    error
	calls  int
	events []Event
}

func (f *fakeSubmitter) Submit(events []Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return f.err
	}
	f.events = append(f.events, events...)
	return nil
}

func (f *fakeSubmitter) snapshot() (calls int, events []Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, append([]Event(nil), f.events...)
}

var receiverNow = time.Date(2025, 6, 3, 10, 15, 30, 0, time.UTC)

type rig struct {
	sub  *fakeSubmitter
	reg  *prometheus.Registry
	recv *Receiver
	mux  *http.ServeMux
}

func newRig(t *testing.T, opts ...func(*ReceiverOptions)) *rig {
	t.Helper()
	r := &rig{sub: &fakeSubmitter{}, reg: prometheus.NewRegistry(), mux: http.NewServeMux()}
	o := ReceiverOptions{
		Submitter:   r.sub,
		Registerer:  r.reg,
		Now:         func() time.Time { return receiverNow },
		NewDedupKey: seqKeys("generated"),
		RetryAfter:  2500 * time.Millisecond,
	}
	for _, f := range opts {
		f(&o)
	}
	r.recv = NewReceiver(o)
	r.recv.Register(r.mux)
	return r
}

// post sends body; chunked hides its length, as a chunked request has none.
func (r *rig) post(path string, body []byte, chunked bool) *httptest.ResponseRecorder {
	var rd io.Reader = bytes.NewReader(body)
	if chunked {
		rd = struct{ io.Reader }{rd}
	}
	req := httptest.NewRequest(http.MethodPost, path, rd)
	req.Header.Set("Content-Type", "application/json")
	if chunked {
		req.ContentLength = -1
		req.TransferEncoding = []string{"chunked"}
	}
	w := httptest.NewRecorder()
	r.mux.ServeHTTP(w, req)
	return w
}

// counter returns the value of a counter in the rig's registry.
func (r *rig) counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	require.NoError(t, err)
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(want) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if want[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no %s%v", name, want)
	return 0
}

func (r *rig) requireNothingSubmitted(t *testing.T) {
	t.Helper()
	calls, events := r.sub.snapshot()
	require.Zero(t, calls, "the submitter was called")
	require.Empty(t, events)
}

type endpoint struct {
	name    string
	path    string
	src     Source
	okFile  string
	okCode  int
	okBody  string // JSON, or "" for an empty body
	nEvents int
	bad     string
	// What the 400 body must say.
	badField string
	badIndex int // -1: none
}

var endpoints = []endpoint{
	{
		name: "prometheus", path: "/api/v2/alerts", src: SourcePrometheus,
		okFile: "prometheus_alerts.json", okCode: http.StatusOK, okBody: "", nEvents: 5,
		bad:      alerts(`{"labels":{"alertname":"C","severity":5}}`),
		badField: "labels.severity", badIndex: 2,
	},
	{
		name: "alertmanager", path: "/api/v1/alertmanager", src: SourceAlertmanager,
		okFile: "alertmanager_webhook.json", okCode: http.StatusOK, okBody: "", nEvents: 2,
		bad:      `{"version":"4","alerts":[{"status":"firing","labels":{"a":"1"}},{"status":"pending","labels":{"a":"2"}}]}`,
		badField: "status", badIndex: 1,
	},
	{
		name: "generic", path: "/api/v1/events", src: SourceGeneric,
		okFile: "generic_array.json", okCode: http.StatusAccepted, okBody: `{"status":"success","accepted":5}`, nEvents: 5,
		bad:      `[{"labels":{"a":"1"}},{"labels":{"a":"2"},"identity":["host"]}]`,
		badField: "identity", badIndex: 1,
	},
	{
		name: "pagerduty", path: "/v2/enqueue", src: SourcePagerDuty,
		okFile: "pagerduty_trigger_no_dedup_key.json", okCode: http.StatusAccepted,
		okBody: `{"status":"success","message":"Event processed","dedup_key":"generated-0001"}`, nEvents: 1,
		bad:      `{"event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info"}}`,
		badField: "routing_key", badIndex: -1,
	},
}

func TestReceiverAccepts(t *testing.T) {
	for _, ep := range endpoints {
		t.Run(ep.name, func(t *testing.T) {
			r := newRig(t)
			body := readTestdata(t, ep.okFile)
			w := r.post(ep.path, body, false)
			require.Equal(t, ep.okCode, w.Code, w.Body.String())
			if ep.okBody == "" {
				require.Empty(t, w.Body.String())
			} else {
				require.JSONEq(t, ep.okBody, w.Body.String())
				require.Equal(t, "application/json", w.Header().Get("Content-Type"))
			}
			calls, events := r.sub.snapshot()
			require.Equal(t, 1, calls, "one batch per request")
			require.Len(t, events, ep.nEvents)
			for i := range events {
				require.Equal(t, receiverNow, events[i].ReceivedAt, "the receiver's clock stamps ReceivedAt")
				require.NoError(t, eventInvariants(&events[i], ep.src, receiverNow))
			}
			// The handler hands over the same events the parser makes.
			want, err := (goldenCases[goldenIndex(t, strings.TrimSuffix(ep.okFile, ".json"))]).parse(body, receiverNow)
			require.NoError(t, err)
			require.Equal(t, string(renderJSON(want)), string(renderJSON(events)))

			require.Equal(t, float64(ep.nEvents), r.counter(t, "sift_ingest_events_received_total", "source", string(ep.src), "result", "accepted"))
			require.Equal(t, float64(len(body)), r.counter(t, "sift_ingest_received_bytes_total", "source", string(ep.src)))
			for _, reason := range []string{"invalid", "too_large", "read_error"} {
				require.Zero(t, r.counter(t, "sift_ingest_requests_rejected_total", "source", string(ep.src), "reason", reason))
			}
		})
	}
}

func goldenIndex(t *testing.T, name string) int {
	for i, c := range goldenCases {
		if c.name == name {
			return i
		}
	}
	t.Fatalf("no golden case %q", name)
	return -1
}

func TestReceiverRejectsInvalid(t *testing.T) {
	for _, ep := range endpoints {
		t.Run(ep.name, func(t *testing.T) {
			r := newRig(t)
			w := r.post(ep.path, []byte(ep.bad), false)
			require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
			require.Equal(t, "application/json", w.Header().Get("Content-Type"))
			if ep.src == SourcePagerDuty {
				var got struct {
					Status  string   `json:"status"`
					Message string   `json:"message"`
					Errors  []string `json:"errors"`
				}
				require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
				require.Equal(t, "invalid event", got.Status)
				require.Equal(t, "Event object is invalid", got.Message)
				require.Len(t, got.Errors, 1)
				require.True(t, strings.HasPrefix(got.Errors[0], "'"+ep.badField+"' "), got.Errors[0])
			} else {
				var got map[string]any
				require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
				require.Equal(t, float64(400), got["code"])
				require.Equal(t, ep.badField, got["field"])
				require.Equal(t, float64(ep.badIndex), got["index"])
				msg, _ := got["message"].(string)
				require.Contains(t, msg, fmt.Sprintf("event %d: field %q", ep.badIndex, ep.badField))
			}
			r.requireNothingSubmitted(t)
			require.Equal(t, 1.0, r.counter(t, "sift_ingest_requests_rejected_total", "source", string(ep.src), "reason", "invalid"))
			require.Zero(t, r.counter(t, "sift_ingest_events_received_total", "source", string(ep.src), "result", "accepted"))
		})
	}
}

func TestReceiverMalformedJSON(t *testing.T) {
	for _, ep := range endpoints {
		t.Run(ep.name, func(t *testing.T) {
			r := newRig(t)
			w := r.post(ep.path, []byte(`{"labels":`), false)
			require.Equal(t, http.StatusBadRequest, w.Code)
			if ep.src != SourcePagerDuty {
				var got map[string]any
				require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
				_, hasIndex := got["index"]
				require.False(t, hasIndex, "a request-wide error names no event: %s", w.Body)
				require.Contains(t, got["message"], "malformed JSON")
			}
			r.requireNothingSubmitted(t)
		})
	}
}

// TestReceiverBodyLimit: a body of exactly MaxBodySize is read; one byte
// more is refused with 413, whether the request declares its length or
// not, and nothing is submitted.
func TestReceiverBodyLimit(t *testing.T) {
	for _, ep := range endpoints {
		body := readTestdata(t, ep.okFile)
		limit := len(body) + 64
		atLimit := append(bytes.Clone(body), bytes.Repeat([]byte(" "), limit-len(body))...)
		over := append(bytes.Clone(atLimit), ' ')
		opt := func(o *ReceiverOptions) { o.MaxBodySize = int64(limit) }

		for _, chunked := range []bool{false, true} {
			mode := "content-length"
			if chunked {
				mode = "chunked"
			}
			t.Run(ep.name+"/"+mode+"/at limit", func(t *testing.T) {
				r := newRig(t, opt)
				w := r.post(ep.path, atLimit, chunked)
				require.Equal(t, ep.okCode, w.Code, w.Body.String())
				_, events := r.sub.snapshot()
				require.Len(t, events, ep.nEvents)
			})
			t.Run(ep.name+"/"+mode+"/over limit", func(t *testing.T) {
				r := newRig(t, opt)
				w := r.post(ep.path, over, chunked)
				require.Equal(t, http.StatusRequestEntityTooLarge, w.Code, w.Body.String())
				require.Contains(t, w.Body.String(), fmt.Sprintf("limit of %d bytes", limit))
				if ep.src == SourcePagerDuty {
					require.Contains(t, w.Body.String(), `"status":"Request Entity Too Large"`)
				} else {
					require.Contains(t, w.Body.String(), `"code":413`)
				}
				r.requireNothingSubmitted(t)
				require.Equal(t, 1.0, r.counter(t, "sift_ingest_requests_rejected_total", "source", string(ep.src), "reason", "too_large"))
				require.Zero(t, r.counter(t, "sift_ingest_requests_rejected_total", "source", string(ep.src), "reason", "invalid"))
			})
		}
	}
}

// TestReceiverBodyLimitOverHTTP sends a chunked body over a real
// connection, where the length is unknown until the body has been read.
func TestReceiverBodyLimitOverHTTP(t *testing.T) {
	r := newRig(t, func(o *ReceiverOptions) { o.MaxBodySize = 1024 })
	var seenLength atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		seenLength.Store(req.ContentLength)
		r.mux.ServeHTTP(w, req)
	}))
	defer srv.Close()

	body := `[` + strings.Repeat(`{"labels":{"alertname":"A"}},`, 100) + `{"labels":{"alertname":"B"}}]`
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/v2/alerts", struct{ io.Reader }{strings.NewReader(body)})
	require.NoError(t, err)
	require.Equal(t, int64(0), req.ContentLength, "length unknown: sent chunked")
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, string(got))
	require.Equal(t, int64(-1), seenLength.Load(), "the server saw no Content-Length")
	r.requireNothingSubmitted(t)

	// The same server still takes a small request.
	resp, err = srv.Client().Post(srv.URL+"/api/v2/alerts", "application/json", strings.NewReader(`[{"labels":{"alertname":"A"}}]`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	_, events := r.sub.snapshot()
	require.Len(t, events, 1)
}

func TestReceiverSetMaxBodySize(t *testing.T) {
	r := newRig(t)
	body := readTestdata(t, "prometheus_alerts.json")
	r.recv.SetMaxBodySize(int64(len(body) - 1))
	require.Equal(t, http.StatusRequestEntityTooLarge, r.post("/api/v2/alerts", body, false).Code)
	r.recv.SetMaxBodySize(0) // back to the default
	require.Equal(t, http.StatusOK, r.post("/api/v2/alerts", body, false).Code)
}

func TestReceiverBackpressure(t *testing.T) {
	for _, tc := range []struct {
		err    error
		result string
	}{
		{ErrQueueFull, "throttled"},
		{fmt.Errorf("submit: %w", ErrClosed), "closed"},
	} {
		for _, ep := range endpoints {
			t.Run(tc.result+"/"+ep.name, func(t *testing.T) {
				r := newRig(t)
				r.sub.err = tc.err
				w := r.post(ep.path, readTestdata(t, ep.okFile), false)
				require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
				require.Equal(t, "3", w.Header().Get("Retry-After"), "2.5s rounds up to 3")
				require.Equal(t, "application/json", w.Header().Get("Content-Type"))
				calls, events := r.sub.snapshot()
				require.Equal(t, 1, calls)
				require.Empty(t, events, "a refused batch is not applied")
				require.Equal(t, float64(ep.nEvents), r.counter(t, "sift_ingest_events_received_total", "source", string(ep.src), "result", tc.result))
				require.Zero(t, r.counter(t, "sift_ingest_events_received_total", "source", string(ep.src), "result", "accepted"))
			})
		}
	}
}

func TestReceiverSubmitterFailure(t *testing.T) {
	r := newRig(t)
	r.sub.err = errors.New("disk on fire")
	w := r.post("/api/v1/events", readTestdata(t, "generic_object.json"), false)
	require.Equal(t, http.StatusInternalServerError, w.Code)
	require.Empty(t, w.Header().Get("Retry-After"))
	require.Contains(t, w.Body.String(), "disk on fire")
}

func TestReceiverDefaultRetryAfter(t *testing.T) {
	r := newRig(t, func(o *ReceiverOptions) { o.RetryAfter = 0 })
	r.sub.err = ErrQueueFull
	w := r.post("/v2/enqueue", readTestdata(t, "pagerduty_resolve.json"), false)
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.Equal(t, "1", w.Header().Get("Retry-After"))
}

func TestReceiverEmptyBatch(t *testing.T) {
	r := newRig(t)
	require.Equal(t, http.StatusOK, r.post("/api/v2/alerts", []byte(`[]`), false).Code)
	w := r.post("/api/v1/events", []byte(`[]`), false)
	require.Equal(t, http.StatusAccepted, w.Code)
	require.JSONEq(t, `{"status":"success","accepted":0}`, w.Body.String())
	r.requireNothingSubmitted(t)
}

func TestReceiverPagerDutyDedupKey(t *testing.T) {
	t.Run("given", func(t *testing.T) {
		r := newRig(t)
		w := r.post("/v2/enqueue", readTestdata(t, "pagerduty_trigger.json"), false)
		require.Equal(t, http.StatusAccepted, w.Code)
		require.JSONEq(t, `{"status":"success","message":"Event processed","dedup_key":"samplekeyhere"}`, w.Body.String())
	})
	t.Run("random by default", func(t *testing.T) {
		r := newRig(t, func(o *ReceiverOptions) { o.NewDedupKey = nil })
		keys := map[string]bool{}
		for range 3 {
			w := r.post("/v2/enqueue", readTestdata(t, "pagerduty_trigger_no_dedup_key.json"), false)
			require.Equal(t, http.StatusAccepted, w.Code)
			var got struct {
				DedupKey string `json:"dedup_key"`
			}
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
			require.Regexp(t, regexp.MustCompile(`^[0-9a-f]{32}$`), got.DedupKey)
			keys[got.DedupKey] = true
		}
		require.Len(t, keys, 3, "each trigger without a key gets a new one")
		_, events := r.sub.snapshot()
		for _, e := range events {
			dk, _ := e.Labels.Get("dedup_key")
			require.True(t, keys[dk], "the submitted event carries the returned key")
		}
	})
}

func TestReceiverMethodNotAllowed(t *testing.T) {
	r := newRig(t)
	for _, ep := range endpoints {
		w := httptest.NewRecorder()
		r.mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, ep.path, nil))
		require.Equal(t, http.StatusMethodNotAllowed, w.Code, ep.path)
	}
	r.requireNothingSubmitted(t)
}

// TestReceiverMetricsExposition checks the exact exposition after a mix
// of requests, and that every label combination exists from the start.
func TestReceiverMetricsExposition(t *testing.T) {
	r := newRig(t, func(o *ReceiverOptions) { o.MaxBodySize = 64 })
	r.post("/api/v2/alerts", []byte(`[{"labels":{"a":"b"}},{"labels":{"a":"c"}}]`), false) // accepted 2
	r.post("/api/v2/alerts", []byte(`[{"labels":{}}]`), false)                             // invalid
	r.post("/api/v1/events", bytes.Repeat([]byte(" "), 65), true)                          // too_large
	r.post("/v2/enqueue", []byte(`{}`), false)                                             // invalid
	r.sub.err = ErrQueueFull
	r.post("/api/v1/alertmanager", []byte(`{"alerts":[{"labels":{"a":"b"}}]}`), false) // throttled 1

	var exp strings.Builder
	exp.WriteString("# HELP sift_ingest_events_received_total Events received, by source format and result: accepted, or throttled when the engine queue was full, or closed during shutdown.\n# TYPE sift_ingest_events_received_total counter\n")
	events := map[string]int{"prometheus/accepted": 2, "alertmanager/throttled": 1}
	for _, s := range []string{"alertmanager", "generic", "pagerduty", "prometheus"} {
		for _, res := range []string{"accepted", "closed", "throttled"} {
			fmt.Fprintf(&exp, "sift_ingest_events_received_total{result=%q,source=%q} %d\n", res, s, events[s+"/"+res])
		}
	}
	exp.WriteString("# HELP sift_ingest_requests_rejected_total Requests refused before any event was applied, by source format and reason (invalid, too_large, read_error).\n# TYPE sift_ingest_requests_rejected_total counter\n")
	rejected := map[string]int{"prometheus/invalid": 1, "generic/too_large": 1, "pagerduty/invalid": 1}
	for _, s := range []string{"alertmanager", "generic", "pagerduty", "prometheus"} {
		for _, reason := range []string{"invalid", "read_error", "too_large"} {
			fmt.Fprintf(&exp, "sift_ingest_requests_rejected_total{reason=%q,source=%q} %d\n", reason, s, rejected[s+"/"+reason])
		}
	}
	require.NoError(t, testutil.GatherAndCompare(r.reg, strings.NewReader(exp.String()),
		"sift_ingest_events_received_total", "sift_ingest_requests_rejected_total"))
}

func TestReceiverNilRegisterer(t *testing.T) {
	// Without a Registerer nothing is registered, so two receivers can
	// coexist (tests, reload).
	for range 2 {
		recv := NewReceiver(ReceiverOptions{Submitter: &fakeSubmitter{}})
		mux := http.NewServeMux()
		recv.Register(mux)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/api/v2/alerts", strings.NewReader(`[{"labels":{"a":"b"}}]`)))
		require.Equal(t, http.StatusOK, w.Code)
	}
}

// TestReceiverConcurrent runs the four endpoints from many goroutines, for
// the race detector and to check that pooled buffers are not shared
// between requests.
func TestReceiverConcurrent(t *testing.T) {
	r := newRig(t, func(o *ReceiverOptions) { o.NewDedupKey = nil })
	bodies := make([][]byte, len(endpoints))
	for i, ep := range endpoints {
		bodies[i] = readTestdata(t, ep.okFile)
	}
	const workers, perWorker = 8, 25
	var wg sync.WaitGroup
	errs := make(chan string, workers*perWorker)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				k := (w + i) % len(endpoints)
				rec := r.post(endpoints[k].path, bodies[k], i%2 == 0)
				if rec.Code != endpoints[k].okCode {
					errs <- fmt.Sprintf("%s: %d %s", endpoints[k].path, rec.Code, rec.Body)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	_, events := r.sub.snapshot()
	want := 0
	bySource := map[Source]int{}
	for w := range workers {
		for i := range perWorker {
			ep := endpoints[(w+i)%len(endpoints)]
			want += ep.nEvents
			bySource[ep.src] += ep.nEvents
		}
	}
	require.Len(t, events, want)
	for i := range events {
		require.NoError(t, eventInvariants(&events[i], events[i].Source, receiverNow))
	}
	for src, n := range bySource {
		require.Equal(t, float64(n), r.counter(t, "sift_ingest_events_received_total", "source", string(src), "result", "accepted"))
	}
}
