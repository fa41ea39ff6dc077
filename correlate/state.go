package correlate

import (
	"container/heap"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/prometheus/common/model"

	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/ingest"
	"github.com/sift-itsm/sift/rules"
)

// ChangeKind says what happened to an alert.
type ChangeKind uint8

// Change kinds.
const (
	// AlertOpened: a new alert, or a resolved one firing again.
	AlertOpened ChangeKind = iota + 1
	// AlertUpdated: severity, annotations, labels (under a partial
	// identity) or acknowledgement changed on a firing alert.
	AlertUpdated
	// AlertResolved: resolved by an event or by expiry.
	AlertResolved
	// IncidentOpened: a new incident, in its first version.
	IncidentOpened
	// IncidentUpdated: any change of an incident (alerts joining or
	// resolving, state, priority, notes); one per incident and batch.
	IncidentUpdated
	// ProblemOpened and ProblemUpdated: a problem's first and later
	// versions, one per problem and batch.
	ProblemOpened
	ProblemUpdated
)

func (k ChangeKind) String() string {
	switch k {
	case AlertOpened:
		return "opened"
	case AlertUpdated:
		return "updated"
	case AlertResolved:
		return "resolved"
	case IncidentOpened:
		return "incident_opened"
	case IncidentUpdated:
		return "incident_updated"
	case ProblemOpened:
		return "problem_opened"
	case ProblemUpdated:
		return "problem_updated"
	}
	return "unknown"
}

// Change is one visible change of an alert or an incident: the row after
// the change (Alert for alert kinds, Incident for incident kinds).
type Change struct {
	Kind     ChangeKind
	Alert    *Alert
	Incident *incident.Incident
	Problem  *incident.Problem
	// Expired is set on AlertResolved when no event resolved the alert
	// but its endsAt or resolve_timeout passed.
	Expired bool
}

// Batch is what the engine applied in one write transaction: the events in
// the order applied, the engine clock, and the resulting changes. Sinks
// receive every batch after it is committed.
type Batch struct {
	// Seq numbers batches from 1 in the order they were applied.
	Seq uint64
	// Mark is the number of the batch's mark in the write-ahead log
	// (BatchMark), 0 without one: a sink that must see a batch exactly
	// as a replay would make it waits until the mark is durable.
	Mark   uint64
	Now    time.Time
	Events []ingest.Event
	// Actions are the users' actions on incidents the batch applied.
	Actions []incident.Action
	// Breaches are the SLA clocks that ran out in the batch.
	Breaches []SLABreach
	Changes  []Change
	// Duplicates counts the events for a held alert that changed nothing
	// readers see.
	Duplicates int
	// Ignored counts resolves and acknowledges for alerts sift does not
	// hold.
	Ignored int
}

// Settings are the engine parameters that a config reload may change.
type Settings struct {
	// BatchMaxEvents and BatchMaxWait bound a micro-batch.
	BatchMaxEvents int
	BatchMaxWait   time.Duration
	// ResolveTimeout resolves a firing alert that had no endsAt and no
	// event for that long, as in Alertmanager.
	ResolveTimeout time.Duration
	// ResolvedRetention is how long a resolved alert stays in memory.
	ResolvedRetention time.Duration
	// TickInterval is how often the engine checks expiry when idle.
	TickInterval time.Duration

	// ResolveHold is how long all of an incident's alerts must stay
	// resolved before it resolves itself; ReopenWindow how long after
	// that a correlated alert reopens it rather than opening a new one;
	// CloseAfter how long a resolved incident waits to close;
	// ClosedRetention how long a closed one stays in memory.
	ResolveHold     time.Duration
	ReopenWindow    time.Duration
	CloseAfter      time.Duration
	ClosedRetention time.Duration
	// ImpactSpread: an incident over more CIs than this has its impact
	// raised one level.
	ImpactSpread int
	// EventSkew is how far past its receipt an event's own time may lie
	// (clocks of sources run ahead); later times are clamped.
	EventSkew time.Duration
	// An alert that changed between firing and resolved FlapChanges
	// times within FlapWindow is flapping: it goes back to its incident
	// rather than open a new one per flap.
	FlapChanges int
	FlapWindow  time.Duration
	// SLATargets are the respond and resolve targets by priority (index
	// 1..5); SLAPauseOnHold stops the resolve clock while on hold.
	SLATargets     [6]incident.SLATarget
	SLAPauseOnHold bool
	// RecurrenceCount incidents of one signature opened within
	// RecurrenceWindow open a problem; 0 turns problems off.
	RecurrenceCount  int
	RecurrenceWindow time.Duration
	// ChangeLookback: changes that started this long before an incident
	// opened are its probable changes.
	ChangeLookback time.Duration
}

