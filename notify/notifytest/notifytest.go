package notifytest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/notify"
)

// Answer is a scripted response.
type Answer struct {
	Status int
	Body   string
	Header http.Header
}

// Server is a local HTTP server that records requests.
type Server struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string
	answer   func(r *http.Request, body []byte) Answer
}

// NewServer starts a server answering with answer (200 with an empty
// JSON object when nil) and closes it when the test ends.
func NewServer(t *testing.T, answer func(r *http.Request, body []byte) Answer) *Server {
	t.Helper()
	s := &Server{answer: answer}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.requests = append(s.requests, Dump(r, body))
	s.mu.Unlock()
	a := Answer{Status: http.StatusOK, Body: "{}"}
	if s.answer != nil {
		a = s.answer(r, body)
	}
	for k, vs := range a.Header {
		w.Header()[k] = vs
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(a.Status)
	_, _ = io.WriteString(w, a.Body)
}

// Requests are the requests received so far, dumped.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// skipped headers vary with the Go version or the transport.
var skipped = map[string]bool{"Accept-Encoding": true, "Content-Length": true, "Connection": true}

// Dump renders a request as the golden files hold it: the request line,
// the headers in order, and the body, JSON indented.
func Dump(r *http.Request, body []byte) string {
	var b strings.Builder
	b.WriteString(r.Method + " " + r.URL.RequestURI() + "\n")
	var names []string
	for k := range r.Header {
		if !skipped[k] {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		for _, v := range r.Header[k] {
			b.WriteString(k + ": " + v + "\n")
		}
	}
	b.WriteString("\n")
	var out bytes.Buffer
	if json.Indent(&out, body, "", "  ") == nil {
		b.Write(out.Bytes())
	} else {
		b.Write(body)
	}
	b.WriteString("\n")
	return b.String()
}

// Golden compares got with the file testdata/name, or writes it when
// SIFT_UPDATE_GOLDEN is set.
func Golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("SIFT_UPDATE_GOLDEN") != "" {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "no golden file: run with SIFT_UPDATE_GOLDEN=1 and review it")
	require.Equal(t, string(want), got)
}

// T0 is when the sample incident opened.
var T0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// Incident is a sample incident, version 1, opened at T0.
func Incident() *incident.Incident {
	return &incident.Incident{
		Seq: 42, Title: "HighLatency on api-gateway", State: incident.StateNew, Rule: "default", GroupKey: "HighLatency/api",
		Priority: 2, Impact: 1, Urgency: 2, CIs: []string{"api-gateway", "lb1"}, ProbableCause: "api-gateway", SupportGroup: "web-ops",
		Alerts:   []model.Fingerprint{0x1234, 0x5678},
		OpenedAt: T0, UpdatedAt: T0, LastAlertAt: T0, Version: 1,
		Timeline: []incident.Entry{{At: T0, Actor: incident.SystemActor, Kind: incident.EntryOpened, Text: "opened by rule default"}},
	}
}

// Alerts are the sample incident's alerts.
func Alerts() template.Alerts {
	return template.Alerts{
		{Status: "firing", Labels: template.KV{"alertname": "HighLatency", "service": "api", "environment": "prod", "instance": "gw1"},
			Annotations: template.KV{"summary": "p99 latency above 500ms"}, StartsAt: T0, Fingerprint: "0000000000001234"},
		{Status: "resolved", Labels: template.KV{"alertname": "HighLatency", "service": "api", "environment": "prod", "instance": "gw2"},
			Annotations: template.KV{"summary": "p99 latency above 500ms"}, StartsAt: T0, EndsAt: T0.Add(time.Minute), Fingerprint: "0000000000005678"},
	}
}

// Template is the default templates, linking under https://sift.example.com.
func Template(t *testing.T) *notify.Template {
	t.Helper()
	tm, err := notify.NewTemplate(nil, "https://sift.example.com")
	require.NoError(t, err)
	return tm
}

// Event returns the sample incident's version after ev (at T0 + 5m for
// anything but opened) and the message for it.
func Event(t *testing.T, ev notify.Event, receiver string) *notify.Message {
	t.Helper()
	inc := Incident()
	if ev != notify.EventOpened {
		at := T0.Add(5 * time.Minute)
		n := inc.Revise(at)
		e := incident.Entry{At: at, Actor: incident.SystemActor, Kind: incident.EntryState}
		switch ev {
		case notify.EventAcknowledged:
			e.Actor, e.From, e.To, e.Text = "alice", "new", "acknowledged", "looking into it"
			n.State, n.Acknowledged, n.AcknowledgedAt = incident.StateAcknowledged, true, at
		case notify.EventResolved:
			e.From, e.To, e.Text = "new", "resolved", "all alerts resolved"
			n.State, n.ResolvedAt = incident.StateResolved, at
		case notify.EventReopened:
			e.From, e.To, e.Text = "resolved", "new", "alert 0000000000001234 fired again"
		case notify.EventClosed:
			e.From, e.To, e.Text = "resolved", "closed", "closed after the close delay"
			n.State, n.ClosedAt = incident.StateClosed, at
		case notify.EventPriorityChanged:
			e.Kind, e.From, e.To, e.Text = incident.EntryPriority, "P2", "P1", "priority P1"
			n.Priority, n.Impact, n.Urgency = 1, 1, 1
		}
		n.Log(e)
		inc = n
	}
	m := notify.NewMessage(Template(t), ev, inc, Alerts(), receiver)
	m.Occurrence = notify.Derive(inc, len(inc.Timeline)-1)[0]
	return m
}
