package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/incident"
)

// Log is the notification log (correlate's, in the engine state):
// Notification reads a record, Record writes one.
type Log interface {
	Notification(k correlate.NotificationKey) (*correlate.NotificationRecord, bool)
	RecordNotification(ctx context.Context, r correlate.NotificationRecord) (*correlate.NotificationRecord, error)
}

// Plan is what a reload may swap: the routing tree and the templates.
type Plan struct {
	Route    *Route
	Template *Template
}

// Options configures a Notifier.
type Options struct {
	Plan      Plan
	Receivers []Receiver
	Log       Log
	// Alerts returns an incident's alerts for templates and routing
	// labels; none when nil.
	Alerts func(inc *incident.Incident) template.Alerts
	// CIAttr reads CMDB attributes for routing labels; none when nil.
	CIAttr CIAttrFunc
	// Incident returns the newest version of an incident (repeats and
	// held events look at it); nil when gone.
	Incident func(id string) *incident.Incident
	// QueueCapacity bounds the incident changes waiting to be routed
	// (10000).
	QueueCapacity int
	// FlapHold: resolved and reopened events of an incident with a
	// flapping alert wait this long after the last flap; only the net
	// change is sent. 0 sends them at once.
	FlapHold time.Duration
	// MaxEventAge: events older than this when first seen are not sent
	// (an incident that changes long after notify was configured, or a
	// replay of old state); 0 for no limit. 1h when unset.
	MaxEventAge *time.Duration
	// TickInterval is how often held events and repeats are looked at
	// (1s).
	TickInterval time.Duration

	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now, Sleep and Rand are the clock, the wait between retries (and
	// for the rate limit) and the jitter source: seams for tests.
	Now   func() time.Time
	Sleep func(context.Context, time.Duration) error
	Rand  func() float64
}

// Notifier is a correlate.Sink that routes incident events to receivers.
// See the package documentation for its contract.
type Notifier struct {
	opts    Options
	m       *metrics
	plan    atomic.Pointer[Plan]
	queue   chan job
	workers map[string][]*worker // by receiver name

	// cursors are the timeline lengths seen per incident: owned by
	// Consume's goroutine.
	cursors map[uint64]int

	// inflight are the notifications queued or being delivered, so that
	// a change seen twice before its record lands sends once.
	mu       sync.Mutex
	inflight map[correlate.NotificationKey]struct{}

	// Owned by the dispatch goroutine.
	flapping map[uint64]time.Time // incident seq -> hold until
	held     map[uint64][]heldEvent
	repeats  map[repeatKey]*repeat

	// backlog are the events Resume found, routed when Run starts.
	backlog []job

	wg sync.WaitGroup
	// tickC replaces the ticker in tests.
	tickC <-chan time.Time
}

type job struct {
	inc      *incident.Incident
	occ      []Occurrence
	flapping []uint64
	at       time.Time
}

type heldEvent struct {
	inc *incident.Incident
	occ Occurrence
}

type repeatKey struct {
	seq      uint64
	receiver string
}

type repeat struct {
	interval time.Duration
	base     Occurrence
	next     time.Time
	n        uint64
}

// New returns a notifier; subscribe it to the engine and call Run.
func New(o Options) (*Notifier, error) {
	if o.Plan.Route == nil || o.Plan.Template == nil {
		return nil, errors.New("notify: no route or no template")
	}
	if o.Log == nil {
		return nil, errors.New("notify: no notification log")
	}
	if o.QueueCapacity <= 0 {
		o.QueueCapacity = 10000
	}
	if o.MaxEventAge == nil {
		h := time.Hour
		o.MaxEventAge = &h
	}
	if o.TickInterval <= 0 {
		o.TickInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.Alerts == nil {
		o.Alerts = func(*incident.Incident) template.Alerts { return nil }
	}
	if o.Incident == nil {
		o.Incident = func(string) *incident.Incident { return nil }
	}
	n := &Notifier{
		opts:     o,
		queue:    make(chan job, o.QueueCapacity),
		workers:  map[string][]*worker{},
		cursors:  map[uint64]int{},
		inflight: map[correlate.NotificationKey]struct{}{},
		flapping: map[uint64]time.Time{},
		held:     map[uint64][]heldEvent{},
		repeats:  map[repeatKey]*repeat{},
	}
	n.m = newMetrics(o.Registerer, func() float64 { return float64(len(n.queue)) }, o.QueueCapacity)
	f := promauto.With(o.Registerer)
	for _, r := range o.Receivers {
		if _, dup := n.workers[r.Name]; dup {
			return nil, fmt.Errorf("notify: receiver %q defined twice", r.Name)
		}
		n.workers[r.Name] = []*worker{}
		count := map[string]int{}
		for _, in := range r.Integrations {
			name := r.Name + "/" + in.Type
			if i := count[in.Type]; i > 0 {
				name = fmt.Sprintf("%s[%d]", name, i)
			}
			count[in.Type]++
			w := newWorker(n, r, in, name)
			n.workers[r.Name] = append(n.workers[r.Name], w)
			n.m.initialize(r.Name, in.Type)
			f.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "sift", Subsystem: "notify", Name: "queue_length_notifications",
				Help:        "Notifications waiting for an integration.",
				ConstLabels: prometheus.Labels{"receiver": r.Name, "integration": name}}, func() float64 { return float64(len(w.queue)) })
		}
	}
	if err := n.checkRoutes(o.Plan.Route); err != nil {
		return nil, err
	}
	n.plan.Store(&o.Plan)
	return n, nil
}