// DefaultSettings are the engine defaults.
func DefaultSettings() Settings {
	return Settings{
		BatchMaxEvents:    1000,
		BatchMaxWait:      5 * time.Millisecond,
		ResolveTimeout:    5 * time.Minute,
		ResolvedRetention: time.Hour,
		TickInterval:      time.Second,
		ResolveHold:       5 * time.Minute,
		ReopenWindow:      time.Hour,
		CloseAfter:        24 * time.Hour,
		ClosedRetention:   24 * time.Hour,
		ImpactSpread:      incident.DefaultImpactSpread,
		EventSkew:         time.Minute,
		FlapChanges:       4,
		FlapWindow:        10 * time.Minute,
		SLATargets:        incident.DefaultSLATargets,
		SLAPauseOnHold:    true,
		RecurrenceCount:   3,
		RecurrenceWindow:  7 * 24 * time.Hour,
		ChangeLookback:    2 * time.Hour,
	}
}

// entry is the engine's own, private view of an alert: where its row is
// and when it is next due for expiry or removal.
type entry struct {
	row *Alert
	// hot holds the counters every version of row points to; kept here
	// to save an allocation per alert.
	hot hotCounters
	// due is when the alert next needs the engine: a firing alert's
	// expiry, a resolved alert's removal. Unix nanoseconds; 0 for never.
	due int64
	// scheduled is the due time of the timer the heap holds for it.
	scheduled int64
	// episode counts the alert's firing episodes, from 1.
	episode int
	// inc is the incident the alert last joined.
	inc *incState
	// flips are the times of the alert's latest status changes, oldest
	// first, at most Settings.FlapChanges; nil until it first resolves.
	flips []int64
}

// flip records a status change at t.
func (e *entry) flip(t int64, set *Settings) {
	if set.FlapChanges <= 0 {
		return
	}
	if len(e.flips) >= set.FlapChanges {
		copy(e.flips, e.flips[1:])
		e.flips = e.flips[:len(e.flips)-1]
	}
	e.flips = append(e.flips, t)
}

// flapping reports whether the alert changed FlapChanges times within
// FlapWindow before t.
func (e *entry) flapping(t int64, set *Settings) bool {
	return set.FlapChanges > 0 && len(e.flips) >= set.FlapChanges && t-e.flips[0] <= int64(set.FlapWindow)
}

