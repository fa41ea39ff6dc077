package notify

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/sift-itsm/sift/incident"
)

// Integration delivers notifications to one destination (a webhook, a
// Slack channel, a ticketing platform). Notify sends one message; a
// ticketing integration returns the ticket it created or updated. An
// error is retried unless it is Permanent. Notify is called from one
// goroutine at a time, for one integration in the order of the events.
type Integration interface {
	Notify(ctx context.Context, m *Message) (ticket string, err error)
}

// IntegrationFunc adapts a function to Integration.
type IntegrationFunc func(ctx context.Context, m *Message) (string, error)

// Notify calls f.
func (f IntegrationFunc) Notify(ctx context.Context, m *Message) (string, error) { return f(ctx, m) }

// Message is one notification: an event of an incident for one
// integration.
type Message struct {
	Event      Event
	Occurrence Occurrence
	// Incident is the version the event was taken from (for repeats, the
	// newest).
	Incident *incident.Incident
	// Alerts are the incident's alerts, for templates.
	Alerts template.Alerts
	// Labels are the labels routes matched on.
	Labels map[string]string
	// Receiver names the integration ("noc/slack").
	Receiver string
	// Ticket is the integration's ticket for the incident, "" if none
	// yet.
	Ticket string

	tmpl *Template
}

// Render returns a renderer over the message's template data.
func (m *Message) Render() *Renderer {
	return &Renderer{t: m.tmpl, Data: m.tmpl.data(m)}
}

// NewMessage makes a message for tests and tools: what the notifier
// hands integrations.
func NewMessage(t *Template, ev Event, inc *incident.Incident, alerts template.Alerts, receiver string) *Message {
	o := Occurrence{Event: ev, At: inc.UpdatedAt}
	return &Message{Event: ev, Occurrence: o, Incident: inc, Alerts: alerts, Receiver: receiver, Labels: Labels(ev, inc, alerts, nil), tmpl: t}
}

// Receiver is a named set of integrations with their delivery settings.
type Receiver struct {
	Name         string
	Integrations []NamedIntegration
	// Timeout bounds one attempt.
	Timeout time.Duration
	// MaxAttempts, InitialBackoff and MaxBackoff: the retries.
	MaxAttempts    int
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// RatePerSecond and Burst limit each integration's requests; 0 is no
	// limit.
	RatePerSecond float64
	Burst         int
	// QueueCapacity bounds each integration's waiting notifications.
	QueueCapacity int
}

// NamedIntegration is an integration and its type ("webhook", "slack",
// ...). Its name in the notification log, tickets and logs is
// "<receiver>/<type>", with "[i]" for the second and later of a type.
type NamedIntegration struct {
	Type string
	Integration
}

// permanentError is an error not worth retrying.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying (a 4xx answer, a template
// that fails).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// Retryable reports whether an attempt that failed with err may succeed
// later.
func Retryable(err error) bool {
	var p *permanentError
	return !errors.As(err, &p)
}
