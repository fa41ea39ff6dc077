package correlate

import (
	"container/heap"
	"slices"
	"time"

	"github.com/prometheus/common/model"

	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/ingest"
	"github.com/sift-itsm/sift/rules"
)

// Topology is what the engine needs of the CMDB: binding alerts to CIs and
// walking their relations. The engine reads one value for a whole batch;
// an implementation must be an immutable snapshot or safe for concurrent
// reads. Relations run from -> to, "from needs to": to is upstream.
type Topology interface {
	// Bind returns the CI an alert's labels bind to.
	Bind(ls ingest.Labels) (ci string, ok bool)
	// CI describes a CI.
	CI(id string) (CIInfo, bool)
	// Attr returns an attribute of a CI for group keys: id, name, class,
	// environment, criticality, support_group, owner or a free attribute.
	Attr(id, name string) (string, bool)
	// Near calls f for every CI within hops relations of id whose types
	// follows accepts, in either direction, id excluded, until f returns
	// false.
	Near(id string, hops int, follows func(rel string) bool, f func(ci string) bool)
	// DependsOn reports whether a needs b through a chain of at most hops
	// relations followed from -> to.
	DependsOn(a, b string, hops int) bool
	// Upstream calls f for every CI that id needs within hops relations
	// followed from -> to, nearest first, with its distance, until f
	// returns false.
	Upstream(id string, hops int, f func(ci string, hops int) bool)
}

// CIInfo is what the engine uses of a CI.
type CIInfo struct {
	Name string
	// Criticality is 1 (most business-critical) to 4; 0 is unknown.
	Criticality  int
	SupportGroup string
}

// incState is the engine's private view of an incident, as entry is of an
// alert.
type incState struct {
	row  *incident.Incident
	rule *rules.CorrelationRule
	// firing counts the incident's firing alerts by severity.
	firing [len(severityIndex)]int
	// firstEvent and lastEvent bound the event times of the alerts that
	// joined (Unix nanoseconds): the rule's max duration and window.
	firstEvent, lastEvent int64
	cis                   map[string]struct{}
	members               map[model.Fingerprint]struct{}
	bestCriticality       int
	// touched is the apply call that last revised row: within one batch
	// the revision is changed in place and inserted once at the end.
	touched uint64
	// due and scheduled as for entries: auto-resolve, auto-close, removal.
	due, scheduled int64
	// inserted is set once a version is in memdb; removed once the
	// incident left memory.
	inserted, removed bool
	// counted is whether openIncidents counts it.
	counted bool
	// chHops are the hops from the incident's CIs to each change within
	// the lookback before it opened (see noteChanges).
	chHops map[string]int
	// SLA: the next clock check and its timer; time held (Unix ns).
	slaDue, slaScheduled int64
	heldSince, heldTotal int64
}

// indexAt is how many alerts or CIs an incident holds before it indexes
// them in a map: most incidents are small, and a map costs hundreds of
// bytes even when nearly empty.
const indexAt = 32

// isMember reports whether the alert is (or was) one of the incident's.
func (is *incState) isMember(fp model.Fingerprint) bool {
	if is.members != nil {
		_, ok := is.members[fp]
		if !ok {
			is.members[fp] = struct{}{}
		}
		return ok
	}
	if slices.Contains(is.row.Alerts, fp) {
		return true
	}
	if len(is.row.Alerts) >= indexAt {
		is.members = make(map[model.Fingerprint]struct{}, 2*len(is.row.Alerts))
		for _, f := range is.row.Alerts {
			is.members[f] = struct{}{}
		}
		is.members[fp] = struct{}{}
	}
	return false
}

// hasCI reports whether the incident touches the CI.
func (is *incState) hasCI(ci string) bool {
	if is.cis != nil {
		_, ok := is.cis[ci]
		return ok
	}
	if slices.Contains(is.row.CIs, ci) {
		return true
	}
	if len(is.row.CIs) >= indexAt {
		is.cis = make(map[string]struct{}, 2*len(is.row.CIs))
		for _, c := range is.row.CIs {
			is.cis[c] = struct{}{}
		}
	}
	return false
}

// firingCount is how many of the incident's alerts fire.
func (is *incState) firingCount() int {
	n := 0
	for _, c := range is.firing {
		n += c
	}
	return n
}

func (is *incState) key() string { return groupID(is.rule, is.row.GroupKey) }

func groupID(r *rules.CorrelationRule, key string) string { return r.Name + "\xff" + key }