// state is the deterministic core of the engine: given the same events and
// the same clock readings, it makes the same rows and changes. Only the
// engine's writer goroutine touches it.
type state struct {
	db *memdb.MemDB
	// pages are the alerts table's pages; alerts the engine's own index
	// of the alerts it holds, for dedup without memdb.
	pages  *alertPages
	alerts map[model.Fingerprint]*entry
	timers timerHeap
	// topo is the CMDB snapshot of the current batch; nil without one.
	topo Topology
	// rules are the rules of the current batch, never nil; inhibit the
	// firing alerts indexed for their inhibit rules.
	rules   *rules.Set
	inhibit *rules.InhibitIndex
	// scratch for correlate
	matched []*rules.CorrelationRule
	keyBuf  []byte
	// recaused are incidents whose probable cause changed in this batch.
	recaused []*incState

	// changes are the change events within the lookback, by start.
	changes []ChangeEvent

	sigs      map[string]*sigState
	problems  map[uint64]*probState
	probSeq   uint64
	dirtyProb []*probState

	incidents map[uint64]*incState
	// groups holds, by rule and group key, the newest incident not yet
	// closed; ciInc the same by CI, for topology rules.
	groups    map[string]*incState
	ciInc     map[string]*incState
	incTimers timerHeap
	slaTimers timerHeap
	incSeq    uint64
	// openIncidents counts incidents in an open state.
	openIncidents int

	// silences are the silences not yet ended; mutedBy the alerts each
	// muted.
	silences []*Silence
	mutedBy  map[string][]model.Fingerprint
	silSeq   uint64
	// applyNo counts apply calls; dirty and removedInc are the incidents
	// this one changed and removed.
	applyNo    uint64
	dirty      []*incState
	removedInc []*incState
	// active counts firing alerts by severity.
	active [len(severityIndex)]int
	seq    uint64
	// mark numbers the batches the write-ahead log marked (marks.go).
	mark uint64
}

var severityIndex = [...]ingest.Severity{ingest.SeverityCritical, ingest.SeverityMajor, ingest.SeverityMinor, ingest.SeverityWarning, ingest.SeverityInfo}

func newState() *state {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		panic("correlate: invalid memdb schema: " + err.Error())
	}
	st := &state{
		db:        db,
		pages:     newAlertPages(),
		alerts:    make(map[model.Fingerprint]*entry),
		incidents: make(map[uint64]*incState),
		groups:    make(map[string]*incState),
		ciInc:     make(map[string]*incState),
		mutedBy:   make(map[string][]model.Fingerprint),
		sigs:      make(map[string]*sigState),
		problems:  make(map[uint64]*probState),
	}
	st.setRules(rules.Default())
	return st
}

// txn opens the batch's write transaction on first use, so a batch of pure
// duplicates never takes memdb's writer lock.
// Alert rows go to their pages (pages.go), which commit writes.
type lazyTxn struct {
	db    *memdb.MemDB
	txn   *memdb.Txn
	pages *alertPages
}

func (l *lazyTxn) open() *memdb.Txn {
	if l.txn == nil {
		l.txn = l.db.Txn(true)
	}
	return l.txn
}

func (l *lazyTxn) insert(a *Alert) { l.pages.put(a) }

func (l *lazyTxn) delete(a *Alert) { l.pages.remove(a.Fingerprint) }

func (l *lazyTxn) deleteIncident(inc *incident.Incident) {
	if err := l.open().Delete(incident.Table, inc); err != nil {
		panic("correlate: memdb delete: " + err.Error())
	}
}

// write puts a row in any memdb table (incidents, problems, changes,
// silences, notifications); remove is for the small tables (changes): a
// missing row is fine.
func (l *lazyTxn) write(table string, obj any) {
	if err := l.open().Insert(table, obj); err != nil {
		panic("correlate: memdb insert: " + err.Error())
	}
}

func (l *lazyTxn) remove(table string, obj any) {
	_ = l.open().Delete(table, obj)
}

func (l *lazyTxn) commit() {
	l.pages.flush(l.open)
	if l.txn != nil {
		l.txn.Commit()
	}
}

