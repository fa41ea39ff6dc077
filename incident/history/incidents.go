package history

import (
	"slices"

	"github.com/prometheus/common/model"

	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/ingest"
)

// DefaultServiceLabel is the alert label whose values make an incident's
// services (the incidents table's services column).
const DefaultServiceLabel = "service"

// tracker turns engine batches into rows on the batcher goroutine (it is
// not safe for concurrent use). Beyond the conversion it remembers, per
// open incident, what the incident versions do not carry:
//
//   - how many timeline entries were written: a version's timeline is
//     its predecessor's plus what happened since (incident.Incident
//     shares the slice and only appends), so each version adds only its
//     new entries;
//   - the services and the highest severity of its alerts, from the
//     alerts' labels in alert changes;
//   - for each alert in an incident, the incident's id, to put on the
//     alert's events: an event carries a fingerprint only, and most
//     events are duplicates that change no alert;
//
// and, per open problem, the services of its incidents.
//
// What is remembered goes when a closed version is written (closed is
// final). A restart forgets it all: the next version of an incident then
// writes its whole timeline again (the rows collapse onto the ones
// written before, see the package doc) and its services start over from
// the alert changes seen since (queries take the union over versions).
type tracker struct {
	run          uint64
	serviceLabel string
	incs         map[uint64]*incTrack
	alerts       map[model.Fingerprint]alertInc
	// probs are the services of each open problem's incidents.
	probs map[uint64][]string
}

type incTrack struct {
	id       string
	written  int // timeline entries written
	services []string
	sev      ingest.Severity
	hasSev   bool
}

// alertInc is the incident an alert is in.
type alertInc struct {
	seq uint64
	id  string // incident.ID(seq), made once
}

func newTracker(run uint64, serviceLabel string) *tracker {
	return &tracker{run: run, serviceLabel: serviceLabel, incs: map[uint64]*incTrack{}, alerts: map[model.Fingerprint]alertInc{},
		probs: map[uint64][]string{}}
}

func (t *tracker) inc(seq uint64) *incTrack {
	it := t.incs[seq]
	if it == nil {
		it = &incTrack{id: incident.ID(seq)}
		t.incs[seq] = it
	}
	return it
}

// appendTo converts the item to rows: alert changes first (they say which
// incident each alert is in), then the events, then the incident
// versions, then the problem versions (their services are their
// incidents').
func (t *tracker) appendTo(r *Rows, it *item) {
	if it.rows != nil {
		r.append(it.rows)
		return
	}
	now := unixNano(it.now)
	for _, s := range it.changes {
		a := s.c.Alert
		var incID string
		if a.IncidentSeq != 0 {
			tr := t.inc(a.IncidentSeq)
			incID = tr.id
			t.alerts[a.Fingerprint] = alertInc{seq: a.IncidentSeq, id: incID}
			if a.Status == ingest.StatusFiring && (!tr.hasSev || a.Severity < tr.sev) {
				tr.sev, tr.hasSev = a.Severity, true
			}
			if v, ok := a.Labels.Get(t.serviceLabel); ok && v != "" && !slices.Contains(tr.services, v) {
				tr.services = append(tr.services, v)
			}
		} else {
			delete(t.alerts, a.Fingerprint)
		}
		r.AlertStates = append(r.AlertStates, AlertStateRow{
			Run:          t.run,
			Seq:          it.seq,
			ChangedNs:    now,
			Fingerprint:  uint64(a.Fingerprint),
			Version:      a.Version,
			Kind:         s.c.Kind,
			Expired:      s.c.Expired,
			Status:       a.Status,
			Severity:     a.Severity,
			RawSeverity:  a.RawSeverity(),
			Source:       string(a.Source()),
			Producer:     a.Producer(),
			GeneratorURL: a.GeneratorURL(),
			Acknowledged: a.Acknowledged,
			Labels:       a.Labels,
			Annotations:  a.Annotations,
			FirstSeenNs:  unixNano(a.FirstSeen()),
			StartsNs:     unixNano(a.StartsAt()),
			EndsNs:       s.endsAt,
			ResolvedNs:   unixNano(a.ResolvedAt()),
			LastSeenNs:   s.lastSeen,
			Count:        s.count,
			IncidentID:   incID,
		})
	}
	if n := len(it.events); cap(r.Events)-len(r.Events) < n {
		// At least double: append's growth for large slices (a
		// quarter) copied a 200k-row batch's events five times over.
		r.Events = slices.Grow(r.Events, max(n, len(r.Events)))
	}
	for i := range it.events {
		ev := &it.events[i]
		var incID string
		if len(t.alerts) > 0 {
			incID = t.alerts[ev.Fingerprint].id
		}
		r.Events = append(r.Events, EventRow{
			ID:           EventID{Run: t.run, Seq: it.seq, Idx: uint32(i)},
			Fingerprint:  uint64(ev.Fingerprint),
			ReceivedNs:   unixNano(ev.ReceivedAt),
			EventNs:      unixNano(ev.EventTime(0)),
			StartsNs:     unixNano(ev.StartsAt),
			EndsNs:       unixNano(ev.EndsAt),
			Source:       string(ev.Source),
			Producer:     ev.Producer,
			Status:       ev.Status,
			Severity:     ev.Severity,
			RawSeverity:  ev.RawSeverity,
			Labels:       ev.Labels,
			Annotations:  ev.Annotations,
			GeneratorURL: ev.GeneratorURL,
			Acknowledge:  ev.Acknowledge,
			IncidentID:   incID,
		})
	}
	for _, inc := range it.incidents {
		t.appendIncident(r, inc)
	}
	for _, p := range it.problems {
		t.appendProblem(r, p)
	}
}