// eventTime is when an event happened by its source, no later than its
// receipt plus the allowed skew: grouping windows run in event time, so a
// replay of history groups as live traffic did.
func eventTime(ev *ingest.Event, skew time.Duration) int64 {
	t := unixNano(ev.StartsAt)
	if ev.StartsAt.IsZero() {
		t = unixNano(ev.ReceivedAt)
	}
	return min(t, unixNano(ev.ReceivedAt.Add(skew)))
}

// correlate finds or opens the incident for alert a, a new row (or the new
// episode of a) not yet inserted, or records why it is suppressed. It sets
// a's CI, incident and suppression.
//
// Order (ARCHITECTURE.md): silences, maintenance windows, inhibition; then
// the alert's own incident if it fires again; then the correlation rules
// in order. An alert belongs to one incident: the first matched rule
// whose group has an incident to join takes it; a rule with continue that
// has none lets the next matched rules look before it opens one.
func (s *state) correlate(e *entry, a *Alert, ev *ingest.Event, set *Settings) {
	topo := s.topo
	if topo != nil && a.CI == "" {
		a.CI, _ = topo.Bind(a.Labels)
	}
	a.setSuppressed("")
	recv := unixNano(ev.ReceivedAt)
	evt := eventTime(ev, set.EventSkew)
	defer s.inhibit.Add(a.Fingerprint, a.Labels)

	if id := s.silencedBy(a.Labels, ev.ReceivedAt); id != "" {
		a.setSuppressed("silence " + id)
		s.mutedBy[id] = append(s.mutedBy[id], a.Fingerprint)
		return
	}
	if w, ok := s.rules.InMaintenance(fromUnixNano(evt), a.CI, a.Labels); ok {
		a.setSuppressed("maintenance " + w)
		return
	}
	if inh, ok := s.inhibit.Inhibits(a.Labels); ok {
		a.setSuppressed("inhibited by " + inh.Rule + " (" + inh.Source.String() + ")")
		return
	}
	_, opens := incident.UrgencyOf(a.Severity)

	// The alert's own previous incident first: a re-fire of a flapping
	// alert goes back to it whatever the windows say.
	if prev := e.inc; prev != nil && !prev.removed && prev.row.State != incident.StateClosed {
		if prev.row.State.Open() || e.flapping(recv, set) || recv-unixNano(prev.row.ResolvedAt) <= int64(set.ReopenWindow) {
			s.join(prev, e, a, evt, recv, set)
			return
		}
	}

	var ciAttr rules.CIAttrFunc
	if a.CI != "" && topo != nil {
		ci := a.CI
		ciAttr = func(name string) (string, bool) { return topo.Attr(ci, name) }
	}
	s.matched = s.rules.AppendMatch(s.matched[:0], a.Labels)
	for i, r := range s.matched {
		s.keyBuf = r.AppendGroupKey(s.keyBuf[:0], a.Labels, ciAttr)
		var target *incState
		if r.Topology != nil && ciAttr != nil {
			key := s.keyBuf
			consider := func(ci string) bool {
				if is := s.ciInc[ci]; is != nil && is.rule.Name == r.Name && is.row.GroupKey == string(key) && s.joinable(is, evt, recv, set) {
					if target == nil || is.row.Seq < target.row.Seq {
						target = is
					}
				}
				return true
			}
			consider(a.CI)
			topo.Near(a.CI, r.Topology.MaxHops, r.Topology.Follows, consider)
		} else if is := s.groups[groupID(r, string(s.keyBuf))]; is != nil && s.joinable(is, evt, recv, set) {
			target = is
		}
		if target != nil {
			s.join(target, e, a, evt, recv, set)
			return
		}
		if r.Continue && i < len(s.matched)-1 {
			continue
		}
		if !opens && !r.InfoOpensIncident {
			return // info: recorded, opens no incident
		}
		key := string(s.keyBuf)
		is := s.openIncident(r, key, a, evt, recv)
		s.join(is, e, a, evt, recv, set)
		s.recur(is, r.Signature(key, a.Labels, ciAttr), recv, set)
		return
	}
}

// joinable reports whether a new alert at event time evt (received at
// recv) may join is: an open incident within its rule's window and
// duration, or a resolved one within the reopen window.
func (s *state) joinable(is *incState, evt, recv int64, set *Settings) bool {
	switch st := is.row.State; {
	case st == incident.StateClosed || is.removed:
		return false
	case !st.Open():
		return recv-unixNano(is.row.ResolvedAt) <= int64(set.ReopenWindow)
	}
	return evt <= is.lastEvent+int64(is.rule.Window) && evt-is.firstEvent <= int64(is.rule.MaxDuration)
}

