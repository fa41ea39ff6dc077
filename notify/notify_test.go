package notify

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/config"
	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/incident"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// newIncident is version 1 of an incident opened at t0.
func newIncident(seq uint64) *incident.Incident {
	return &incident.Incident{
		Seq: seq, Title: "HighLatency on api", State: incident.StateNew, Rule: "default", GroupKey: "HighLatency/api",
		Priority: 2, Impact: 1, Urgency: 2, CIs: []string{"api"}, ProbableCause: "api", SupportGroup: "web",
		OpenedAt: t0, UpdatedAt: t0, LastAlertAt: t0, Version: 1,
		Timeline: []incident.Entry{{At: t0, Actor: "system", Kind: incident.EntryOpened, Text: "opened by rule default"}},
	}
}

// next returns the next version of inc at t with entries appended.
func next(inc *incident.Incident, t time.Time, es ...incident.Entry) *incident.Incident {
	n := inc.Revise(t)
	for _, e := range es {
		if e.At.IsZero() {
			e.At = t
		}
		if e.Actor == "" {
			e.Actor = "system"
		}
		n.Log(e)
		switch {
		case e.Kind == incident.EntryState:
			s, err := incident.ParseState(e.To)
			if err != nil {
				panic(err)
			}
			n.State = s
		case e.Kind == incident.EntryPriority:
			p, _ := incident.ParsePriority(e.To)
			n.Priority = p
		}
	}
	return n
}

func state(from, to string) incident.Entry {
	return incident.Entry{Kind: incident.EntryState, From: from, To: to, Text: from + " -> " + to}
}

func batch(now time.Time, incs ...*incident.Incident) *correlate.Batch {
	b := &correlate.Batch{Seq: 1, Now: now}
	for _, inc := range incs {
		k := correlate.IncidentUpdated
		if inc.Version == 1 {
			k = correlate.IncidentOpened
		}
		b.Changes = append(b.Changes, correlate.Change{Kind: k, Incident: inc})
	}
	return b
}

func TestDerive(t *testing.T) {
	inc := newIncident(1)
	f := func(inc *incident.Incident, from int, want ...string) {
		t.Helper()
		var got []string
		for _, o := range Derive(inc, from) {
			got = append(got, fmt.Sprintf("%s#%d %s>%s", o.Event, o.Occurrence, o.From, o.To))
		}
		require.Equal(t, want, got)
	}
	f(inc, 0, "opened#1 >")
	v2 := next(inc, t0.Add(time.Minute),
		incident.Entry{Kind: incident.EntryAlertAdded, Text: "x"},
		incident.Entry{Kind: incident.EntryPriority, From: "P2", To: "P1"})
	f(v2, 1, "priority_changed#3 P2>P1")
	f(v2, 0, "opened#1 >") // opened in the same stretch: the message shows P1
	v3 := next(v2, t0.Add(2*time.Minute),
		incident.Entry{Kind: incident.EntryPriority, From: "P1", To: "P2"},
		incident.Entry{Kind: incident.EntryPriority, From: "P2", To: "P3"},
		state("new", "acknowledged"),
		incident.Entry{Kind: incident.EntryNote, Text: "looking"},
		state("acknowledged", "in_progress"),
		state("in_progress", "resolved"),
		state("resolved", "in_progress"),
		state("in_progress", "resolved"),
		state("resolved", "closed"),
		incident.Entry{Kind: incident.EntryNotification, Text: "notified x"})
	f(v3, 3, "priority_changed#5 P1>P3", "acknowledged#6 new>acknowledged", "resolved#9 in_progress>resolved",
		"reopened#10 resolved>in_progress", "resolved#11 in_progress>resolved", "closed#12 resolved>closed")
	f(v3, len(v3.Timeline))

	// The engine's SLA breaches and the problem an incident's recurrence
	// opened are events; a plain link to a problem is not.
	v4 := next(v3, t0.Add(3*time.Minute),
		incident.Entry{Kind: incident.EntrySLABreach, To: incident.BreachRespond},
		incident.Entry{Kind: incident.EntryProblem, To: "PRB0000001", Text: "recurs under problem PRB0000001"},
		incident.Entry{Kind: incident.EntryProblem, From: incident.ProblemOpenedMark, To: "PRB0000002"})
	f(v4, len(v3.Timeline), "sla_breached#14 >respond", "problem_opened#16 opened>PRB0000002")
}

