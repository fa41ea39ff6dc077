package ingest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sift-itsm/sift/internal/httpapi"
)

// DefaultMaxBodySize is the largest request body a receiver reads unless
// configured otherwise.
const DefaultMaxBodySize = 8 << 20

// ErrQueueFull is returned by a Submitter that has no room for a batch. The
// receivers answer it with 503 and Retry-After, so that producers back off
// instead of siftd growing without bound.
var ErrQueueFull = errors.New("engine queue is full")

// ErrClosed is returned by a Submitter that no longer accepts events
// because the daemon is shutting down.
var ErrClosed = errors.New("engine is shutting down")

// Submitter takes a validated batch of events. It must not block: it
// either takes the whole batch or none of it and says why.
type Submitter interface {
	Submit(events []Event) error
}

// ReceiverOptions configures a Receiver.
type ReceiverOptions struct {
	Submitter  Submitter
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock that stamps ReceivedAt; time.Now when nil.
	Now func() time.Time
	// NewDedupKey makes the dedup_key of a PagerDuty trigger that has none;
	// 32 random hex digits when nil.
	NewDedupKey func() string
	// MaxBodySize bounds a request body in bytes; DefaultMaxBodySize when 0.
	MaxBodySize int64
	// RetryAfter is what a 503 tells producers to wait.
	RetryAfter time.Duration
}

// Receiver serves the HTTP endpoints of the four wire formats.
//
// Concurrency: handlers run on any number of goroutines; the only shared
// mutable state is the body size limit (atomic) and the metrics.
type Receiver struct {
	sub        Submitter
	logger     *slog.Logger
	now        func() time.Time
	newKey     func() string
	maxBody    atomic.Int64
	retryAfter atomic.Pointer[string]
	m          *receiverMetrics
	bufs       sync.Pool
}

type receiverMetrics struct {
	events   *prometheus.CounterVec
	rejected *prometheus.CounterVec
	bytes    *prometheus.CounterVec
}

func newReceiverMetrics(reg prometheus.Registerer) *receiverMetrics {
	f := promauto.With(reg)
	m := &receiverMetrics{
		events: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sift", Subsystem: "ingest", Name: "events_received_total",
			Help: "Events received, by source format and result: accepted, or throttled when the engine queue was full, or closed during shutdown.",
		}, []string{"source", "result"}),
		rejected: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sift", Subsystem: "ingest", Name: "requests_rejected_total",
			Help: "Requests refused before any event was applied, by source format and reason (invalid, too_large, read_error).",
		}, []string{"source", "reason"}),
		bytes: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sift", Subsystem: "ingest", Name: "received_bytes_total",
			Help: "Request body bytes read, by source format.",
		}, []string{"source"}),
	}
	for _, s := range Sources {
		for _, r := range []string{"accepted", "throttled", "closed"} {
			m.events.WithLabelValues(string(s), r)
		}
		for _, r := range []string{"invalid", "too_large", "read_error"} {
			m.rejected.WithLabelValues(string(s), r)
		}
		m.bytes.WithLabelValues(string(s))
	}
	return m
}

// NewReceiver returns a Receiver. Submitter is required.
func NewReceiver(o ReceiverOptions) *Receiver {
	r := &Receiver{
		sub:    o.Submitter,
		logger: o.Logger,
		now:    o.Now,
		newKey: o.NewDedupKey,
		m:      newReceiverMetrics(o.Registerer),
	}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.newKey == nil {
		r.newKey = randomKey
	}
	if o.MaxBodySize <= 0 {
		o.MaxBodySize = DefaultMaxBodySize
	}
	r.maxBody.Store(o.MaxBodySize)
	r.SetRetryAfter(o.RetryAfter)
	r.bufs.New = func() any { return new(bytes.Buffer) }
	return r
}

// SetMaxBodySize changes the body size limit; config reload calls it.
func (r *Receiver) SetMaxBodySize(n int64) {
	if n <= 0 {
		n = DefaultMaxBodySize
	}
	r.maxBody.Store(n)
}

// SetRetryAfter changes what a 503 tells producers to wait, rounded up to
// whole seconds (1s when d <= 0); config reload calls it.
func (r *Receiver) SetRetryAfter(d time.Duration) {
	if d <= 0 {
		d = time.Second
	}
	s := strconv.Itoa(int((d + time.Second - 1) / time.Second))
	r.retryAfter.Store(&s)
}

// Register mounts the receivers on mux.
func (r *Receiver) Register(mux *http.ServeMux) {
	mux.Handle("POST /api/v2/alerts", r.batchHandler(SourcePrometheus, ParsePrometheus, http.StatusOK))
	mux.Handle("POST /api/v1/alertmanager", r.batchHandler(SourceAlertmanager, ParseAlertmanager, http.StatusOK))
	mux.Handle("POST /api/v1/events", r.batchHandler(SourceGeneric, ParseGeneric, http.StatusAccepted))
	mux.HandleFunc("POST /v2/enqueue", r.pagerDuty)
}

// errorBody is the JSON error of the Prometheus, Alertmanager and generic
// endpoints: {"code":400,"message":...} as Alertmanager's API answers,
// plus the field and batch index of the offending event when known.
type errorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	Index   *int   `json:"index,omitempty"`
}

var writeJSON = httpapi.WriteJSON