func (s *state) openIncident(rule *rules.CorrelationRule, key string, a *Alert, evt, recv int64) *incState {
	s.incSeq++
	now := fromUnixNano(recv)
	inc := &incident.Incident{
		Seq:         s.incSeq,
		State:       incident.StateNew,
		Rule:        rule.Name,
		GroupKey:    key,
		OpenedAt:    now,
		UpdatedAt:   now,
		LastAlertAt: fromUnixNano(evt),
		Version:     1,
	}
	inc.SupportGroup = rule.SupportGroup
	is := &incState{row: inc, rule: rule, firstEvent: evt, lastEvent: evt, touched: s.applyNo}
	inc.Log(incident.Entry{At: now, Actor: incident.SystemActor, Kind: incident.EntryOpened, Text: "opened by rule " + rule.Name})
	s.incidents[inc.Seq] = is
	s.groups[is.key()] = is
	s.dirty = append(s.dirty, is)
	return is
}

// mut returns the incident's version for this batch, revising it on first
// use: readers see one new version per batch however many alerts join.
func (s *state) mut(is *incState, now int64) *incident.Incident {
	if is.touched != s.applyNo {
		is.row = is.row.Revise(fromUnixNano(now))
		is.touched = s.applyNo
		s.dirty = append(s.dirty, is)
	} else {
		is.row.UpdatedAt = fromUnixNano(now)
	}
	return is.row
}

// join adds firing alert a (new, or a new episode) to is.
func (s *state) join(is *incState, e *entry, a *Alert, evt, recv int64, set *Settings) {
	inc := s.mut(is, recv)
	now := fromUnixNano(recv)
	if !inc.State.Open() {
		s.reopen(is, "alert "+a.Fingerprint.String()+" fired again", recv)
	}
	member := is.isMember(a.Fingerprint)
	e.inc = is
	a.IncidentSeq = inc.Seq
	if !member {
		inc.Alerts = append(inc.Alerts, a.Fingerprint)
		inc.Log(incident.Entry{At: now, Actor: incident.SystemActor, Kind: incident.EntryAlertAdded, Fingerprint: a.Fingerprint.String(), Text: alertTitle(a)})
	} else {
		inc.Log(incident.Entry{At: now, Actor: incident.SystemActor, Kind: incident.EntryAlertFiring, Fingerprint: a.Fingerprint.String(), Text: alertTitle(a)})
	}
	is.firing[a.Severity]++
	is.lastEvent = max(is.lastEvent, evt)
	inc.LastAlertAt = fromUnixNano(is.lastEvent)
	if is.due != 0 && inc.State.Open() {
		is.due = 0 // a pending auto-resolve is off
	}
	if a.CI != "" {
		if !is.hasCI(a.CI) {
			s.addCI(is, inc, a.CI, now)
			s.noteChanges(is, a.CI, set)
			inc.ProbableChanges = s.rankChanges(is)
		}
	}
	a.setSymptomOf(s.symptomOf(is, a.CI))
	if inc.Title == "" {
		inc.Title = alertTitle(a)
	}
	s.reprioritize(is, inc, now, set)
}

func (s *state) addCI(is *incState, inc *incident.Incident, ci string, now time.Time) {
	if is.hasCI(ci) {
		return
	}
	inc.CIs = append(inc.CIs, ci)
	if is.cis != nil {
		is.cis[ci] = struct{}{}
	}
	s.ciInc[ci] = is
	info, _ := s.topo.CI(ci)
	if info.Criticality > 0 && (is.bestCriticality == 0 || info.Criticality < is.bestCriticality) {
		is.bestCriticality = info.Criticality
	}
	// The most upstream alerting CI explains the others: a newcomer that
	// the current cause needs takes its place.
	hops := causeHops(is.rule)
	if inc.ProbableCause == "" || s.topo.DependsOn(inc.ProbableCause, ci, hops) {
		if inc.ProbableCause != "" {
			s.recaused = append(s.recaused, is)
			inc.Log(incident.Entry{At: now, Actor: incident.SystemActor, Kind: incident.EntryCause, From: inc.ProbableCause, To: ci, Text: "probable cause " + ci})
		}
		inc.ProbableCause = ci
		if info.SupportGroup != "" && inc.Assignee == "" && is.rule.SupportGroup == "" {
			inc.SupportGroup = info.SupportGroup
		}
		inc.Title = causeTitle(inc.Title, ci, info)
	}
}

// causeHops bounds the dependency chains the probable cause is looked for
// along: twice the rule's topology hops.
func causeHops(r *rules.CorrelationRule) int {
	if t := r.Topology; t != nil {
		return 2 * t.MaxHops
	}
	return 2 * rules.DefaultMaxHops
}