// apply applies events and then the expiry due at now, in one memdb write
// transaction, and returns the batch. A batch in which nothing happened
// has Seq 0.
func (s *state) apply(now time.Time, events []ingest.Event, set *Settings) *Batch {
	b := &Batch{Now: now, Events: events}
	tx := lazyTxn{db: s.db, pages: s.pages}
	s.applyNo++
	if len(s.changes) > 0 && s.changes[0].Start.Before(now.Add(-set.ChangeLookback)) {
		s.pruneChanges(&tx, now, set)
	}
	if len(s.silences) > 0 {
		s.unsilence(&tx, now, set, b)
	}
	for i := range events {
		s.runTimers(&tx, unixNano(events[i].ReceivedAt), set, b)
		s.applyEvent(&tx, &events[i], set, b)
	}
	s.runTimers(&tx, unixNano(now), set, b)
	s.flushIncidents(&tx, b, set)
	tx.commit()
	if len(events) > 0 || len(b.Changes) > 0 {
		s.seq++
		b.Seq = s.seq
	}
	return b
}

func (s *state) applyEvent(tx *lazyTxn, ev *ingest.Event, set *Settings, b *Batch) {
	recv := unixNano(ev.ReceivedAt)
	e := s.alerts[ev.Fingerprint]
	// runTimers has run every timer due before recv: e is current.
	// Only a firing event describes the alert (labels, annotations,
	// severity). A resolve says it is over and a PagerDuty acknowledge that
	// someone is on it; neither carries a description, so neither may
	// overwrite one.
	describes := ev.Status == ingest.StatusFiring && !ev.Acknowledge
	if e == nil {
		if !describes {
			// A resolve or acknowledge for an alert sift does not hold
			// (never seen, or already gone from memory): it reaches the
			// sinks with the batch but makes no row.
			b.Ignored++
			return
		}
		a := &Alert{
			Fingerprint: ev.Fingerprint,
			Status:      ingest.StatusFiring,
			Severity:    ev.Severity,
			Version:     1,
			firstSeen:   recv,
			startsAt:    unixNano(ev.StartsAt),
		}
		a.describe(ev, true)
		e = &entry{row: a, episode: 1}
		a.hot = &e.hot
		s.touch(a, ev)
		s.setEndsAt(a, ev)
		s.alerts[ev.Fingerprint] = e
		s.correlate(e, a, ev, set)
		tx.insert(a)
		s.active[a.Severity]++
		s.schedule(e, s.expiry(ev, set))
		b.Changes = append(b.Changes, Change{Kind: AlertOpened, Alert: a})
		return
	}

	old := e.row
	s.touch(old, ev)
	switch {
	case describes && old.Status == ingest.StatusResolved:
		// It fires again: a new episode of the same alert.
		s.setEndsAt(old, ev)
		a := s.revise(old, ev)
		a.Status = ingest.StatusFiring
		a.startsAt = unixNano(ev.StartsAt)
		a.resolvedAt = 0
		a.Acknowledged = false
		e.row = a
		e.episode++
		e.flip(recv, set)
		a.Flapping = e.flapping(recv, set)
		s.correlate(e, a, ev, set)
		tx.insert(a)
		s.active[a.Severity]++
		s.schedule(e, s.expiry(ev, set))
		b.Changes = append(b.Changes, Change{Kind: AlertOpened, Alert: a})

	case ev.Status == ingest.StatusResolved && old.Status == ingest.StatusFiring:
		if e.episode > 1 && unixNano(ev.StartsAt) < old.startsAt {
			// A late resolve of an earlier episode (its start is before
			// this one's): the alert has fired again since.
			b.Duplicates++
			return
		}
		s.setEndsAt(old, ev)
		resolvedAt := recv
		if !ev.EndsAt.IsZero() {
			resolvedAt = unixNano(ev.EndsAt)
		}
		// The start may have been defaulted to a receive time after the
		// real one; an alert cannot end before it starts.
		resolvedAt = max(resolvedAt, old.startsAt)
		a := *old
		a.Status = ingest.StatusResolved
		a.resolvedAt = resolvedAt
		a.Version++
		s.active[old.Severity]--
		e.row = &a
		tx.insert(&a)
		e.flip(recv, set)
		s.alertResolved(e, &a, old.Severity, recv, set)
		s.schedule(e, ev.ReceivedAt.Add(set.ResolvedRetention).UnixNano())
		b.Changes = append(b.Changes, Change{Kind: AlertResolved, Alert: &a})

	case ev.Acknowledge && old.Status == ingest.StatusFiring && !old.Acknowledged:
		a := *old
		a.Acknowledged = true
		a.Version++
		e.row = &a
		tx.insert(&a)
		b.Changes = append(b.Changes, Change{Kind: AlertUpdated, Alert: &a})

	case describes && old.Status == ingest.StatusFiring:
		// A duplicate: the shared counters changed above; a new severity,
		// annotations or labels (under a partial identity) also make a
		// new row.
		s.setEndsAt(old, ev)
		s.schedule(e, s.expiry(ev, set))
		if !changedVisibly(old, ev) {
			b.Duplicates++
			return
		}
		a := s.revise(old, ev)
		s.active[old.Severity]--
		s.active[a.Severity]++
		e.row = a
		tx.insert(a)
		s.inhibit.Add(a.Fingerprint, a.Labels)
		s.severityChanged(e, old.Severity, a.Severity, recv, set)
		b.Changes = append(b.Changes, Change{Kind: AlertUpdated, Alert: a})

	default:
		// A resolve of a resolved alert (Prometheus resends them for a
		// while), or an acknowledge that changes nothing.
		b.Duplicates++
	}
}

