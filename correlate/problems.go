package correlate

import (
	"errors"
	"slices"
	"time"

	"github.com/sift-itsm/sift/incident"
)

// probState is the engine's private view of a problem.
type probState struct {
	row     *incident.Problem
	touched uint64
	cis     map[string]struct{}
}

// sigState is what the engine remembers of one recurrence signature: the
// incidents opened with it within the recurrence window, and its problem.
type sigState struct {
	occ     []occurrence
	problem *probState
}

type occurrence struct {
	at  int64
	inc *incState
}

// ErrNoProblem is the error of an update of a problem sift does not hold.
var ErrNoProblem = errors.New("no such problem")

// recur records that is opened with signature sig at time at: it links it
// to the signature's open problem, or opens one when this is the
// RecurrenceCount-th incident within RecurrenceWindow.
func (s *state) recur(is *incState, sig string, at int64, set *Settings) {
	is.row.Signature = sig
	if set.RecurrenceCount <= 0 {
		return
	}
	h := s.sigs[sig]
	if h == nil {
		h = &sigState{}
		s.sigs[sig] = h
	}
	h.occ = append(h.occ, occurrence{at: at, inc: is})
	cut := 0
	for cut < len(h.occ) && h.occ[cut].at < at-int64(set.RecurrenceWindow) {
		cut++
	}
	h.occ = h.occ[cut:]
	if p := h.problem; p != nil && p.row.State.Open() {
		s.link(p, is, at, false)
		return
	}
	if len(h.occ) < set.RecurrenceCount {
		return
	}
	p := s.openProblem(sig, is, at)
	h.problem = p
	for _, o := range h.occ {
		// The incident that made the pattern says the problem opened
		// (notifications route on it); the others that it recurs.
		s.link(p, o.inc, at, o.inc == is)
	}
}

func (s *state) openProblem(sig string, is *incState, at int64) *probState {
	s.probSeq++
	now := fromUnixNano(at)
	p := &probState{row: &incident.Problem{
		Seq: s.probSeq, Title: is.row.Title, State: incident.ProblemNew, Signature: sig,
		OpenedAt: now, UpdatedAt: now, FirstOccurrence: now, Version: 1,
	}, touched: s.applyNo, cis: map[string]struct{}{}}
	s.problems[p.row.Seq] = p
	s.dirtyProb = append(s.dirtyProb, p)
	return p
}

// mutProblem returns the problem's version for this batch.
func (s *state) mutProblem(p *probState, at int64) *incident.Problem {
	if p.touched != s.applyNo {
		n := *p.row
		n.Version++
		p.row = &n
		p.touched = s.applyNo
		s.dirtyProb = append(s.dirtyProb, p)
	}
	p.row.UpdatedAt = fromUnixNano(at)
	return p.row
}

// link adds an incident to a problem (and the problem to the incident);
// a known error's workaround goes on the incident.
func (s *state) link(p *probState, is *incState, at int64, opened bool) {
	if is.row.ProblemID == p.row.ID() {
		return
	}
	pr := s.mutProblem(p, at)
	pr.IncidentIDs = append(pr.IncidentIDs, is.row.ID())
	pr.Occurrences++
	openedAt := is.row.OpenedAt
	if pr.FirstOccurrence.IsZero() || openedAt.Before(pr.FirstOccurrence) {
		pr.FirstOccurrence = openedAt
	}
	if openedAt.After(pr.LastOccurrence) {
		pr.LastOccurrence = openedAt
	}
	for _, ci := range is.row.CIs {
		if _, ok := p.cis[ci]; !ok {
			p.cis[ci] = struct{}{}
			pr.CIs = append(pr.CIs, ci)
		}
	}
	if is.removed {
		return // gone from memory: the problem lists it all the same
	}
	inc := s.mut(is, at)
	now := fromUnixNano(at)
	inc.ProblemID = pr.ID()
	entry := incident.Entry{At: now, Actor: incident.SystemActor, Kind: incident.EntryProblem, To: pr.ID(), Text: "recurs under problem " + pr.ID()}
	if opened {
		entry.From, entry.Text = incident.ProblemOpenedMark, "opened problem "+pr.ID()+": "+pr.Signature
	}
	inc.Log(entry)
	if pr.State == incident.ProblemKnownError && pr.Workaround != "" && inc.Workaround == "" {
		inc.Workaround = workaroundText(pr)
		inc.Log(incident.Entry{At: now, Actor: incident.SystemActor, Kind: incident.EntryWorkaround, Text: inc.Workaround})
	}
}

