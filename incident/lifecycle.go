package incident

import (
	"fmt"
	"time"
)

// Verb is what a user asks of an incident through the API.
type Verb string

// The API's verbs.
const (
	VerbAck     Verb = "ack"
	VerbAssign  Verb = "assign"
	VerbNote    Verb = "notes"
	VerbHold    Verb = "hold"
	VerbResolve Verb = "resolve"
	VerbClose   Verb = "close"
)

// Action is a user's request to change an incident.
type Action struct {
	ID    string
	Verb  Verb
	Actor string
	// Text is the note, or the comment of any other verb.
	Text string
	// Assignee and SupportGroup are what assign sets; either may be empty
	// to keep the current one.
	Assignee     string
	SupportGroup string
}

// Validate checks what can be checked without the incident.
func (a *Action) Validate() error {
	if a.Actor == "" {
		return fieldError{"actor", "required"}
	}
	switch a.Verb {
	case VerbAck, VerbHold, VerbResolve, VerbClose:
	case VerbNote:
		if a.Text == "" {
			return fieldError{"text", "required for a note"}
		}
	case VerbAssign:
		if a.Assignee == "" && a.SupportGroup == "" {
			return fieldError{"assignee", "assign needs an assignee or a support_group"}
		}
	default:
		return fieldError{"verb", fmt.Sprintf("unknown %q", a.Verb)}
	}
	return nil
}

type fieldError struct{ field, msg string }

func (e fieldError) Error() string { return e.field + ": " + e.msg }

// TransitionError is an action the incident's state does not allow.
type TransitionError struct {
	ID    string
	Verb  Verb
	State State
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("incident %s is %s: cannot %s it", e.ID, e.State, e.Verb)
}

// Apply returns the version of inc after a user's action at now, or a
// *TransitionError if its state does not allow the action.
//
// Transitions (ITSM.md): ack takes a new incident to acknowledged; assign
// sets the assignee or group and takes new, acknowledged or on_hold to
// in_progress; hold takes acknowledged or in_progress to on_hold; any
// open state resolves; only a resolved incident closes; notes go on any
// incident that is not closed.
func Apply(inc *Incident, a *Action, now time.Time) (*Incident, error) {
	deny := func() (*Incident, error) {
		return nil, &TransitionError{ID: inc.ID(), Verb: a.Verb, State: inc.State}
	}
	if inc.State == StateClosed {
		return deny()
	}
	n := inc.Revise(now)
	switch a.Verb {
	case VerbAck:
		if inc.State != StateNew {
			return deny()
		}
		n.setState(StateAcknowledged, a.Actor, a.Text, now)
	case VerbAssign:
		if !inc.State.Open() {
			return deny()
		}
		if a.Assignee != "" {
			n.Assignee = a.Assignee
		}
		if a.SupportGroup != "" {
			n.SupportGroup = a.SupportGroup
		}
		n.Log(Entry{At: now, Actor: a.Actor, Kind: EntryAssigned, Text: assignText(n), To: n.Assignee})
		if inc.State != StateInProgress {
			n.setState(StateInProgress, a.Actor, a.Text, now)
		}
	case VerbHold:
		if inc.State != StateAcknowledged && inc.State != StateInProgress {
			return deny()
		}
		n.setState(StateOnHold, a.Actor, a.Text, now)
	case VerbResolve:
		if !inc.State.Open() {
			return deny()
		}
		n.setState(StateResolved, a.Actor, a.Text, now)
	case VerbClose:
		if inc.State != StateResolved {
			return deny()
		}
		n.setState(StateClosed, a.Actor, a.Text, now)
	case VerbNote:
		n.Log(Entry{At: now, Actor: a.Actor, Kind: EntryNote, Text: a.Text})
	default:
		return nil, fieldError{"verb", fmt.Sprintf("unknown %q", a.Verb)}
	}
	return n, nil
}

func assignText(inc *Incident) string {
	switch {
	case inc.Assignee != "" && inc.SupportGroup != "":
		return "assigned to " + inc.Assignee + " (" + inc.SupportGroup + ")"
	case inc.Assignee != "":
		return "assigned to " + inc.Assignee
	}
	return "assigned to group " + inc.SupportGroup
}

// setState moves the (new, unshared) version inc to state s and logs it,
// keeping the lifecycle timestamps.
func (inc *Incident) setState(s State, actor, text string, now time.Time) {
	from := inc.State
	inc.State = s
	switch s {
	case StateAcknowledged:
		inc.Acknowledged = true
		if inc.AcknowledgedAt.IsZero() {
			inc.AcknowledgedAt = now
		}
	case StateInProgress:
		if from == StateNew && inc.AcknowledgedAt.IsZero() {
			// Taking an incident on responds to it, as acknowledging
			// does: the respond SLA stops.
			inc.Acknowledged = true
			inc.AcknowledgedAt = now
		}
	case StateResolved:
		inc.ResolvedAt = now
	case StateClosed:
		inc.ClosedAt = now
	}
	if s.Open() {
		inc.ResolvedAt = time.Time{}
	}
	if text == "" {
		text = from.String() + " -> " + s.String()
	}
	inc.Log(Entry{At: now, Actor: actor, Kind: EntryState, Text: text, From: from.String(), To: s.String()})
}

// The system's transitions change a version the engine has just made
// with Revise and not yet published, in place: the engine publishes one
// version per batch however many things happened to the incident in it.

// AutoResolve resolves an open incident whose alerts have all been
// resolved for the resolve hold.
func (inc *Incident) AutoResolve(now time.Time) {
	inc.setState(StateResolved, SystemActor, "all alerts resolved", now)
}

// Reopen takes a resolved incident back when a correlated alert fires
// within the reopen window: to in_progress if it was ever acknowledged,
// else to new.
func (inc *Incident) Reopen(why string, now time.Time) {
	to := StateNew
	if inc.Acknowledged {
		to = StateInProgress
	}
	inc.setState(to, SystemActor, why, now)
}

// AutoClose closes a resolved incident after close_after.
func (inc *Incident) AutoClose(now time.Time) {
	inc.setState(StateClosed, SystemActor, "closed after the close delay", now)
}