// TestRederive: a whole timeline derived stretch by stretch of one
// clock, as a notifier that saw each batch derived it.
func TestRederive(t *testing.T) {
	inc := next(newIncident(1), t0, incident.Entry{Kind: incident.EntryPriority, From: "P2", To: "P1"})
	inc = next(inc, t0.Add(time.Minute),
		incident.Entry{Kind: incident.EntryPriority, From: "P1", To: "P2"},
		incident.Entry{Kind: incident.EntryPriority, From: "P2", To: "P3"})
	inc = next(inc, t0.Add(2*time.Minute), state("new", "acknowledged"))
	var got []string
	for _, o := range Rederive(inc) {
		got = append(got, fmt.Sprintf("%s#%d %s>%s", o.Event, o.Occurrence, o.From, o.To))
	}
	// The first priority change came with the opening; the next two in a
	// batch of their own collapse into one.
	require.Equal(t, []string{"opened#1 >", "priority_changed#4 P1>P3", "acknowledged#5 new>acknowledged"}, got)
	require.Empty(t, Rederive(&incident.Incident{Seq: 2}))
}

// TestResumeSendsWhatTheLogLacks: a notifier started on recovered state
// sends the events the log does not record as sent or held (a failed one
// again), and takes later changes from where the timelines ended.
func TestResumeSendsWhatTheLogLacks(t *testing.T) {
	log := newMemLog()
	rec := func(receiver, event string, occ uint64, result string) {
		_, err := log.RecordNotification(t.Context(), correlate.NotificationRecord{NotificationKey: correlate.NotificationKey{
			Receiver: receiver, Incident: "INC0000001", Event: event, Occurrence: occ}, Result: result})
		require.NoError(t, err)
	}
	rec("chat/fake", "opened", 1, correlate.NotificationSent)
	rec("pager/fake", "opened", 1, correlate.NotificationSent)
	rec("chat/fake", "acknowledged", 3, correlate.NotificationSent)
	rec("pager/fake", "acknowledged", 3, correlate.NotificationFailed)
	inc := next(newIncident(1), t0.Add(time.Minute), incident.Entry{Kind: incident.EntryPriority, From: "P2", To: "P1"})
	inc = next(inc, t0.Add(2*time.Minute), state("new", "acknowledged"))
	closed := next(newIncident(2), t0.Add(time.Minute), state("new", "closed"))
	var found int
	h := startHarnessAfter(t, twoReceivers, Options{Log: log}, nil, func(n *Notifier) {
		found = n.Resume([]*incident.Incident{inc, closed})
	})
	require.Equal(t, 5, found) // opened (both), priority_changed, acknowledged; opened, closed
	h.clock.set(t0.Add(3 * time.Minute))
	require.ElementsMatch(t, []sent{
		{"chat", "priority_changed", "INC0000001", "", 2}, {"pager", "priority_changed", "INC0000001", "", 2},
		{"pager", "acknowledged", "INC0000001", "", 3},
		{"chat", "opened", "INC0000002", "", 1}, {"pager", "opened", "INC0000002", "", 1},
		{"chat", "closed", "INC0000002", "", 2}, {"pager", "closed", "INC0000002", "", 2},
	}, h.expect(t, 7))

	// The next change: only what it adds.
	v := next(inc, t0.Add(3*time.Minute), state("acknowledged", "resolved"))
	h.n.Consume(batch(t0.Add(3*time.Minute), v))
	require.ElementsMatch(t, []sent{{"chat", "resolved", "INC0000001", "", 4}, {"pager", "resolved", "INC0000001", "", 4}}, h.expect(t, 2))
}

func TestEvents(t *testing.T) {
	var names []string
	for _, e := range Events() {
		names = append(names, e.String())
		p, err := ParseEvent(e.String())
		require.NoError(t, err)
		require.Equal(t, e, p)
	}
	require.Equal(t, config.NotifyEvents, names, "the config knows every event")
	_, err := ParseEvent("exploded")
	require.ErrorContains(t, err, `unknown event "exploded"`)
}

func mustRoute(t *testing.T, yml string) *Route {
	t.Helper()
	c, err := config.Parse([]byte(yml))
	require.NoError(t, err)
	r, err := NewRoute(c.Notify.Route)
	require.NoError(t, err)
	return r
}

const routesYAML = `
notify:
  route:
    receiver: default
    routes:
      - matchers: ['priority=~"P1|P2"', 'event!="repeat"']
        receiver: pager
        continue: true
        repeat_interval: 30m
      - matchers: [support_group=dba]
        receiver: dba
        routes:
          - matchers: [environment=prod]
            receiver: dba-prod
          - matchers: [ci_class=database]
      - matchers: [service=billing]
        receiver: itsm
        repeat_interval: 2h
  receivers: [{name: default}, {name: pager}, {name: dba}, {name: dba-prod}, {name: itsm}]
`