// symptomOf returns the incident's probable cause if the CI depends on it.
func (s *state) symptomOf(is *incState, ci string) string {
	cause := is.row.ProbableCause
	if ci == "" || cause == "" || ci == cause || s.topo == nil || !s.topo.DependsOn(ci, cause, causeHops(is.rule)) {
		return ""
	}
	return cause
}

// remarkSymptoms gives the members of incidents whose probable cause
// changed in this batch their new symptom marks.
func (s *state) remarkSymptoms(tx *lazyTxn, b *Batch) {
	for i, is := range s.recaused {
		if slices.Contains(s.recaused[:i], is) {
			continue
		}
		for _, fp := range is.row.Alerts {
			e := s.alerts[fp]
			if e == nil || e.inc != is || e.row.Suppressed() != "" {
				continue
			}
			if want := s.symptomOf(is, e.row.CI); want != e.row.SymptomOf() {
				n := *e.row
				n.setSymptomOf(want)
				n.Version++
				e.row = &n
				tx.insert(&n)
				b.Changes = append(b.Changes, Change{Kind: AlertUpdated, Alert: &n})
			}
		}
	}
	s.recaused = s.recaused[:0]
}

// reprioritize recomputes urgency, impact and priority; a change of
// priority is a timeline entry.
func (s *state) reprioritize(is *incState, inc *incident.Incident, now time.Time, set *Settings) {
	for i, n := range is.firing {
		if n > 0 {
			if u, ok := incident.UrgencyOf(severityIndex[i]); ok {
				inc.Urgency = u
			}
			break
		}
	}
	if inc.Urgency == 0 {
		inc.Urgency = 3
	}
	if is.rule.Urgency > 0 {
		inc.Urgency = is.rule.Urgency
	}
	inc.Impact = incident.ImpactOf(is.bestCriticality, len(inc.CIs), set.ImpactSpread)
	if is.rule.Impact > 0 {
		inc.Impact = is.rule.Impact
	}
	p := incident.PriorityOf(inc.Impact, inc.Urgency)
	if p != inc.Priority {
		if inc.Priority != 0 {
			inc.Log(incident.Entry{At: now, Actor: incident.SystemActor, Kind: incident.EntryPriority, From: inc.Priority.String(), To: p.String(), Text: "priority " + p.String()})
		}
		inc.Priority = p
	}
}

// alertResolved takes a member alert's resolve into its incident: when
// none fires any more, the incident resolves after the resolve hold.
func (s *state) alertResolved(e *entry, a *Alert, sev ingest.Severity, at int64, set *Settings) {
	s.inhibit.Remove(a.Fingerprint)
	is := e.inc
	if is == nil || is.removed || is.row.State == incident.StateClosed || a.Suppressed() != "" {
		return
	}
	inc := s.mut(is, at)
	now := fromUnixNano(at)
	is.firing[sev]--
	inc.Log(incident.Entry{At: now, Actor: incident.SystemActor, Kind: incident.EntryAlertResolve, Fingerprint: a.Fingerprint.String(), Text: alertTitle(a)})
	if is.firingCount() == 0 && inc.State.Open() {
		s.scheduleInc(is, at+int64(set.ResolveHold))
		return
	}
	s.reprioritize(is, inc, now, set)
}

// severityChanged moves a firing member alert between severities.
func (s *state) severityChanged(e *entry, from, to ingest.Severity, at int64, set *Settings) {
	is := e.inc
	if is == nil || is.removed || from == to {
		return
	}
	is.firing[from]--
	is.firing[to]++
	if is.row.State == incident.StateClosed {
		return
	}
	inc := s.mut(is, at)
	s.reprioritize(is, inc, fromUnixNano(at), set)
}

func (s *state) reopen(is *incState, why string, at int64) {
	s.mut(is, at).Reopen(why, fromUnixNano(at))
	is.due = 0
}

// incidentTimer runs an incident's due timer: auto-resolve after the hold,
// auto-close, or removal from memory.
func (s *state) incidentTimer(t timer, set *Settings) {
	is := s.incidents[t.id]
	if is == nil || is.scheduled != t.at {
		return
	}
	is.scheduled = 0
	if is.due == 0 {
		return
	}
	if is.due > t.at {
		s.scheduleInc(is, is.due)
		return
	}
	at := is.due
	is.due = 0
	switch st := is.row.State; {
	case st.Open():
		if is.firingCount() == 0 {
			s.mut(is, at).AutoResolve(fromUnixNano(at))
			s.scheduleInc(is, at+int64(set.CloseAfter))
		}
	case st == incident.StateResolved:
		s.mut(is, at).AutoClose(fromUnixNano(at))
		s.closed(is, at, set)
	default: // closed: out of memory
		s.removeIncident(is)
	}
}

