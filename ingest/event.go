package ingest

import (
	"sort"
	"strings"
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

// Label is one name/value pair.
type Label struct {
	Name, Value string
}

// Labels is a label set kept as a slice sorted by name, with unique names.
// A slice is used instead of model.LabelSet because the ingest hot path
// builds one per event: a sorted slice costs one allocation where a map
// costs several, and fingerprinting it needs no extra sort.
type Labels []Label

// Get returns the value of the named label and whether it is present.
func (ls Labels) Get(name string) (string, bool) {
	// Label sets are small: a linear scan beats binary search below ~16.
	for i := range ls {
		if ls[i].Name == name {
			return ls[i].Value, true
		}
	}
	return "", false
}

// Map converts the labels to a map, for templates and JSON output.
func (ls Labels) Map() map[string]string {
	m := make(map[string]string, len(ls))
	for _, l := range ls {
		m[l.Name] = l.Value
	}
	return m
}

// LabelSet converts the labels to a model.LabelSet.
func (ls Labels) LabelSet() model.LabelSet {
	m := make(model.LabelSet, len(ls))
	for _, l := range ls {
		m[model.LabelName(l.Name)] = model.LabelValue(l.Value)
	}
	return m
}

// Equal reports whether two label sets are identical.
func (ls Labels) Equal(o Labels) bool {
	if len(ls) != len(o) {
		return false
	}
	for i := range ls {
		if ls[i] != o[i] {
			return false
		}
	}
	return true
}

// String renders the labels as {a="b", c="d"}, like model.LabelSet.
func (ls Labels) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range ls {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(l.Name)
		b.WriteByte('=')
		b.WriteString(quote(l.Value))
	}
	b.WriteByte('}')
	return b.String()
}

// MarshalJSON renders the labels as a JSON object.
func (ls Labels) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 16*len(ls)+2)
	b = append(b, '{')
	for i, l := range ls {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, l.Name)
		b = append(b, ':')
		b = appendJSONString(b, l.Value)
	}
	return append(b, '}'), nil
}

// LabelsFromMap builds sorted Labels from a map.
func LabelsFromMap(m map[string]string) Labels {
	ls := make(Labels, 0, len(m))
	for k, v := range m {
		ls = append(ls, Label{Name: k, Value: v})
	}
	return sortLabels(ls)
}

// sortLabels sorts ls by name in place and removes duplicate names, keeping
// the last value given, as encoding/json does for repeated object keys.
func sortLabels(ls Labels) Labels {
	if len(ls) <= 16 {
		// Insertion sort: label sets are small and often already sorted
		// (Prometheus emits them sorted), where it is linear and stable.
		for i := 1; i < len(ls); i++ {
			for j := i; j > 0 && ls[j].Name < ls[j-1].Name; j-- {
				ls[j], ls[j-1] = ls[j-1], ls[j]
			}
		}
	} else {
		sort.SliceStable(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
	}
	out := ls[:0]
	for i := range ls {
		if len(out) > 0 && out[len(out)-1].Name == ls[i].Name {
			out[len(out)-1] = ls[i]
			continue
		}
		out = append(out, ls[i])
	}
	return out
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
