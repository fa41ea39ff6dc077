package ingest

import (
	"time"

	"github.com/prometheus/common/model"
)

// Source names the wire format an event arrived in. It is a metric label
// value, so the set is closed.
type Source string

// The sources sift speaks.
const (
	SourcePrometheus   Source = "prometheus"
	SourceAlertmanager Source = "alertmanager"
	SourcePagerDuty    Source = "pagerduty"
	SourceGeneric      Source = "generic"
)

// Sources lists every Source, for initialising metric label values.
var Sources = []Source{SourcePrometheus, SourceAlertmanager, SourcePagerDuty, SourceGeneric}

// Status is an event's firing state.
type Status uint8

// Statuses. The zero value is firing because that is what an event without
// a status means in every format.
const (
	StatusFiring Status = iota
	StatusResolved
)

func (s Status) String() string {
	if s == StatusResolved {
		return "resolved"
	}
	return "firing"
}

// MarshalText implements encoding.TextMarshaler.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Status) UnmarshalText(b []byte) error {
	v, ok := ParseStatus(string(b))
	if !ok {
		return &FieldError{Field: "status", Msg: "must be \"firing\" or \"resolved\", got " + quote(string(b))}
	}
	*s = v
	return nil
}

// ParseStatus parses "firing" or "resolved".
func ParseStatus(s string) (Status, bool) {
	switch s {
	case "firing":
		return StatusFiring, true
	case "resolved":
		return StatusResolved, true
	}
	return StatusFiring, false
}

// Event is one normalised alert or event, whatever format it came in.
// Events are immutable once parsed: the engine and every sink may hold them.
type Event struct {
	Fingerprint model.Fingerprint
	Source      Source
	Status      Status
	// Severity is the normalised severity; RawSeverity is what the source
	// sent (empty when it sent none).
	Severity    Severity
	RawSeverity string
	Labels      Labels
	Annotations Labels
	// StartsAt and EndsAt are the source's times; EndsAt is zero when the
	// source gave none.
	StartsAt time.Time
	EndsAt   time.Time
	// ReceivedAt is when siftd accepted the event. With StartsAt it makes
	// event processing deterministic.
	ReceivedAt   time.Time
	GeneratorURL string
	// Identity names the labels the fingerprint is made of, sorted; nil
	// means all of them. A PagerDuty event's identity is its dedup_key
	// label.
	Identity []string
	// Producer is the sending system as the event names it (the generic
	// format's "source", PagerDuty's "client"); empty when unnamed.
	Producer string
	// Acknowledge is set by PagerDuty "acknowledge" events.
	Acknowledge bool
}

// EventTime is the time the event happened for correlation: StartsAt,
// clamped to no later than ReceivedAt plus skew so that a producer with a
// fast clock cannot push events into the future.
func (e *Event) EventTime(skew time.Duration) time.Time {
	t := e.StartsAt
	if t.IsZero() {
		return e.ReceivedAt
	}
	if max := e.ReceivedAt.Add(skew); t.After(max) {
		return max
	}
	return t
}
