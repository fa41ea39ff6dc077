package correlate

import (
	"container/heap"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/ingest"
	"github.com/sift-itsm/sift/rules"
)

// The engine's state as a snapshot holds it: everything replaying the
// events since the start would rebuild, in plain exported structs for gob.
// Pointers between the engine's structures (an alert's incident, a
// signature's incidents and problem, a group's incident) become sequence
// numbers. Derived indexes (the inhibit index, the per-incident member
// and CI maps) are rebuilt; timer heaps are kept as they are, stale
// entries included, so that timers fire in the same order as they would
// have. A new field of the state must be added here: the round-trip tests
// compare every alert, incident, problem, silence and change after a
// restore, and what the engine does next.
type stateSnapshot struct {
	// Clock is the engine's clock: the last batch's (Unix ns).
	Clock                                 int64
	Seq, ApplyNo, IncSeq, ProbSeq, SilSeq uint64
	// Mark is the last batch mark (0 in snapshots from before marks).
	Mark          uint64
	OpenIncidents int
	Active        []int

	Alerts    []snapAlert
	Incidents []snapIncident
	Groups    map[string]uint64
	CIInc     map[string]uint64
	Sigs      map[string]snapSig
	Problems  []snapProblem

	// Silences are all rows of the silences table (ended ones stay
	// listed); Muting the ids of those still muting, in order.
	Silences      []snapSilence
	Muting        []string
	MutedBy       map[string][]model.Fingerprint
	Changes       []ChangeEvent
	Notifications []NotificationRecord

	Timers, IncTimers, SLATimers []snapTimer
}

type snapAlert struct {
	Fingerprint                      model.Fingerprint
	Labels, Annotations              ingest.Labels
	Status                           ingest.Status
	Severity                         ingest.Severity
	Acknowledged, Flapping           bool
	CI                               string
	IncidentSeq, Version             uint64
	FirstSeen, StartsAt, ResolvedAt  int64
	Source                           ingest.Source
	RawSeverity, Producer, Generator string
	Suppressed, SymptomOf            string
	Count                            uint64
	LastSeen, EndsAt                 int64
	Due, Scheduled                   int64
	Episode                          int
	Incident                         uint64 // entry.inc; 0 for none
	Flips                            []int64
}

type snapIncident struct {
	Row                   *incident.Incident
	Rule                  string
	Firing                []int
	FirstEvent, LastEvent int64
	BestCriticality       int
	Touched               uint64
	Due, Scheduled        int64
	Inserted, Removed     bool
	Counted               bool
	ChHops                map[string]int
	SLADue, SLAScheduled  int64
	HeldSince, HeldTotal  int64
}

type snapSig struct {
	Occ     []snapOcc
	Problem uint64
}

type snapOcc struct {
	At  int64
	Inc uint64
}

type snapProblem struct {
	Row     *incident.Problem
	Touched uint64
	CIs     []string
}

// snapSilence holds matchers as their parts: a labels.Matcher keeps its
// compiled regexp unexported.
type snapSilence struct {
	Silence  Silence
	Matchers []snapMatcher
}

type snapMatcher struct {
	Type        labels.MatchType
	Name, Value string
}

type snapTimer struct {
	At int64
	ID uint64
}

// writeSnapshot encodes the state. Engine goroutine only, between
// batches.
func (s *state) writeSnapshot(w io.Writer, clock time.Time) error {
	snap, err := s.buildSnapshot(clock)
	if err != nil {
		return err
	}
	return gob.NewEncoder(w).Encode(snap)
}