func TestRouteMatch(t *testing.T) {
	r := mustRoute(t, routesYAML)
	f := func(ls map[string]string, want ...string) {
		t.Helper()
		var got []string
		for _, tg := range r.Receivers(ls) {
			got = append(got, fmt.Sprintf("%s@%s/%s", tg.Receiver, tg.Route, tg.RepeatInterval))
		}
		require.Equal(t, want, got)
	}
	f(map[string]string{"priority": "P3"}, "default@route/0s")
	// As in Alertmanager: a matching child, even one that continues,
	// takes the event from its parent.
	f(map[string]string{"priority": "P1", "event": "opened"}, "pager@route.routes[0]/30m0s")
	f(map[string]string{"priority": "P1", "event": "repeat"}, "default@route/0s")
	f(map[string]string{"priority": "P4", "support_group": "dba", "environment": "prod"}, "dba-prod@route.routes[1].routes[0]/0s")
	f(map[string]string{"priority": "P4", "support_group": "dba", "ci_class": "database"}, "dba@route.routes[1].routes[1]/0s")
	f(map[string]string{"priority": "P4", "support_group": "dba"}, "dba@route.routes[1]/0s")
	f(map[string]string{"priority": "P2", "service": "billing"}, "pager@route.routes[0]/30m0s", "itsm@route.routes[2]/2h0m0s")
	require.Contains(t, r.String(), "  route.routes[1] receiver=dba matchers={support_group=\"dba\"}\n")
}

func TestLabels(t *testing.T) {
	inc := newIncident(7)
	alerts := template.Alerts{
		{Labels: template.KV{"alertname": "HighLatency", "service": "api", "environment": "prod", "instance": "a"}},
		{Labels: template.KV{"alertname": "HighLatency", "service": "api", "environment": "prod", "instance": "b", "priority": "low"}},
	}
	attr := func(ci, name string) (string, bool) {
		if ci == "api" && name == "class" {
			return "service", true
		}
		return "", false
	}
	require.Equal(t, map[string]string{
		"alertname": "HighLatency", "service": "api", "environment": "prod",
		"event": "acknowledged", "incident": "INC0000007", "priority": "P2", "impact": "1", "urgency": "2",
		"state": "new", "support_group": "web", "rule": "default", "ci": "api", "ci_class": "service",
	}, Labels(EventAcknowledged, inc, alerts, attr))
}

func testTemplate(t *testing.T) *Template {
	t.Helper()
	tm, err := NewTemplate(nil, "https://sift.example.com/")
	require.NoError(t, err)
	return tm
}

func TestDefaultTemplates(t *testing.T) {
	tm := testTemplate(t)
	inc := next(newIncident(1), t0.Add(time.Minute), state("new", "acknowledged"))
	alerts := template.Alerts{{Status: "firing", Labels: template.KV{"alertname": "HighLatency"}, Annotations: template.KV{"summary": "p99 above 500ms"}}}
	m := NewMessage(tm, EventAcknowledged, inc, alerts, "noc/slack")
	m.Occurrence = Derive(inc, 1)[0]
	m.Occurrence.Actor = "alice"
	r := m.Render()
	require.Equal(t, "[P2] INC0000001 acknowledged by alice: HighLatency on api", r.Text(`{{ template "sift.default.title" . }}`))
	require.Equal(t, `HighLatency on api
Priority P2 (impact 1, urgency 2), state acknowledged
Support group: web
Probable cause: api
CIs: api
new -> acknowledged
Alerts (1 firing, 0 resolved):
- [firing] HighLatency: p99 above 500ms
https://sift.example.com/api/v1/incidents/INC0000001`, r.Text(`{{ template "sift.default.text" . }}`))
	// Alertmanager's functions and data work.
	require.Equal(t, "HIGHLATENCY firing INC0000001", r.Text(`{{ .CommonLabels.alertname | toUpper }} {{ .Status }} {{ .GroupLabels.incident }}`))
	require.Equal(t, "danger", r.Text(`{{ template "sift.color" . }}`))
	require.Equal(t, "error", r.Text(`{{ template "pagerduty.sift.severity" . }}`))
	require.Equal(t, map[string]any{"urgency": int64(2), "short": "INC0000001: HighLatency on api", "kept": true},
		r.Fields(map[string]any{"urgency": "{{ .Incident.Urgency }}", "short": `{{ template "sift.ticket.summary" . }}`, "kept": true, "empty": "{{ .Incident.Assignee }}"}))
	require.NoError(t, r.Err())
	r.Text("{{ .Nope.Field }}")
	require.ErrorContains(t, r.Err(), "template")
}