// appendProblem writes a version of a problem, with the services of its
// incidents: those seen on their alerts, now and in earlier versions
// (an incident is forgotten once closed).
func (t *tracker) appendProblem(r *Rows, p *incident.Problem) {
	svcs := t.probs[p.Seq]
	for _, id := range p.IncidentIDs {
		seq, err := incident.ParseID(id)
		if err != nil || t.incs[seq] == nil {
			continue
		}
		for _, s := range t.incs[seq].services {
			if !slices.Contains(svcs, s) {
				svcs = append(svcs, s)
			}
		}
	}
	if p.State == incident.ProblemClosed {
		delete(t.probs, p.Seq)
	} else {
		t.probs[p.Seq] = svcs
	}
	r.Problems = append(r.Problems, ProblemRow{
		ID:                p.ID(),
		Version:           p.Version,
		UpdatedNs:         unixNano(p.UpdatedAt),
		OpenedNs:          unixNano(p.OpenedAt),
		State:             uint8(p.State) + 1, // the table's enum starts at new = 1
		Title:             p.Title,
		Signature:         p.Signature,
		IncidentIDs:       p.IncidentIDs,
		IncidentCount:     uint32(p.Occurrences),
		CIIDs:             p.CIs,
		Services:          slices.Clone(svcs),
		Workaround:        p.Workaround,
		RunbookURL:        p.RunbookURL,
		RootCause:         p.RootCause,
		FirstOccurrenceNs: unixNano(p.FirstOccurrence),
		LastOccurrenceNs:  unixNano(p.LastOccurrence),
		ResolvedNs:        unixNano(p.ResolvedAt),
		ClosedNs:          unixNano(p.ClosedAt),
	})
}

// appendIncident writes a version of an incident and the timeline
// entries added since the last version written.
func (t *tracker) appendIncident(r *Rows, inc *incident.Incident) {
	tr := t.inc(inc.Seq)
	r.Incidents = append(r.Incidents, incidentRow(inc, tr))
	tl := inc.Timeline
	if tr.written > len(tl) {
		tr.written = 0 // cannot happen (timelines only grow); write it all
	}
	for i := tr.written; i < len(tl); i++ {
		r.Timeline = append(r.Timeline, timelineRow(tr.id, uint32(i+1), &tl[i]))
	}
	tr.written = len(tl)
	if inc.State == incident.StateClosed {
		for _, fp := range inc.Alerts {
			if t.alerts[fp].seq == inc.Seq {
				delete(t.alerts, fp)
			}
		}
		delete(t.incs, inc.Seq)
	}
}

// Signature is an incident's recurrence signature as the incidents table
// records it: the rule and its group key ("<rule>/<group key>"), the
// default of ITSM.md.
//
// Incidents carry their own (a rule's recurrence.signature may differ);
// this is the default for incidents recorded without one.
func Signature(rule, groupKey string) string { return rule + "/" + groupKey }

// incidentRow is one version of an incident as a row.
func incidentRow(inc *incident.Incident, tr *incTrack) IncidentRow {
	fps := make([]uint64, len(inc.Alerts))
	for i, fp := range inc.Alerts {
		fps[i] = uint64(fp)
	}
	sev := severityOfUrgency(inc.Urgency)
	if tr.hasSev {
		sev = tr.sev
	}
	return IncidentRow{
		ID:                tr.id,
		Version:           inc.Version,
		UpdatedNs:         unixNano(inc.UpdatedAt),
		OpenedNs:          unixNano(inc.OpenedAt),
		State:             uint8(inc.State) + 1, // the table's enum starts at new = 1
		Priority:          uint8(inc.Priority),
		Impact:            uint8(inc.Impact),
		Urgency:           uint8(inc.Urgency),
		Title:             inc.Title,
		Rule:              inc.Rule,
		GroupKey:          inc.GroupKey,
		Signature:         signatureOf(inc),
		ProblemID:         inc.ProblemID,
		CIIDs:             inc.CIs,
		ProbableCauseCI:   inc.ProbableCause,
		Services:          slices.Clone(tr.services),
		SupportGroup:      inc.SupportGroup,
		Assignee:          inc.Assignee,
		AlertFingerprints: fps,
		Severity:          sev,
		AcknowledgedNs:    unixNano(inc.AcknowledgedAt),
		ResolvedNs:        unixNano(inc.ResolvedAt),
		ClosedNs:          unixNano(inc.ClosedAt),
		RespondDueNs:      unixNano(inc.SLA.RespondDue),
		ResolveDueNs:      unixNano(inc.SLA.ResolveDue),
		RespondBreached:   inc.SLA.RespondBreached,
		ResolveBreached:   inc.SLA.ResolveBreached,
	}
}

// signatureOf is the incident's recurrence signature: the engine's, or
// the default for incidents recorded without one.
func signatureOf(inc *incident.Incident) string {
	if inc.Signature != "" {
		return inc.Signature
	}
	return Signature(inc.Rule, inc.GroupKey)
}

// severityOfUrgency is the severity an urgency stands for, when no alert
// of the incident was seen (after a restart).
func severityOfUrgency(u int) ingest.Severity {
	switch u {
	case 1:
		return ingest.SeverityCritical
	case 2:
		return ingest.SeverityMajor
	}
	return ingest.SeverityWarning
}

func timelineRow(id string, entry uint32, e *incident.Entry) TimelineRow {
	var fp uint64
	if e.Fingerprint != "" {
		if f, err := model.ParseFingerprint(e.Fingerprint); err == nil {
			fp = uint64(f)
		}
	}
	return TimelineRow{
		IncidentID:  id,
		Entry:       entry,
		AtNs:        unixNano(e.At),
		Kind:        string(e.Kind),
		Actor:       e.Actor,
		FromState:   e.From,
		ToState:     e.To,
		Fingerprint: fp,
		Message:     e.Text,
	}
}