// buildSnapshot copies the state into a snapshot that shares nothing the
// engine changes in place (incident and problem rows and label strings
// are immutable once published; slices and maps the engine edits are
// cloned), so that it can be encoded on another goroutine while the
// engine goes on. Engine goroutine only, between batches.
func (s *state) buildSnapshot(clock time.Time) (*stateSnapshot, error) {
	mutedBy := make(map[string][]model.Fingerprint, len(s.mutedBy))
	for k, v := range s.mutedBy {
		mutedBy[k] = slices.Clone(v)
	}
	snap := stateSnapshot{
		Clock: unixNano(clock),
		Seq:   s.seq, ApplyNo: s.applyNo, IncSeq: s.incSeq, ProbSeq: s.probSeq, SilSeq: s.silSeq, Mark: s.mark,
		OpenIncidents: s.openIncidents, Active: slices.Clone(s.active[:]),
		Groups: map[string]uint64{}, CIInc: map[string]uint64{}, Sigs: map[string]snapSig{},
		MutedBy: mutedBy, Changes: slices.Clone(s.changes),
		Timers: snapTimers(s.timers), IncTimers: snapTimers(s.incTimers), SLATimers: snapTimers(s.slaTimers),
	}
	// Incidents: those in memory and any that only a signature's
	// occurrences still point at.
	incs := map[uint64]*incState{}
	maps.Copy(incs, s.incidents)
	for _, sig := range s.sigs {
		for _, o := range sig.occ {
			incs[o.inc.row.Seq] = o.inc
		}
	}
	for _, seq := range slices.Sorted(maps.Keys(incs)) {
		is := incs[seq]
		snap.Incidents = append(snap.Incidents, snapIncident{
			Row: is.row, Rule: is.rule.Name, Firing: slices.Clone(is.firing[:]), FirstEvent: is.firstEvent, LastEvent: is.lastEvent,
			BestCriticality: is.bestCriticality, Touched: is.touched, Due: is.due, Scheduled: is.scheduled,
			Inserted: is.inserted, Removed: is.removed, Counted: is.counted, ChHops: maps.Clone(is.chHops),
			SLADue: is.slaDue, SLAScheduled: is.slaScheduled, HeldSince: is.heldSince, HeldTotal: is.heldTotal,
		})
	}
	for k, is := range s.groups {
		snap.Groups[k] = is.row.Seq
	}
	for k, is := range s.ciInc {
		snap.CIInc[k] = is.row.Seq
	}
	for k, sig := range s.sigs {
		ss := snapSig{}
		for _, o := range sig.occ {
			ss.Occ = append(ss.Occ, snapOcc{At: o.at, Inc: o.inc.row.Seq})
		}
		if sig.problem != nil {
			ss.Problem = sig.problem.row.Seq
		}
		snap.Sigs[k] = ss
	}
	for _, seq := range slices.Sorted(maps.Keys(s.problems)) {
		p := s.problems[seq]
		snap.Problems = append(snap.Problems, snapProblem{Row: p.row, Touched: p.touched, CIs: slices.Sorted(maps.Keys(p.cis))})
	}
	snap.Alerts = make([]snapAlert, 0, len(s.alerts))
	for _, fp := range slices.Sorted(maps.Keys(s.alerts)) {
		e := s.alerts[fp]
		a, d := e.row, e.row.descr()
		sa := snapAlert{
			Fingerprint: a.Fingerprint, Labels: a.Labels, Annotations: a.Annotations, Status: a.Status, Severity: a.Severity,
			Acknowledged: a.Acknowledged, Flapping: a.Flapping, CI: a.CI, IncidentSeq: a.IncidentSeq, Version: a.Version,
			FirstSeen: a.firstSeen, StartsAt: a.startsAt, ResolvedAt: a.resolvedAt,
			Source: d.source, RawSeverity: d.rawSeverity, Producer: d.producer, Generator: d.generator,
			Suppressed: d.suppressed, SymptomOf: d.symptomOf,
			Count: e.hot.count.Load(), LastSeen: e.hot.lastSeen.Load(), EndsAt: e.hot.endsAt.Load(),
			Due: e.due, Scheduled: e.scheduled, Episode: e.episode, Flips: slices.Clone(e.flips),
		}
		if e.inc != nil {
			sa.Incident = e.inc.row.Seq
		}
		snap.Alerts = append(snap.Alerts, sa)
	}
	for _, sil := range s.silences {
		snap.Muting = append(snap.Muting, sil.ID)
	}
	txn := s.db.Txn(false)
	sils, err := txn.Get(tableSilences, "id")
	if err != nil {
		return nil, err
	}
	for raw := sils.Next(); raw != nil; raw = sils.Next() {
		sil := raw.(*Silence)
		ss := snapSilence{Silence: *sil}
		ss.Silence.Matchers = nil
		for _, m := range sil.Matchers {
			ss.Matchers = append(ss.Matchers, snapMatcher{Type: m.Type, Name: m.Name, Value: m.Value})
		}
		snap.Silences = append(snap.Silences, ss)
	}
	it, err := txn.Get(tableNotifications, "id")
	if err != nil {
		return nil, err
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		snap.Notifications = append(snap.Notifications, *raw.(*NotificationRecord))
	}
	return &snap, nil
}

func snapTimers(h timerHeap) []snapTimer {
	out := make([]snapTimer, len(h))
	for i, t := range h {
		out[i] = snapTimer{At: t.at, ID: t.id}
	}
	return out
}

func heapOf(ts []snapTimer) timerHeap {
	h := make(timerHeap, len(ts))
	for i, t := range ts {
		h[i] = timer{at: t.At, id: t.ID}
	}
	// Kept in the order it was: a heap already; Init only checks.
	heap.Init(&h)
	return h
}

