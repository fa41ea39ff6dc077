package correlate

import (
	"container/heap"
	"fmt"

	"github.com/sift-itsm/sift/incident"
)

// SLABreach is one SLA clock of an incident running out.
type SLABreach struct {
	ID       string
	Priority incident.Priority
	// Kind is incident.BreachRespond or incident.BreachResolve.
	Kind string
}

// trackSLA brings a dirty incident's SLA clocks up to date at now (hold
// time, due times from its current priority) and schedules their check.
// Due times follow the priority: an incident raised to P1 after 20
// unacknowledged minutes is overdue at once.
func (s *state) trackSLA(is *incState, now int64, set *Settings) {
	inc := is.row
	held := set.SLAPauseOnHold && inc.State == incident.StateOnHold
	switch {
	case held && is.heldSince == 0:
		is.heldSince = now
	case !held && is.heldSince != 0:
		is.heldTotal += now - is.heldSince
		is.heldSince = 0
	}
	if int(inc.Priority) >= len(set.SLATargets) {
		return
	}
	t := set.SLATargets[inc.Priority]
	opened := unixNano(inc.OpenedAt)
	inc.SLA.RespondDue = fromUnixNano(opened + int64(t.Respond))
	extra := is.heldTotal
	if is.heldSince != 0 {
		extra += now - is.heldSince
	}
	inc.SLA.ResolveDue = fromUnixNano(opened + int64(t.Resolve) + extra)
	s.scheduleSLA(is)
}

// nextSLACheck is when a clock of the incident runs out next, 0 if none
// runs.
func (s *state) nextSLACheck(is *incState) int64 {
	inc := is.row
	if !inc.State.Open() || is.removed {
		return 0
	}
	var next int64
	if !inc.Responded() && !inc.SLA.RespondBreached {
		next = unixNano(inc.SLA.RespondDue)
	}
	if is.heldSince == 0 && !inc.SLA.ResolveBreached {
		if d := unixNano(inc.SLA.ResolveDue); next == 0 || d < next {
			next = d
		}
	}
	return next
}

func (s *state) scheduleSLA(is *incState) {
	is.slaDue = s.nextSLACheck(is)
	if is.slaDue != 0 && (is.slaScheduled == 0 || is.slaDue < is.slaScheduled) {
		heap.Push(&s.slaTimers, timer{at: is.slaDue, id: is.row.Seq})
		is.slaScheduled = is.slaDue
	}
}

// slaTimer records the breaches due at the timer's time.
func (s *state) slaTimer(t timer, b *Batch) {
	is := s.incidents[t.id]
	if is == nil || is.slaScheduled != t.at {
		return
	}
	is.slaScheduled = 0
	due := s.nextSLACheck(is)
	if due == 0 {
		return
	}
	if due > t.at {
		is.slaDue = due
		heap.Push(&s.slaTimers, timer{at: due, id: is.row.Seq})
		is.slaScheduled = due
		return
	}
	inc := is.row
	respond := !inc.Responded() && !inc.SLA.RespondBreached && t.at >= unixNano(inc.SLA.RespondDue)
	resolve := is.heldSince == 0 && !inc.SLA.ResolveBreached && t.at >= unixNano(inc.SLA.ResolveDue)
	n := s.mut(is, t.at)
	now := fromUnixNano(t.at)
	for _, br := range []struct {
		on   bool
		kind string
		flag *bool
	}{{respond, incident.BreachRespond, &n.SLA.RespondBreached}, {resolve, incident.BreachResolve, &n.SLA.ResolveBreached}} {
		if !br.on {
			continue
		}
		*br.flag = true
		n.Log(incident.Entry{At: now, Actor: incident.SystemActor, Kind: incident.EntrySLABreach, To: br.kind,
			Text: fmt.Sprintf("%s target of %s breached", br.kind, n.Priority)})
		b.Breaches = append(b.Breaches, SLABreach{ID: n.ID(), Priority: n.Priority, Kind: br.kind})
	}
}
