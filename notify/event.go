package notify

import (
	"fmt"
	"time"

	"github.com/sift-itsm/sift/config"
	"github.com/sift-itsm/sift/incident"
)

// Event is what happened to an incident that people or platforms hear
// about.
type Event uint8

// The events. Add new ones at the end, with their names at the end of
// config.NotifyEvents: the names, not the numbers, are what the
// notification log and the config use.
const (
	EventOpened Event = iota + 1
	EventPriorityChanged
	EventAcknowledged
	EventResolved
	EventReopened
	EventClosed
	// EventRepeat repeats the notification of an incident that stays new
	// (unacknowledged), every repeat_interval of its route.
	EventRepeat
	// EventSLABreached and EventProblemOpened are routed and templated
	// like the others; the engine makes them with SLAs and problems.
	EventSLABreached
	EventProblemOpened

	// eventsEnd follows the last event: Events counts the constants, not
	// the names, so a constant without a name in config.NotifyEvents
	// shows in TestEvents.
	eventsEnd
)

// eventNames are the events' names by number: none for the zero Event,
// then config.NotifyEvents (the one list of them; siftctl offers it).
var eventNames = append([]string{""}, config.NotifyEvents...)

func (e Event) String() string {
	if int(e) < len(eventNames) && e != 0 {
		return eventNames[e]
	}
	return fmt.Sprintf("Event(%d)", e)
}

// ParseEvent parses an event name.
func ParseEvent(s string) (Event, error) {
	for i, n := range eventNames {
		if n == s && i > 0 {
			return Event(i), nil
		}
	}
	return 0, fmt.Errorf("unknown event %q: want one of %v", s, eventNames[1:])
}

// Events lists every event, in order.
func Events() []Event {
	out := make([]Event, 0, eventsEnd-1)
	for e := EventOpened; e < eventsEnd; e++ {
		out = append(out, e)
	}
	return out
}

// Occurrence is one event of one incident. Occurrence numbers the event
// by the timeline entry it comes from (index + 1), so it is the same
// however the versions that carry it are batched or processed again.
type Occurrence struct {
	Event      Event
	Occurrence uint64
	At         time.Time
	// Actor and Text are the timeline entry's.
	Actor string
	Text  string
	// From and To are the old and new priority or state.
	From, To string
}

// entryEvent says which event a timeline entry is, if any.
func entryEvent(e *incident.Entry) (Event, bool) {
	switch e.Kind {
	case incident.EntryOpened:
		return EventOpened, true
	case incident.EntryPriority:
		return EventPriorityChanged, true
	case incident.EntryState:
		switch {
		case e.From == incident.StateResolved.String() && (e.To == incident.StateNew.String() || e.To == incident.StateInProgress.String()):
			return EventReopened, true
		case e.To == incident.StateAcknowledged.String():
			return EventAcknowledged, true
		case e.To == incident.StateResolved.String():
			return EventResolved, true
		case e.To == incident.StateClosed.String():
			return EventClosed, true
		}
	case incident.EntrySLABreach:
		return EventSLABreached, true
	case incident.EntryProblem:
		if e.From == incident.ProblemOpenedMark {
			return EventProblemOpened, true
		}
	}
	return 0, false
}

// Derive returns the events in inc's timeline from entry from on, in
// order. Priority changes collapse into the last one, and into opened
// when the incident opened in the same stretch: the notification shows
// the priority in force.
func Derive(inc *incident.Incident, from int) []Occurrence {
	return derive(nil, inc, from, len(inc.Timeline))
}

// Rederive returns the events of inc's whole timeline as Derive gave
// them to a notifier that saw every change of the incident: the entries
// one engine batch added share its clock, so the timeline is cut where
// the entries' time changes and each stretch is derived as Derive does
// (a priority change collapses into the opening of its own batch, not
// into an opening long before). A notifier that starts on recovered
// state (Resume) takes the events from here.
func Rederive(inc *incident.Incident) []Occurrence {
	var out []Occurrence
	for from := 0; from < len(inc.Timeline); {
		to := from + 1
		for to < len(inc.Timeline) && inc.Timeline[to].At.Equal(inc.Timeline[from].At) {
			to++
		}
		out = derive(out, inc, from, to)
		from = to
	}
	return out
}

// derive appends the events of inc's timeline entries [from, to) to out,
// collapsing priority changes as Derive says.
func derive(out []Occurrence, inc *incident.Incident, from, to int) []Occurrence {
	if from < 0 {
		from = 0
	}
	opened, lastPrio := false, -1
	for i := from; i < to; i++ {
		e := &inc.Timeline[i]
		ev, ok := entryEvent(e)
		if !ok {
			continue
		}
		o := Occurrence{Event: ev, Occurrence: uint64(i + 1), At: e.At, Actor: e.Actor, Text: e.Text, From: e.From, To: e.To}
		switch ev {
		case EventOpened:
			opened = true
		case EventPriorityChanged:
			if opened {
				continue
			}
			if lastPrio >= 0 {
				o.From = out[lastPrio].From
				out = append(out[:lastPrio], out[lastPrio+1:]...)
			}
			lastPrio = len(out)
		}
		out = append(out, o)
	}
	return out
}