func TestTemplateFilesOverrideDefaults(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "mine.tmpl"), []byte(`{{ define "sift.default.title" }}{{ .Incident.ID }} is {{ .State }}{{ end }}`), 0o644))
	tm, err := NewTemplate([]string{filepath.Join(dir, "*.tmpl")}, "")
	require.NoError(t, err)
	m := NewMessage(tm, EventOpened, newIncident(3), nil, "x/slack")
	require.Equal(t, "INC0000003 is new", m.Render().Text(`{{ template "sift.default.title" . }}`))
	require.Empty(t, m.Render().Data.URL, "no external_url, no link")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.tmpl"), []byte(`{{ define "x" }}{{ end`), 0o644))
	_, err = NewTemplate([]string{filepath.Join(dir, "*.tmpl")}, "")
	require.ErrorContains(t, err, "notify.templates")
}

// memLog is a notification log in memory.
type memLog struct {
	mu   sync.Mutex
	recs map[correlate.NotificationKey]correlate.NotificationRecord
}

func newMemLog() *memLog {
	return &memLog{recs: map[correlate.NotificationKey]correlate.NotificationRecord{}}
}

func (l *memLog) Notification(k correlate.NotificationKey) (*correlate.NotificationRecord, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.recs[k]
	return &r, ok
}

func (l *memLog) RecordNotification(_ context.Context, r correlate.NotificationRecord) (*correlate.NotificationRecord, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.recs[r.NotificationKey]; ok && old.Final() {
		return &old, nil
	}
	l.recs[r.NotificationKey] = r
	return &r, nil
}

func (l *memLog) results() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]string{}
	for k, r := range l.recs {
		out[k.String()] = r.Result
	}
	return out
}

// clock is a fake clock; sleeping advances it at once.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// sent is what a fake integration received.
type sent struct {
	receiver, event, incident, ticket string
	occurrence                        uint64
}

// harness runs a notifier with fake integrations that report to ch.
type harness struct {
	n      *Notifier
	log    *memLog
	clock  *clock
	ch     chan sent
	tick   chan time.Time
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan struct{}
}

func startHarness(t *testing.T, yml string, o Options, integ map[string]Integration) *harness {
	t.Helper()
	return startHarnessAfter(t, yml, o, integ, nil)
}