func (n *Notifier) checkRoutes(r *Route) error {
	if _, ok := n.workers[r.Receiver]; !ok {
		return fmt.Errorf("notify: %s: no receiver named %q", r.Path, r.Receiver)
	}
	for _, c := range r.Routes {
		if err := n.checkRoutes(c); err != nil {
			return err
		}
	}
	return nil
}

// SetPlan swaps the routes and templates (a reload). The routes may only
// name the receivers the notifier was made with.
func (n *Notifier) SetPlan(p Plan) error {
	if p.Route == nil || p.Template == nil {
		return errors.New("notify: no route or no template")
	}
	if err := n.checkRoutes(p.Route); err != nil {
		return err
	}
	n.plan.Store(&p)
	return nil
}

// Consume implements correlate.Sink: it derives the events of the
// batch's incident changes and queues them, never blocking; a change
// that does not fit is dropped and counted.
func (n *Notifier) Consume(b *correlate.Batch) {
	var flapping []uint64
	for i := range b.Changes {
		c := &b.Changes[i]
		if c.Alert != nil && c.Alert.Flapping && c.Alert.IncidentSeq != 0 {
			flapping = append(flapping, c.Alert.IncidentSeq)
		}
	}
	if len(flapping) > 0 {
		n.enqueue(job{flapping: flapping, at: b.Now})
	}
	for i := range b.Changes {
		inc := b.Changes[i].Incident
		if inc == nil {
			continue
		}
		from := n.cursors[inc.Seq]
		if len(inc.Timeline) < from {
			from = 0 // not a later version of what was seen: look again
		}
		n.cursors[inc.Seq] = len(inc.Timeline)
		if inc.State == incident.StateClosed {
			delete(n.cursors, inc.Seq)
		}
		occ := Derive(inc, from)
		if len(occ) == 0 {
			continue
		}
		n.enqueue(job{inc: inc, occ: occ, at: b.Now})
	}
}

// Resume takes up the incidents of a state the notifier did not see
// being made (a restart: a snapshot restored and the write-ahead log
// replayed): their events (Rederive) are routed when Run starts, and each
// notification the log does not record as sent or held goes out (one
// recorded as failed is tried again), subject to MaxEventAge like any
// other. The log is read when Run routes them, so it must hold the
// records of the recovered state by then. The changes Consume sees next
// are taken from where these timelines end. Call it before Run, and
// before the engine hands Consume any batch. It returns the number of
// events found.
func (n *Notifier) Resume(incs []*incident.Incident) int {
	found := 0
	for _, inc := range incs {
		if inc.State != incident.StateClosed {
			n.cursors[inc.Seq] = len(inc.Timeline)
		}
		occ := Rederive(inc)
		if len(occ) == 0 {
			continue
		}
		found += len(occ)
		n.backlog = append(n.backlog, job{inc: inc, occ: occ, at: n.opts.Now()})
	}
	return found
}

func (n *Notifier) enqueue(j job) {
	select {
	case n.queue <- j:
	default:
		n.m.dropped.Inc()
	}
}

// Run routes and delivers until ctx is cancelled; then it routes what is
// queued, lets every integration deliver what it holds until drain is
// done, and returns. Deliveries still waiting then are counted as
// dropped.
func (n *Notifier) Run(ctx, drain context.Context) error {
	for _, ws := range n.workers {
		for _, w := range ws {
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				w.run(drain)
			}()
		}
	}
	// What Resume found comes before anything Consume queued since.
	backlog := n.backlog
	n.backlog = nil
	for _, j := range backlog {
		n.dispatch(j)
	}
	tickC := n.tickC
	if tickC == nil {
		tick := time.NewTicker(n.opts.TickInterval)
		defer tick.Stop()
		tickC = tick.C
	}
	for {
		select {
		case j := <-n.queue:
			n.dispatch(j)
		case <-tickC:
			// What is queued happened before the tick.
			for len(n.queue) > 0 {
				n.dispatch(<-n.queue)
			}
			n.tick()
		case <-ctx.Done():
			for len(n.queue) > 0 && drain.Err() == nil {
				n.dispatch(<-n.queue)
			}
			if k := len(n.queue); k > 0 {
				n.m.dropped.Add(float64(k))
			}
			for _, ws := range n.workers {
				for _, w := range ws {
					close(w.queue)
				}
			}
			n.wg.Wait()
			return nil
		}
	}
}

