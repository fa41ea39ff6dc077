package notify

import (
	"context"
	"maps"

	"github.com/sift-itsm/sift/config"
)

// TicketPlatform is what a ticketing integration does on its platform:
// file a ticket, and update it.
type TicketPlatform interface {
	// Create files a ticket with the rendered fields and returns its id.
	Create(ctx context.Context, fields map[string]any) (ticket string, err error)
	// Update sets fields, the state and a comment on a ticket.
	Update(ctx context.Context, ticket string, u TicketUpdate) error
}

// TicketUpdate is what changes on a ticket after an event.
type TicketUpdate struct {
	Event Event
	// Fields are the rendered update fields (may be empty).
	Fields map[string]any
	// State is the platform's state (or Jira transition) for the
	// incident's state; "" leaves the ticket's state alone.
	State string
	// Comment is the rendered comment (work note, note).
	Comment string
}

// TicketMapping is a platform's field and state mapping: the defaults,
// with the configuration's over them.
type TicketMapping struct {
	Fields       map[string]any
	UpdateFields map[string]any
	States       map[string]string
	// Comment is the template of the comment every update adds.
	Comment string
}

// With returns the mapping with the configuration's fields and states
// over it. A state mapped to "" leaves that state alone.
func (d TicketMapping) With(c config.TicketConfig) TicketMapping {
	return TicketMapping{
		Fields:       over(d.Fields, c.Fields),
		UpdateFields: over(d.UpdateFields, c.UpdateFields),
		States:       over(d.States, c.States),
		Comment:      d.Comment,
	}
}

// over returns a new map of base's entries with top's over them.
func over[V any](base, top map[string]V) map[string]V {
	out := make(map[string]V, len(base)+len(top))
	maps.Copy(out, base)
	maps.Copy(out, top)
	return out
}

// Ticketing is the Integration of a ticketing platform: the first event
// of an incident files a ticket; every later one updates that ticket (its
// id comes with the message: the notifier keeps it, and the engine stores
// it on the incident). An incident first seen after it opened (a receiver
// added later) gets a ticket that is brought up to date at once. Repeats
// change nothing on a ticket.
type Ticketing struct {
	Platform TicketPlatform
	Mapping  TicketMapping
}

// Notify implements Integration. It returns the ticket id, also when an
// update of a ticket it has just filed fails, so the retry updates that
// ticket rather than file another.
func (t *Ticketing) Notify(ctx context.Context, m *Message) (string, error) {
	if m.Event == EventRepeat {
		return m.Ticket, nil
	}
	r := m.Render()
	ticket := m.Ticket
	if ticket == "" {
		fields := r.Fields(t.Mapping.Fields)
		if err := r.Err(); err != nil {
			return "", Permanent(err)
		}
		id, err := t.Platform.Create(ctx, fields)
		if err != nil || m.Event == EventOpened {
			return id, err
		}
		ticket = id
	}
	u := TicketUpdate{
		Event:   m.Event,
		Fields:  r.Fields(t.Mapping.UpdateFields),
		State:   t.Mapping.States[m.Incident.State.String()],
		Comment: r.Text(t.Mapping.Comment),
	}
	if err := r.Err(); err != nil {
		return ticket, Permanent(err)
	}
	return ticket, t.Platform.Update(ctx, ticket, u)
}