// readSnapshot restores the state from a snapshot into s, a fresh state.
// rs are the rules in force: an incident whose rule is gone keeps a rule
// of that name with no window, so that nothing joins it any more.
func (s *state) readSnapshot(r io.Reader, rs *rules.Set) (clock time.Time, err error) {
	if len(s.alerts) > 0 || len(s.incidents) > 0 || s.seq > 0 {
		return time.Time{}, errors.New("restoring a snapshot into an engine that has state")
	}
	var snap stateSnapshot
	if err := gob.NewDecoder(r).Decode(&snap); err != nil {
		return time.Time{}, fmt.Errorf("decoding the engine state: %w", err)
	}
	if len(snap.Active) != len(s.active) {
		return time.Time{}, fmt.Errorf("engine state has %d severities, this siftd %d", len(snap.Active), len(s.active))
	}
	s.setRules(rs)
	s.seq, s.applyNo, s.incSeq, s.probSeq, s.silSeq, s.mark = snap.Seq, snap.ApplyNo, snap.IncSeq, snap.ProbSeq, snap.SilSeq, snap.Mark
	s.openIncidents = snap.OpenIncidents
	copy(s.active[:], snap.Active)
	tx := lazyTxn{db: s.db, pages: s.pages}

	incs := make(map[uint64]*incState, len(snap.Incidents))
	for _, si := range snap.Incidents {
		if len(si.Firing) != len(severityIndex) {
			return time.Time{}, fmt.Errorf("incident %s: %d severities, this siftd %d", si.Row.ID(), len(si.Firing), len(severityIndex))
		}
		rule, ok := s.rules.Rule(si.Rule)
		if !ok {
			rule = &rules.CorrelationRule{Name: si.Rule}
		}
		is := &incState{
			row: si.Row, rule: rule, firstEvent: si.FirstEvent, lastEvent: si.LastEvent,
			bestCriticality: si.BestCriticality, touched: si.Touched, due: si.Due, scheduled: si.Scheduled,
			inserted: si.Inserted, removed: si.Removed, counted: si.Counted, chHops: si.ChHops,
			slaDue: si.SLADue, slaScheduled: si.SLAScheduled, heldSince: si.HeldSince, heldTotal: si.HeldTotal,
		}
		copy(is.firing[:], si.Firing)
		incs[si.Row.Seq] = is
		if !is.removed {
			s.incidents[si.Row.Seq] = is
			if is.inserted {
				tx.write(incident.Table, is.row)
			}
		}
	}
	inc := func(seq uint64) (*incState, error) {
		is := incs[seq]
		if is == nil {
			return nil, fmt.Errorf("engine state refers to incident %s, which it does not hold", incident.ID(seq))
		}
		return is, nil
	}
	for k, seq := range snap.Groups {
		if s.groups[k], err = inc(seq); err != nil {
			return time.Time{}, err
		}
	}
	for k, seq := range snap.CIInc {
		if s.ciInc[k], err = inc(seq); err != nil {
			return time.Time{}, err
		}
	}
	for _, sp := range snap.Problems {
		p := &probState{row: sp.Row, touched: sp.Touched}
		if len(sp.CIs) > 0 {
			p.cis = make(map[string]struct{}, len(sp.CIs))
			for _, c := range sp.CIs {
				p.cis[c] = struct{}{}
			}
		}
		s.problems[sp.Row.Seq] = p
		tx.write(incident.ProblemTable, p.row)
	}
	for k, ss := range snap.Sigs {
		sig := &sigState{}
		for _, o := range ss.Occ {
			is, err := inc(o.Inc)
			if err != nil {
				return time.Time{}, err
			}
			sig.occ = append(sig.occ, occurrence{at: o.At, inc: is})
		}
		if ss.Problem != 0 {
			if sig.problem = s.problems[ss.Problem]; sig.problem == nil {
				return time.Time{}, fmt.Errorf("engine state refers to problem %s, which it does not hold", incident.ProblemID(ss.Problem))
			}
		}
		s.sigs[k] = sig
	}
	for i := range snap.Alerts {
		sa := &snap.Alerts[i]
		a := &Alert{
			Fingerprint: sa.Fingerprint, Labels: sa.Labels, Annotations: sa.Annotations, Status: sa.Status, Severity: sa.Severity,
			Acknowledged: sa.Acknowledged, Flapping: sa.Flapping, CI: sa.CI, IncidentSeq: sa.IncidentSeq, Version: sa.Version,
			firstSeen: sa.FirstSeen, startsAt: sa.StartsAt, resolvedAt: sa.ResolvedAt,
		}
		a.setDesc(alertDesc{source: sa.Source, rawSeverity: sa.RawSeverity, producer: sa.Producer, generator: sa.Generator,
			suppressed: sa.Suppressed, symptomOf: sa.SymptomOf})
		e := &entry{row: a, due: sa.Due, scheduled: sa.Scheduled, episode: sa.Episode, flips: sa.Flips}
		a.hot = &e.hot
		e.hot.count.Store(sa.Count)
		e.hot.lastSeen.Store(sa.LastSeen)
		e.hot.endsAt.Store(sa.EndsAt)
		if sa.Incident != 0 {
			if e.inc, err = inc(sa.Incident); err != nil {
				return time.Time{}, err
			}
		}
		s.alerts[a.Fingerprint] = e
		tx.insert(a)
		if a.Status == ingest.StatusFiring {
			s.inhibit.Add(a.Fingerprint, a.Labels)
		}
	}
	sils := map[string]*Silence{}
	for _, ss := range snap.Silences {
		sil := ss.Silence
		for _, m := range ss.Matchers {
			lm, err := labels.NewMatcher(m.Type, m.Name, m.Value)
			if err != nil {
				return time.Time{}, fmt.Errorf("silence %s: %w", sil.ID, err)
			}
			sil.Matchers = append(sil.Matchers, lm)
		}
		sils[sil.ID] = &sil
		tx.write(tableSilences, &sil)
	}
	for _, id := range snap.Muting {
		sil := sils[id]
		if sil == nil {
			return time.Time{}, fmt.Errorf("engine state mutes with silence %s, which it does not hold", id)
		}
		s.silences = append(s.silences, sil)
	}
	s.mutedBy = snap.MutedBy
	if s.mutedBy == nil {
		s.mutedBy = map[string][]model.Fingerprint{}
	}
	s.changes = snap.Changes
	for _, c := range s.changes {
		tx.write(tableChanges, &c) // a copy: s.changes shifts in place
	}
	for i := range snap.Notifications {
		tx.write(tableNotifications, &snap.Notifications[i])
	}
	s.timers, s.incTimers, s.slaTimers = heapOf(snap.Timers), heapOf(snap.IncTimers), heapOf(snap.SLATimers)
	tx.commit()
	if snap.Clock != 0 {
		clock = fromUnixNano(snap.Clock)
	}
	return clock, nil
}