// dispatch routes a job's events to their integrations.
func (n *Notifier) dispatch(j job) {
	now := n.opts.Now()
	for _, seq := range j.flapping {
		if n.opts.FlapHold > 0 {
			n.flapping[seq] = j.at.Add(n.opts.FlapHold)
		}
	}
	if j.inc == nil {
		return
	}
	var alerts template.Alerts
	fetched := false
	for _, o := range j.occ {
		if age := *n.opts.MaxEventAge; age > 0 && now.Sub(o.At) > age {
			continue
		}
		if (o.Event == EventResolved || o.Event == EventReopened) && now.Before(n.flapping[j.inc.Seq]) {
			n.held[j.inc.Seq] = append(n.held[j.inc.Seq], heldEvent{inc: j.inc, occ: o})
			continue
		}
		if !fetched {
			alerts, fetched = n.opts.Alerts(j.inc), true
		}
		n.route(j.inc, o, alerts, false)
	}
}

// route sends one event to the integrations of the receivers its labels
// reach; held, it records it as held for them instead.
func (n *Notifier) route(inc *incident.Incident, o Occurrence, alerts template.Alerts, held bool) {
	p := n.plan.Load()
	ls := Labels(o.Event, inc, alerts, n.opts.CIAttr)
	for _, t := range p.Route.Receivers(ls) {
		if t.RepeatInterval > 0 && !held {
			n.scheduleRepeat(inc, o, t)
		}
		for _, w := range n.workers[t.Receiver] {
			m := &Message{Event: o.Event, Occurrence: o, Incident: inc, Alerts: alerts, Labels: ls, Receiver: w.name, tmpl: p.Template}
			w.offer(m, held)
		}
	}
}

func (n *Notifier) scheduleRepeat(inc *incident.Incident, o Occurrence, t Target) {
	k := repeatKey{inc.Seq, t.Receiver}
	switch o.Event {
	case EventOpened, EventReopened:
		n.repeats[k] = &repeat{interval: t.RepeatInterval, base: o, next: o.At.Add(t.RepeatInterval)}
	case EventAcknowledged, EventResolved, EventClosed:
		delete(n.repeats, k)
	}
}

// tick releases held events whose incident stopped flapping, and sends
// the repeats that are due.
func (n *Notifier) tick() {
	now := n.opts.Now()
	for seq, until := range n.flapping {
		if now.Before(until) {
			continue
		}
		delete(n.flapping, seq)
		evs := n.held[seq]
		delete(n.held, seq)
		if len(evs) == 0 {
			continue
		}
		// Before the first held event the incident was open if that
		// event resolved it; after the last, open if it reopened it.
		openBefore := evs[0].occ.Event == EventResolved
		last := evs[len(evs)-1]
		openAfter := last.occ.Event == EventReopened
		alerts := n.opts.Alerts(last.inc)
		for i, h := range evs {
			// The last event goes out if it changed the state the hold
			// began with; the rest are recorded as held, routed alike.
			n.route(h.inc, h.occ, alerts, i < len(evs)-1 || openBefore == openAfter)
		}
	}
	for k, r := range n.repeats {
		if now.Before(r.next) {
			continue
		}
		inc := n.opts.Incident(incident.ID(k.seq))
		if inc == nil || inc.State != incident.StateNew {
			delete(n.repeats, k)
			continue
		}
		for !now.Before(r.next) {
			r.n++
			r.next = r.next.Add(r.interval)
		}
		// The occurrence names the opening it repeats and the repeat's
		// number, so a restart that repeats again sends nothing twice.
		o := Occurrence{Event: EventRepeat, Occurrence: r.base.Occurrence<<16 | r.n, At: now, Actor: incident.SystemActor, Text: r.base.Text}
		alerts := n.opts.Alerts(inc)
		p := n.plan.Load()
		ls := Labels(EventRepeat, inc, alerts, n.opts.CIAttr)
		for _, w := range n.workers[k.receiver] {
			w.offer(&Message{Event: EventRepeat, Occurrence: o, Incident: inc, Alerts: alerts, Labels: ls, Receiver: w.name, tmpl: p.Template}, false)
		}
	}
}

// claim reports whether the notification is neither recorded as done
// nor already on its way, and marks it on its way.
func (n *Notifier) claim(k correlate.NotificationKey) bool {
	if r, ok := n.opts.Log.Notification(k); ok && r.Final() {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.inflight[k]; ok {
		return false
	}
	n.inflight[k] = struct{}{}
	return true
}

func (n *Notifier) release(k correlate.NotificationKey) {
	n.mu.Lock()
	delete(n.inflight, k)
	n.mu.Unlock()
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