// closed forgets a closed incident as a place for new alerts and schedules
// its removal from memory.
func (s *state) closed(is *incState, at int64, set *Settings) {
	if s.groups[is.key()] == is {
		delete(s.groups, is.key())
	}
	for _, ci := range is.row.CIs {
		if s.ciInc[ci] == is {
			delete(s.ciInc, ci)
		}
	}
	s.scheduleInc(is, at+int64(set.ClosedRetention))
}

func (s *state) removeIncident(is *incState) {
	is.removed = true
	delete(s.incidents, is.row.Seq)
	s.removedInc = append(s.removedInc, is)
}

func (s *state) scheduleInc(is *incState, due int64) {
	is.due = due
	if is.scheduled == 0 || due < is.scheduled {
		heap.Push(&s.incTimers, timer{at: due, id: is.row.Seq})
		is.scheduled = due
	}
}

// flushIncidents writes this batch's incident versions and emits their
// changes.
func (s *state) flushIncidents(tx *lazyTxn, b *Batch, set *Settings) {
	if len(s.dirtyProb) > 0 {
		s.flushProblems(tx, b)
	}
	if len(s.recaused) > 0 {
		s.remarkSymptoms(tx, b)
	}
	for _, is := range s.dirty {
		s.trackSLA(is, unixNano(b.Now), set)
		if open := is.row.State.Open() && !is.removed; open != is.counted {
			is.counted = open
			if open {
				s.openIncidents++
			} else {
				s.openIncidents--
			}
		}
		kind := IncidentUpdated
		if is.row.Version == 1 { // one version per batch: the first is the opening
			kind = IncidentOpened
		}
		b.Changes = append(b.Changes, Change{Kind: kind, Incident: is.row})
		if !is.removed {
			tx.write(incident.Table, is.row)
			is.inserted = true
		}
	}
	for _, is := range s.removedInc {
		if is.inserted {
			tx.deleteIncident(is.row)
		}
	}
	s.dirty, s.removedInc = s.dirty[:0], s.removedInc[:0]
}

func alertTitle(a *Alert) string {
	name, _ := a.Labels.Get("alertname")
	if name == "" {
		name = a.Fingerprint.String()
	}
	return name
}

func causeTitle(title, ci string, info CIInfo) string {
	name := info.Name
	if name == "" {
		name = ci
	}
	for i := 0; i+4 <= len(title); i++ {
		if title[i:i+4] == " on " {
			title = title[:i]
			break
		}
	}
	return title + " on " + name
}

// act applies a user's action at now in a batch of its own, after the
// timers due by then.
func (s *state) act(now time.Time, a *incident.Action, set *Settings) (*incident.Incident, *Batch, error) {
	var (
		inc *incident.Incident
		err error
	)
	b := s.command(now, set, func(_ *lazyTxn, at int64, b *Batch) {
		if inc, err = s.actOn(a, at, set); err == nil {
			b.Actions = append(b.Actions, *a)
		}
	})
	return inc, b, err
}

func (s *state) actOn(a *incident.Action, at int64, set *Settings) (*incident.Incident, error) {
	seq, err := incident.ParseID(a.ID)
	if err != nil {
		return nil, err
	}
	is := s.incidents[seq]
	if is == nil || is.removed {
		return nil, ErrNoIncident
	}
	was := is.row.State
	n, err := incident.Apply(is.row, a, fromUnixNano(at))
	if err != nil {
		return nil, err
	}
	if is.touched == s.applyNo {
		// A timer revised it in this batch already: one version.
		n.Version--
	} else {
		is.touched = s.applyNo
		s.dirty = append(s.dirty, is)
	}
	is.row = n
	switch {
	case n.State == incident.StateResolved && was.Open():
		s.scheduleInc(is, at+int64(set.CloseAfter))
	case n.State == incident.StateClosed:
		s.closed(is, at, set)
	}
	return n, nil
}

// setRules makes rs the rule set from now on. A new set needs a new
// inhibition index, filled with the firing alerts.
func (s *state) setRules(rs *rules.Set) {
	if rs == nil {
		rs = rules.Default()
	}
	if rs == s.rules {
		return
	}
	s.rules = rs
	s.inhibit = rules.NewInhibitIndex(rs)
	for fp, e := range s.alerts {
		if e.row.Status == ingest.StatusFiring {
			s.inhibit.Add(fp, e.row.Labels)
		}
	}
}