// startHarnessAfter is startHarness with prepare run on the notifier
// before Run.
func startHarnessAfter(t *testing.T, yml string, o Options, integ map[string]Integration, prepare func(*Notifier)) *harness {
	t.Helper()
	h := &harness{log: newMemLog(), clock: newClock(), ch: make(chan sent, 100), tick: make(chan time.Time), reg: prometheus.NewRegistry(), done: make(chan struct{})}
	c, err := config.Parse([]byte(yml))
	require.NoError(t, err)
	route, err := NewRoute(c.Notify.Route)
	require.NoError(t, err)
	o.Plan = Plan{Route: route, Template: testTemplate(t)}
	if o.Log == nil {
		o.Log = h.log
	}
	o.Now = h.clock.Now
	o.Registerer = h.reg
	o.Rand = func() float64 { return 0.5 }
	for _, rc := range c.Notify.Receivers {
		r := Receiver{Name: rc.Name, MaxAttempts: rc.Retry.MaxAttempts, InitialBackoff: rc.Retry.InitialBackoff.Std(), MaxBackoff: rc.Retry.MaxBackoff.Std(), Timeout: rc.Timeout.Std(), QueueCapacity: rc.QueueCapacity, RatePerSecond: rc.RateLimit.PerSecond, Burst: rc.RateLimit.Burst}
		in := integ[rc.Name]
		if in == nil {
			in = IntegrationFunc(func(context.Context, *Message) (string, error) { return "", nil })
		}
		name := rc.Name
		r.Integrations = []NamedIntegration{{Type: "fake", Integration: IntegrationFunc(func(ctx context.Context, m *Message) (string, error) {
			ticket, err := in.Notify(ctx, m)
			if err == nil {
				h.ch <- sent{receiver: name, event: m.Event.String(), incident: m.Incident.ID(), ticket: m.Ticket, occurrence: m.Occurrence.Occurrence}
			}
			return ticket, err
		})}}
		o.Receivers = append(o.Receivers, r)
	}
	if o.Sleep == nil {
		o.Sleep = func(ctx context.Context, d time.Duration) error {
			h.clock.mu.Lock()
			h.clock.now = h.clock.now.Add(d)
			h.clock.mu.Unlock()
			return ctx.Err()
		}
	}
	h.n, err = New(o)
	require.NoError(t, err)
	h.n.tickC = h.tick
	if prepare != nil {
		prepare(h.n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() {
		defer close(h.done)
		_ = h.n.Run(ctx, context.Background())
	}()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.cancel()
	<-h.done
}

// expect ticks the notifier, waits for n deliveries and then checks
// that no other comes (the notifier is idle).
func (h *harness) expect(t *testing.T, n int) []sent {
	t.Helper()
	h.idle(t)
	var got []sent
	for len(got) < n {
		select {
		case s := <-h.ch:
			got = append(got, s)
		case <-time.After(5 * time.Second):
			t.Fatalf("got %d deliveries, want %d: %v", len(got), n, got)
		}
	}
	h.idle(t)
	select {
	case s := <-h.ch:
		t.Fatalf("unexpected delivery %v after %v", s, got)
	default:
	}
	return got
}

// idle waits until the dispatcher has routed everything queued and
// run a tick, and every worker has finished: the inflight set is empty.
func (h *harness) idle(t *testing.T) {
	t.Helper()
	// The loop is one goroutine: the second tick is taken once the
	// first (and the queue before it) is done.
	h.tick <- h.clock.Now()
	h.tick <- h.clock.Now()
	require.Eventually(t, func() bool {
		h.n.mu.Lock()
		defer h.n.mu.Unlock()
		return len(h.n.inflight) == 0
	}, 5*time.Second, time.Millisecond)
}

const twoReceivers = `
notify:
  route:
    receiver: chat
    routes:
      - matchers: ['priority=~"P1|P2"']
        receiver: pager
        continue: true
      - receiver: chat
  receivers:
    - name: chat
    - name: pager
      retry: {max_attempts: 4, initial_backoff: 1s, max_backoff: 10s}
`

func TestSameChangeTwiceSendsOnce(t *testing.T) {
	h := startHarness(t, twoReceivers, Options{}, nil)
	b := batch(t0, newIncident(1))
	h.n.Consume(b)
	got := h.expect(t, 2)
	require.ElementsMatch(t, []sent{{"pager", "opened", "INC0000001", "", 1}, {"chat", "opened", "INC0000001", "", 1}}, got)

	h.n.Consume(b) // the same change again
	h.expect(t, 0)

	// A restart: a new notifier with the same log (the engine state)
	// sees the change again, with no cursor: it sends nothing twice.
	h.stop()
	h2 := startHarness(t, twoReceivers, Options{Log: h.log}, nil)
	h2.n.Consume(b)
	h2.expect(t, 0)
	require.Equal(t, 2.0, testutil.ToFloat64(h2.n.m.notifications.WithLabelValues("pager", "fake", "opened", ResultDeduplicated))+
		testutil.ToFloat64(h2.n.m.notifications.WithLabelValues("chat", "fake", "opened", ResultDeduplicated)))
	// and what comes next goes out.
	v2 := next(b.Changes[0].Incident, t0.Add(time.Minute), state("new", "acknowledged"))
	h2.n.Consume(batch(t0.Add(time.Minute), v2))
	require.Len(t, h2.expect(t, 2), 2)
	require.Equal(t, map[string]string{
		"INC0000001 chat/fake opened#1": "sent", "INC0000001 pager/fake opened#1": "sent",
		"INC0000001 chat/fake acknowledged#2": "sent", "INC0000001 pager/fake acknowledged#2": "sent",
	}, h.log.results())
}

func TestConcurrentDuplicateSendsOnce(t *testing.T) {
	// The second copy arrives while the first is still being delivered:
	// the log has no record yet, the inflight set stops it.
	release := make(chan struct{})
	slow := IntegrationFunc(func(context.Context, *Message) (string, error) { <-release; return "", nil })
	h := startHarness(t, twoReceivers, Options{}, map[string]Integration{"chat": slow})
	b := batch(t0, next(newIncident(1), t0, incident.Entry{Kind: incident.EntryPriority, From: "P2", To: "P3"}))
	h.n.Consume(b)
	h.n.Consume(b)
	h.tick <- t0
	close(release)
	got := h.expect(t, 1)
	require.Equal(t, "chat", got[0].receiver)
}

func TestFailingReceiverRetriesWithBackoffWithoutDelayingOthers(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	chatDone := make(chan struct{})
	flaky := IntegrationFunc(func(context.Context, *Message) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls <= 2 {
			return "", errors.New("503 Service Unavailable")
		}
		return "", nil
	})
	var sleeps []time.Duration
	c := newClock()
	o := Options{Sleep: func(ctx context.Context, d time.Duration) error {
		// The pager's retries wait here until chat has delivered: if
		// chat waited for the pager, this would never return.
		select {
		case <-chatDone:
		case <-time.After(5 * time.Second):
			return errors.New("chat was delayed by the failing pager")
		}
		mu.Lock()
		sleeps = append(sleeps, d)
		mu.Unlock()
		c.set(c.Now().Add(d))
		return nil
	}}
	h := startHarness(t, twoReceivers, o, map[string]Integration{
		"pager": flaky,
		"chat": IntegrationFunc(func(context.Context, *Message) (string, error) {
			close(chatDone)
			return "", nil
		}),
	})
	h.n.Consume(batch(t0, newIncident(1)))
	got := h.expect(t, 2)
	require.Equal(t, "chat", got[0].receiver, "chat first: the pager was still backing off")
	require.Equal(t, "pager", got[1].receiver)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 3, calls)
	// 1s then 2s, jittered to three quarters (rand 0.5).
	require.Equal(t, []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond}, sleeps)
	require.Equal(t, 2.0, testutil.ToFloat64(h.n.m.retries.WithLabelValues("pager", "fake")))
	require.Equal(t, 1.0, testutil.ToFloat64(h.n.m.notifications.WithLabelValues("pager", "fake", "opened", ResultSent)))
	rec, ok := h.log.Notification(correlate.NotificationKey{Receiver: "pager/fake", Incident: "INC0000001", Event: "opened", Occurrence: 1})
	require.True(t, ok)
	require.Equal(t, 3, rec.Attempts)
}