// Snapshot copies the engine's state for Encode: before Run, or after
// Run returned (at shutdown, once the queue is drained). While Run runs,
// QueueSnapshot.
func (e *Engine) Snapshot() SnapshotState { return e.copyState() }

// RestoreSnapshot restores a state SnapshotState.Encode wrote into a new engine,
// before Run and before anything is replayed into it.
func (e *Engine) RestoreSnapshot(r io.Reader) error {
	clock, err := e.st.readSnapshot(r, e.rules())
	if err != nil {
		return err
	}
	e.clock = clock
	e.m.observe(&Batch{}, 0, e.st)
	return nil
}

// SnapshotState is a state QueueSnapshot asked for: a copy taken on the
// engine goroutine, encoded by Encode on the caller's.
type SnapshotState struct {
	snap              *stateSnapshot
	Alerts, Incidents int
	// Mark is the last batch mark the state includes.
	Mark uint64
	// Took is how long the engine paused to copy it.
	Took time.Duration
	Err  error
}

// Encode encodes the state; the engine goes on meanwhile.
func (st SnapshotState) Encode(w io.Writer) error {
	if st.Err != nil {
		return st.Err
	}
	return gob.NewEncoder(w).Encode(st.snap)
}

// QueueSnapshot asks for the state after everything queued before the
// call; it arrives on the channel once the engine got there. It never
// blocks: ErrQueueFull when the queue has no room, ErrClosed once the
// engine is closed. Called in log order (from the write-ahead log's
// callback), the state covers exactly the log up to that point.
func (e *Engine) QueueSnapshot() (<-chan SnapshotState, error) {
	ch := make(chan SnapshotState, 1)
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, ingest.ErrClosed
	}
	select {
	case e.queue <- item{snapshot: ch}:
		return ch, nil
	default:
		return nil, ingest.ErrQueueFull
	}
}

// copyState copies the state on the engine goroutine: the engine does
// nothing else meanwhile (docs/benchmarks.md has how long that takes).
func (e *Engine) copyState() SnapshotState {
	start := time.Now()
	snap, err := e.st.buildSnapshot(e.clock)
	return SnapshotState{snap: snap, Alerts: len(e.st.alerts), Incidents: len(e.st.incidents), Mark: e.st.mark, Took: time.Since(start), Err: err}
}