func workaroundText(p *incident.Problem) string {
	if p.RunbookURL == "" {
		return p.Workaround
	}
	return p.Workaround + " (runbook: " + p.RunbookURL + ")"
}

// unlink removes an incident from a problem.
func (s *state) unlink(p *probState, is *incState, at int64) {
	pr := s.mutProblem(p, at)
	id := is.row.ID()
	if i := slices.Index(pr.IncidentIDs, id); i >= 0 {
		pr.IncidentIDs = append(slices.Clip(pr.IncidentIDs[:i]), pr.IncidentIDs[i+1:]...)
		pr.Occurrences--
	}
	if is.row.ProblemID == pr.ID() {
		inc := s.mut(is, at)
		inc.ProblemID = ""
		inc.Log(incident.Entry{At: fromUnixNano(at), Actor: incident.SystemActor, Kind: incident.EntryProblem, From: pr.ID(), Text: "unlinked from problem " + pr.ID()})
	}
}

// updateProblem applies a user's change to a problem at now, in a batch of
// its own.
func (s *state) updateProblem(now time.Time, u *incident.ProblemUpdate, set *Settings) (*incident.Problem, *Batch, error) {
	var (
		p   *incident.Problem
		err error
	)
	b := s.command(now, set, func(_ *lazyTxn, at int64, _ *Batch) { p, err = s.changeProblem(u, at) })
	return p, b, err
}

func (s *state) changeProblem(u *incident.ProblemUpdate, at int64) (*incident.Problem, error) {
	seq, err := incident.ParseProblemID(u.ID)
	if err != nil {
		return nil, err
	}
	p := s.problems[seq]
	if p == nil {
		return nil, ErrNoProblem
	}
	if u.State != nil {
		if err := incident.CheckProblemTransition(u.ID, p.row.State, *u.State); err != nil {
			return nil, err
		}
	}
	incOf := func(id string) (*incState, error) {
		iseq, err := incident.ParseID(id)
		if err != nil {
			return nil, err
		}
		is := s.incidents[iseq]
		if is == nil || is.removed {
			return nil, ErrNoIncident
		}
		return is, nil
	}
	var linkTo, unlinkFrom *incState
	if u.Link != "" {
		if linkTo, err = incOf(u.Link); err != nil {
			return nil, err
		}
	}
	if u.Unlink != "" {
		if unlinkFrom, err = incOf(u.Unlink); err != nil {
			return nil, err
		}
	}
	pr := s.mutProblem(p, at)
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&pr.Title, u.Title)
	set(&pr.RootCause, u.RootCause)
	set(&pr.Workaround, u.Workaround)
	set(&pr.RunbookURL, u.RunbookURL)
	if u.State != nil && *u.State != pr.State {
		pr.State = *u.State
		switch pr.State {
		case incident.ProblemResolved:
			pr.ResolvedAt = pr.UpdatedAt
		case incident.ProblemClosed:
			pr.ClosedAt = pr.UpdatedAt
		default: // back to investigating: not fixed after all
			pr.ResolvedAt = time.Time{}
		}
	}
	if linkTo != nil {
		if old := linkTo.row.ProblemID; old != "" && old != pr.ID() {
			if oseq, err := incident.ParseProblemID(old); err == nil && s.problems[oseq] != nil {
				s.unlink(s.problems[oseq], linkTo, at)
			}
		}
		s.link(p, linkTo, at, false)
	}
	if unlinkFrom != nil {
		s.unlink(p, unlinkFrom, at)
	}
	return pr, nil
}

// flushProblems writes this batch's problem versions and emits their
// changes.
func (s *state) flushProblems(tx *lazyTxn, b *Batch) {
	for _, p := range s.dirtyProb {
		kind := ProblemUpdated
		if p.row.Version == 1 {
			kind = ProblemOpened
		}
		tx.write(incident.ProblemTable, p.row)
		b.Changes = append(b.Changes, Change{Kind: kind, Problem: p.row})
	}
	s.dirtyProb = s.dirtyProb[:0]
}