func TestGivesUpAfterMaxAttemptsAndOnPermanentErrors(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	fail := func(name string, err error) Integration {
		return IntegrationFunc(func(context.Context, *Message) (string, error) {
			mu.Lock()
			calls[name]++
			mu.Unlock()
			return "", err
		})
	}
	h := startHarness(t, twoReceivers, Options{}, map[string]Integration{
		"pager": fail("pager", errors.New("connection refused")),
		"chat":  fail("chat", Permanent(errors.New("400 Bad Request"))),
	})
	h.n.Consume(batch(t0, newIncident(1)))
	h.expect(t, 0)
	require.Equal(t, map[string]int{"pager": 4, "chat": 1}, calls)
	require.Equal(t, map[string]string{"INC0000001 chat/fake opened#1": "failed", "INC0000001 pager/fake opened#1": "failed"}, h.log.results())
	require.Equal(t, 1.0, testutil.ToFloat64(h.n.m.notifications.WithLabelValues("pager", "fake", "opened", ResultFailed)))

	// A failed event is tried again when its change is seen again after
	// a restart (the log says it failed).
	h.stop()
	h2 := startHarness(t, twoReceivers, Options{Log: h.log}, map[string]Integration{
		"pager": fail("pager", errors.New("connection refused")),
		"chat":  IntegrationFunc(func(context.Context, *Message) (string, error) { return "", nil }),
	})
	h2.n.Consume(batch(t0, newIncident(1)))
	require.Equal(t, "chat", h2.expect(t, 1)[0].receiver)
	require.Equal(t, map[string]int{"pager": 8, "chat": 1}, calls)
	require.Equal(t, map[string]string{"INC0000001 chat/fake opened#1": "sent", "INC0000001 pager/fake opened#1": "failed"}, h.log.results())
}

func TestTicketIsKeptForLaterEvents(t *testing.T) {
	var mu sync.Mutex
	created := 0
	ticketer := IntegrationFunc(func(_ context.Context, m *Message) (string, error) {
		if m.Ticket != "" {
			return m.Ticket, nil
		}
		mu.Lock()
		defer mu.Unlock()
		created++
		return fmt.Sprintf("T-%d", created), nil
	})
	h := startHarness(t, twoReceivers, Options{}, map[string]Integration{"chat": ticketer})
	v1 := newIncident(1)
	h.n.Consume(batch(t0, v1))
	require.Equal(t, "", h.expect(t, 2)[0].ticket)
	v2 := next(v1, t0.Add(time.Minute), state("new", "acknowledged"))
	h.n.Consume(batch(t0.Add(time.Minute), v2))
	got := h.expect(t, 2)
	for _, s := range got {
		if s.receiver == "chat" {
			require.Equal(t, "T-1", s.ticket, "the update goes to the ticket the create made")
		}
	}
	require.Equal(t, 1, created)
	rec, _ := h.log.Notification(correlate.NotificationKey{Receiver: "chat/fake", Incident: "INC0000001", Event: "opened", Occurrence: 1})
	require.Equal(t, "T-1", rec.Ticket)

	// After a restart the ticket comes from the incident (the engine
	// stored it there with the record).
	h.stop()
	v3 := next(v2, t0.Add(2*time.Minute), state("acknowledged", "resolved"))
	v3.Tickets = map[string]string{"chat/fake": "T-1"}
	h2 := startHarness(t, twoReceivers, Options{Log: h.log}, map[string]Integration{"chat": ticketer})
	h2.n.Consume(batch(t0.Add(2*time.Minute), v3))
	for _, s := range h2.expect(t, 2) {
		if s.receiver == "chat" {
			require.Equal(t, "T-1", s.ticket)
		}
	}
	require.Equal(t, 1, created)
}