// changedVisibly reports whether a describing duplicate changes what
// readers see of the alert. Labels only change under a partial identity.
func changedVisibly(a *Alert, ev *ingest.Event) bool {
	if ev.Severity != a.Severity || ev.RawSeverity != a.RawSeverity() {
		return true
	}
	if !ev.Annotations.Equal(a.Annotations) {
		return true
	}
	return ev.Identity != nil && !ev.Labels.Equal(a.Labels)
}

// revise returns a copy of a with the event's descriptive fields and the
// next version. The hot counters stay shared.
func (s *state) revise(a *Alert, ev *ingest.Event) *Alert {
	n := *a
	n.describe(ev, false)
	n.Severity = ev.Severity
	n.Version++
	return &n
}

// touch counts an event on the shared counters.
func (s *state) touch(a *Alert, ev *ingest.Event) {
	a.hot.count.Add(1)
	a.hot.lastSeen.Store(unixNano(ev.ReceivedAt))
}

// setEndsAt records the endsAt of an event that describes or resolves the
// alert; acknowledges and late resolves say nothing of when it ends.
func (s *state) setEndsAt(a *Alert, ev *ingest.Event) {
	if !ev.EndsAt.IsZero() {
		a.hot.endsAt.Store(unixNano(ev.EndsAt))
	} else {
		a.hot.endsAt.Store(0)
	}
}

// expiry is when a firing alert resolves by itself after ev: at the
// source's endsAt if it sent one, else resolve_timeout after ev arrived for
// sources that resend firing alerts (Prometheus, generic). Alertmanager's
// webhook and PagerDuty resolve explicitly and do not resend in between
// (Alertmanager only every repeat_interval, 4h by default), so a timeout
// would resolve alerts that are still firing: theirs never expire; 0.
func (s *state) expiry(ev *ingest.Event, set *Settings) int64 {
	if !ev.EndsAt.IsZero() {
		return unixNano(ev.EndsAt)
	}
	switch ev.Source {
	case ingest.SourceAlertmanager, ingest.SourcePagerDuty:
		return 0
	}
	return ev.ReceivedAt.Add(set.ResolveTimeout).UnixNano()
}

func (s *state) resolveExpired(tx *lazyTxn, e *entry, set *Settings, b *Batch) {
	old := e.row
	a := *old
	a.Status = ingest.StatusResolved
	a.resolvedAt = e.due
	a.Version++
	s.active[old.Severity]--
	e.row = &a
	tx.insert(&a)
	e.flip(e.due, set)
	s.alertResolved(e, &a, old.Severity, e.due, set)
	s.schedule(e, unixNano(a.ResolvedAt().Add(set.ResolvedRetention)))
	b.Changes = append(b.Changes, Change{Kind: AlertResolved, Alert: &a, Expired: true})
}