func writeError(w http.ResponseWriter, code int, err error) {
	body := errorBody{Code: code, Message: err.Error()}
	var fe *FieldError
	if errors.As(err, &fe) {
		body.Field = fe.Field
		if fe.Index >= 0 {
			idx := fe.Index
			body.Index = &idx
		}
	}
	writeJSON(w, code, body)
}

type batchParser func(body []byte, receivedAt time.Time) ([]Event, error)

func (r *Receiver) batchHandler(src Source, parse batchParser, okCode int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		buf, code, err := r.readBody(w, req, src)
		if err != nil {
			writeError(w, code, err)
			return
		}
		defer r.bufs.Put(buf)
		events, err := parse(buf.Bytes(), r.now())
		if err != nil {
			r.m.rejected.WithLabelValues(string(src), "invalid").Inc()
			r.logger.Debug("rejected request", "source", src, "err", err)
			writeError(w, http.StatusBadRequest, err)
			return
		}
		if code, err := r.submit(w, src, events); err != nil {
			writeError(w, code, err)
			return
		}
		if okCode == http.StatusOK {
			w.WriteHeader(http.StatusOK)
			return
		}
		writeJSON(w, okCode, struct {
			Status   string `json:"status"`
			Accepted int    `json:"accepted"`
		}{"success", len(events)})
	})
}

// pdError is the PagerDuty Events v2 error shape.
type pdError struct {
	Status  string   `json:"status"`
	Message string   `json:"message"`
	Errors  []string `json:"errors,omitempty"`
}

func (r *Receiver) pagerDuty(w http.ResponseWriter, req *http.Request) {
	buf, code, err := r.readBody(w, req, SourcePagerDuty)
	if err != nil {
		writeJSON(w, code, pdError{Status: http.StatusText(code), Message: err.Error()})
		return
	}
	defer r.bufs.Put(buf)
	ev, err := ParsePagerDuty(buf.Bytes(), r.now(), r.newKey)
	if err != nil {
		r.m.rejected.WithLabelValues(string(SourcePagerDuty), "invalid").Inc()
		msg := err.Error()
		var fe *FieldError
		if errors.As(err, &fe) && fe.Field != "" {
			msg = "'" + fe.Field + "' " + fe.Msg
		}
		writeJSON(w, http.StatusBadRequest, pdError{Status: "invalid event", Message: "Event object is invalid", Errors: []string{msg}})
		return
	}
	if code, err := r.submit(w, SourcePagerDuty, []Event{ev}); err != nil {
		writeJSON(w, code, pdError{Status: http.StatusText(code), Message: err.Error()})
		return
	}
	dk, _ := ev.Labels.Get("dedup_key")
	writeJSON(w, http.StatusAccepted, struct {
		Status   string `json:"status"`
		Message  string `json:"message"`
		DedupKey string `json:"dedup_key"`
	}{"success", "Event processed", dk})
}

// readBody reads the request body into a pooled buffer, refusing bodies
// over the limit. On error it returns the HTTP status to answer.
func (r *Receiver) readBody(w http.ResponseWriter, req *http.Request, src Source) (*bytes.Buffer, int, error) {
	limit := r.maxBody.Load()
	if req.ContentLength > limit {
		r.m.rejected.WithLabelValues(string(src), "too_large").Inc()
		return nil, http.StatusRequestEntityTooLarge, tooLarge(limit)
	}
	buf := r.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	if req.ContentLength > 0 {
		buf.Grow(int(req.ContentLength))
	}
	n, err := buf.ReadFrom(http.MaxBytesReader(w, req.Body, limit))
	r.m.bytes.WithLabelValues(string(src)).Add(float64(n))
	if err != nil {
		r.bufs.Put(buf)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			r.m.rejected.WithLabelValues(string(src), "too_large").Inc()
			return nil, http.StatusRequestEntityTooLarge, tooLarge(limit)
		}
		r.m.rejected.WithLabelValues(string(src), "read_error").Inc()
		return nil, http.StatusBadRequest, &FieldError{Index: -1, Msg: "reading body: " + err.Error()}
	}
	return buf, 0, nil
}

func tooLarge(limit int64) error {
	return &FieldError{Index: -1, Msg: "body exceeds the limit of " + strconv.FormatInt(limit, 10) + " bytes"}
}

func (r *Receiver) submit(w http.ResponseWriter, src Source, events []Event) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	err := r.sub.Submit(events)
	switch {
	case err == nil:
		r.m.events.WithLabelValues(string(src), "accepted").Add(float64(len(events)))
		return 0, nil
	case errors.Is(err, ErrQueueFull):
		r.m.events.WithLabelValues(string(src), "throttled").Add(float64(len(events)))
		w.Header().Set("Retry-After", *r.retryAfter.Load())
		return http.StatusServiceUnavailable, err
	case errors.Is(err, ErrClosed):
		r.m.events.WithLabelValues(string(src), "closed").Add(float64(len(events)))
		w.Header().Set("Retry-After", *r.retryAfter.Load())
		return http.StatusServiceUnavailable, err
	}
	return http.StatusInternalServerError, err
}

func randomKey() string {
	var b [16]byte
	_, _ = io.ReadFull(rand.Reader, b[:])
	return hex.EncodeToString(b[:])
}