func TestFlappingIncidentIsHeldBack(t *testing.T) {
	h := startHarness(t, twoReceivers, Options{FlapHold: 10 * time.Minute}, nil)
	v1 := newIncident(1)
	h.n.Consume(batch(t0, v1))
	h.expect(t, 2)

	flap := func(at time.Time, inc *incident.Incident) {
		b := batch(at, inc)
		b.Changes = append(b.Changes, correlate.Change{Kind: correlate.AlertOpened, Alert: &correlate.Alert{Flapping: true, IncidentSeq: 1}})
		h.clock.set(at)
		h.n.Consume(b)
	}
	v2 := next(v1, t0.Add(time.Minute), state("new", "resolved"))
	flap(t0.Add(time.Minute), v2)
	v3 := next(v2, t0.Add(2*time.Minute), state("resolved", "new"))
	flap(t0.Add(2*time.Minute), v3)
	h.expect(t, 0)
	// The hold ends with the incident open, as it was: nothing to say.
	h.clock.set(t0.Add(13 * time.Minute))
	h.expect(t, 0)
	require.Equal(t, "held", h.log.results()["INC0000001 chat/fake resolved#2"])
	require.Equal(t, "held", h.log.results()["INC0000001 pager/fake reopened#3"])

	// Resolved and still resolved after the hold: the resolve goes out.
	v4 := next(v3, t0.Add(14*time.Minute), state("new", "resolved"))
	flap(t0.Add(14*time.Minute), v4)
	h.expect(t, 0)
	h.clock.set(t0.Add(25 * time.Minute))
	got := h.expect(t, 2)
	require.Equal(t, "resolved", got[0].event)
	require.Equal(t, uint64(4), got[0].occurrence)
}

func TestRepeatWhileUnacknowledged(t *testing.T) {
	const yml = `
notify:
  route:
    receiver: chat
    repeat_interval: 1h
  receivers: [{name: chat}]
`
	var mu sync.Mutex
	current := newIncident(1)
	h := startHarness(t, yml, Options{Incident: func(id string) *incident.Incident {
		mu.Lock()
		defer mu.Unlock()
		return current
	}}, nil)
	h.n.Consume(batch(t0, current))
	h.expect(t, 1)
	h.clock.set(t0.Add(59 * time.Minute))
	h.expect(t, 0)
	h.clock.set(t0.Add(61 * time.Minute))
	got := h.expect(t, 1)
	require.Equal(t, sent{"chat", "repeat", "INC0000001", "", 1<<16 | 1}, got[0])
	h.clock.set(t0.Add(3*time.Hour + time.Minute))
	got = h.expect(t, 1)
	require.Equal(t, uint64(1<<16|3), got[0].occurrence, "missed repeats are not sent in a burst")

	mu.Lock()
	current = next(current, t0.Add(3*time.Hour+2*time.Minute), state("new", "acknowledged"))
	mu.Unlock()
	h.n.Consume(batch(t0.Add(3*time.Hour+2*time.Minute), current))
	h.expect(t, 1)
	h.clock.set(t0.Add(10 * time.Hour))
	h.expect(t, 0)
}

func TestOldEventsAreNotSent(t *testing.T) {
	h := startHarness(t, twoReceivers, Options{}, nil)
	h.clock.set(t0.Add(2 * time.Hour))
	v2 := next(newIncident(1), t0.Add(2*time.Hour), state("new", "acknowledged"))
	h.n.Consume(batch(t0.Add(2*time.Hour), v2))
	got := h.expect(t, 2)
	require.Equal(t, "acknowledged", got[0].event, "opened two hours ago is not news")
}