// command runs fn, a user's or a sink's command, at now in a batch of its
// own: the timers due by then first, then fn, then the incidents and
// problems it changed, all in one write transaction. The batch has a
// sequence number if anything changed.
func (s *state) command(now time.Time, set *Settings, fn func(tx *lazyTxn, at int64, b *Batch)) *Batch {
	b := &Batch{Now: now}
	tx := lazyTxn{db: s.db, pages: s.pages}
	s.applyNo++
	if len(s.silences) > 0 {
		// As a batch of events does: silences that ended by now let
		// their alerts correlate before the command sees the state
		// (the same state on replay, which has no idle batches).
		s.unsilence(&tx, now, set, b)
	}
	at := unixNano(now)
	s.runTimers(&tx, at, set, b)
	fn(&tx, at, b)
	s.flushIncidents(&tx, b, set)
	tx.commit()
	if len(b.Changes) > 0 {
		s.seq++
		b.Seq = s.seq
	}
	return b
}

// runTimers fires every alert and incident timer due at or before now, in
// time order across the two heaps (alerts first at equal times). Called
// before each event with its receive time and at the end of a batch with
// the clock, it runs timers in the same order however events are batched.
func (s *state) runTimers(tx *lazyTxn, now int64, set *Settings, b *Batch) {
	for {
		// The earliest due timer of the three heaps; at equal times
		// alerts, then incident lifecycle, then SLA clocks.
		var h *timerHeap
		for _, c := range [...]*timerHeap{&s.timers, &s.incTimers, &s.slaTimers} {
			if len(*c) > 0 && (*c)[0].at <= now && (h == nil || (*c)[0].at < (*h)[0].at) {
				h = c
			}
		}
		switch h {
		case nil:
			return
		case &s.timers:
			s.alertTimer(tx, heap.Pop(h).(timer), set, b)
		case &s.incTimers:
			s.incidentTimer(heap.Pop(h).(timer), set)
		default:
			s.slaTimer(heap.Pop(h).(timer), b)
		}
	}
}

// alertTimer resolves a firing alert whose time is up, or drops a resolved
// one past retention from memory.
func (s *state) alertTimer(tx *lazyTxn, t timer, set *Settings, b *Batch) {
	e := s.alerts[model.Fingerprint(t.id)]
	if e == nil || e.scheduled != t.at {
		return // stale: superseded by an earlier timer
	}
	e.scheduled = 0
	if e.due == 0 {
		return
	}
	if e.due > t.at {
		s.schedule(e, e.due)
		return
	}
	if e.row.Status == ingest.StatusFiring {
		s.resolveExpired(tx, e, set, b)
		return
	}
	s.remove(tx, e)
}

// remove drops a resolved alert from memory.
func (s *state) remove(tx *lazyTxn, e *entry) {
	s.inhibit.Remove(e.row.Fingerprint)
	tx.delete(e.row)
	delete(s.alerts, e.row.Fingerprint)
	e.due = 0
}

// schedule sets e's due time. The heap is lazy: a due time that moves
// later (every Prometheus resend) costs nothing now; the old timer is
// pushed again for the new time when it fires.
func (s *state) schedule(e *entry, due int64) {
	e.due = due
	if due == 0 {
		return
	}
	if e.scheduled == 0 || due < e.scheduled {
		heap.Push(&s.timers, timer{at: due, id: uint64(e.row.Fingerprint)})
		e.scheduled = due
	}
}

// timer is a due time of an alert (id is its fingerprint) or an incident
// (its sequence number); each kind has its own heap.
type timer struct {
	at int64
	id uint64
}

type timerHeap []timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].id < h[j].id
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)   { *h = append(*h, x.(timer)) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}