func TestQueuesAreBoundedAndCounted(t *testing.T) {
	started, release := make(chan struct{}, 10), make(chan struct{})
	block := IntegrationFunc(func(ctx context.Context, _ *Message) (string, error) {
		started <- struct{}{}
		<-release
		return "", nil
	})
	const yml = `
notify:
  route: {receiver: chat}
  receivers: [{name: chat, queue_capacity: 1}]
`
	h := startHarness(t, yml, Options{}, map[string]Integration{"chat": block})
	h.n.Consume(batch(t0, newIncident(1)))
	<-started // one delivering
	h.n.Consume(batch(t0, newIncident(2)))
	h.n.Consume(batch(t0, newIncident(3)))
	h.tick <- t0
	h.tick <- t0 // routed: one queued, one dropped
	require.Equal(t, 1.0, testutil.ToFloat64(h.n.m.notifications.WithLabelValues("chat", "fake", "opened", ResultDropped)))
	close(release)
	h.expect(t, 2)
	metrics, err := h.reg.Gather()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, mf := range metrics {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"sift_notify_notifications_total", "sift_notify_request_duration_seconds", "sift_notify_retries_total",
		"sift_notify_dropped_changes_total", "sift_notify_dispatch_queue_length_changes", "sift_notify_queue_length_notifications"} {
		require.True(t, names[n], n)
	}

	// The dispatch queue: full, it drops and counts.
	n, err := New(Options{Plan: *h.n.plan.Load(), Log: newMemLog(), QueueCapacity: 1, Receivers: []Receiver{{Name: "chat"}}})
	require.NoError(t, err)
	n.Consume(batch(t0, newIncident(1), newIncident(2)))
	require.Equal(t, 1.0, testutil.ToFloat64(n.m.dropped))
}

func TestBackoffAndBucket(t *testing.T) {
	f := func(n int, r float64, want time.Duration) {
		t.Helper()
		require.Equal(t, want, backoff(n, time.Second, 10*time.Second, r))
	}
	f(1, 0, 500*time.Millisecond)
	f(1, 0.999999, 999999500*time.Nanosecond)
	f(2, 0, time.Second)
	f(3, 1, 4*time.Second)
	f(10, 1, 10*time.Second)

	b := bucket{rate: 2, burst: 2}
	require.Zero(t, b.take(t0))
	require.Zero(t, b.take(t0))
	require.Equal(t, 500*time.Millisecond, b.take(t0))
	require.Equal(t, time.Second, b.take(t0))
	require.Zero(t, (&bucket{}).take(t0), "no rate, no limit")
}

func TestSetPlanChecksReceivers(t *testing.T) {
	h := startHarness(t, twoReceivers, Options{}, nil)
	bad := mustRoute(t, "notify:\n  route: {receiver: other}\n  receivers: [{name: other}]\n")
	require.ErrorContains(t, h.n.SetPlan(Plan{Route: bad, Template: testTemplate(t)}), `no receiver named "other"`)
	good := mustRoute(t, "notify:\n  route: {receiver: pager}\n  receivers: [{name: pager}]\n")
	require.NoError(t, h.n.SetPlan(Plan{Route: good, Template: testTemplate(t)}))
	h.n.Consume(batch(t0, newIncident(1)))
	require.Equal(t, "pager", h.expect(t, 1)[0].receiver)
}

func TestRateLimitSpacesRequests(t *testing.T) {
	const yml = `
notify:
  route: {receiver: chat}
  receivers: [{name: chat, rate_limit: {per_second: 2, burst: 1}}]
`
	var mu sync.Mutex
	var sleeps []time.Duration
	h := &harness{}
	h = startHarness(t, yml, Options{Sleep: func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		sleeps = append(sleeps, d)
		mu.Unlock()
		h.clock.set(h.clock.Now().Add(d))
		return nil
	}}, nil)
	h.n.Consume(batch(t0, newIncident(1), newIncident(2), newIncident(3)))
	h.expect(t, 3)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []time.Duration{500 * time.Millisecond, 500 * time.Millisecond}, sleeps, "one request at once, then one each half second")
}

// BenchmarkConsume is the cost on the engine's goroutine: a batch of 100
// new incidents (each an opened event to derive and queue).
func BenchmarkConsume(b *testing.B) {
	tm, err := NewTemplate(nil, "")
	require.NoError(b, err)
	route, err := NewRoute(&config.NotifyRoute{Receiver: "x"})
	require.NoError(b, err)
	n, err := New(Options{Plan: Plan{Route: route, Template: tm}, Log: newMemLog(), Receivers: []Receiver{{Name: "x"}}, QueueCapacity: 1 << 20})
	require.NoError(b, err)
	incs := make([]*incident.Incident, 100)
	for i := range incs {
		incs[i] = newIncident(uint64(i + 1))
	}
	bt := batch(t0, incs...)
	b.ReportAllocs()
	for b.Loop() {
		clear(n.cursors)
		n.Consume(bt)
		for len(n.queue) > 0 {
			<-n.queue
		}
	}
}
