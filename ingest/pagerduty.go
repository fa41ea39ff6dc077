package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// PagerDuty limits, from the Events API v2 reference.
const (
	pdMaxDedupKey = 255
	pdMaxSummary  = 1024
	// pdTimeBasicOffset is RFC 3339 with the ISO 8601 basic offset
	// ("+0000", "Z"); the fraction is optional when parsing.
	pdTimeBasicOffset = "2006-01-02T15:04:05.999999999Z0700"
)

type pdEvent struct {
	RoutingKey  string     `json:"routing_key"`
	EventAction string     `json:"event_action"`
	DedupKey    string     `json:"dedup_key"`
	Payload     *pdPayload `json:"payload"`
	Client      string     `json:"client"`
	ClientURL   string     `json:"client_url"`
	// links and images are accepted and not kept.
	Links  json.RawMessage `json:"links"`
	Images json.RawMessage `json:"images"`
}

type pdPayload struct {
	Summary       string                     `json:"summary"`
	Source        string                     `json:"source"`
	Severity      string                     `json:"severity"`
	Timestamp     string                     `json:"timestamp"`
	Component     string                     `json:"component"`
	Group         string                     `json:"group"`
	Class         string                     `json:"class"`
	CustomDetails map[string]json.RawMessage `json:"custom_details"`
}

// pdIdentity is the identity of every PagerDuty event: its dedup_key.
var pdIdentity = []string{"dedup_key"}

// ParsePagerDuty parses a PagerDuty Events API v2 event. The event's
// identity is its dedup_key; a trigger without one gets newKey(), which the
// caller returns to the producer as PagerDuty does. The labels are
// dedup_key plus payload source, component, group and class; summary and
// custom_details become annotations; the routing key, a credential, is
// checked for presence and not kept.
func ParsePagerDuty(body []byte, receivedAt time.Time, newKey func() string) (Event, error) {
	var in pdEvent
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&in); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Event{}, &FieldError{Index: -1, Field: te.Field, Msg: "must be a " + te.Type.String()}
		}
		return Event{}, &FieldError{Index: -1, Msg: "malformed JSON: " + err.Error()}
	}
	// Not dec.More(): it is false before a stray '}' or ']', which would
	// then be accepted.
	if len(bytes.TrimLeft(body[dec.InputOffset():], " \t\r\n")) > 0 {
		return Event{}, &FieldError{Index: -1, Msg: "malformed JSON: trailing data after the event"}
	}
	if strings.TrimSpace(in.RoutingKey) == "" {
		return Event{}, &FieldError{Index: -1, Field: "routing_key", Msg: "is missing or blank"}
	}
	if len(in.DedupKey) > pdMaxDedupKey {
		return Event{}, &FieldError{Index: -1, Field: "dedup_key", Msg: "is longer than 255 characters"}
	}
	e := Event{Source: SourcePagerDuty, ReceivedAt: receivedAt, StartsAt: receivedAt, Producer: in.Client, GeneratorURL: in.ClientURL}
	switch in.EventAction {
	case "trigger":
		if err := validatePDPayload(in.Payload); err != nil {
			return Event{}, err
		}
		if in.DedupKey == "" {
			in.DedupKey = newKey()
		}
	case "acknowledge", "resolve":
		if in.DedupKey == "" {
			return Event{}, &FieldError{Index: -1, Field: "dedup_key", Msg: "is missing or blank (required for " + in.EventAction + ")"}
		}
		e.Acknowledge = in.EventAction == "acknowledge"
		if in.EventAction == "resolve" {
			e.Status = StatusResolved
		}
	case "":
		return Event{}, &FieldError{Index: -1, Field: "event_action", Msg: "is missing or blank"}
	default:
		return Event{}, &FieldError{Index: -1, Field: "event_action", Msg: "must be trigger, acknowledge or resolve, got " + quote(in.EventAction)}
	}

	labels := []Label{{Name: "dedup_key", Value: in.DedupKey}}
	if p := in.Payload; p != nil {
		for _, l := range []Label{{"source", p.Source}, {"component", p.Component}, {"group", p.Group}, {"class", p.Class}} {
			if l.Value != "" {
				labels = append(labels, l)
			}
		}
		var annots []Label
		if p.Summary != "" {
			annots = append(annots, Label{"summary", p.Summary})
		}
		for k, raw := range p.CustomDetails {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				s = string(compactJSON(raw))
			}
			if k != "summary" {
				annots = append(annots, Label{k, s})
			}
		}
		e.Annotations = NewLabels(annots...)
		if p.Timestamp != "" {
			t, err := time.Parse(time.RFC3339Nano, p.Timestamp)
			if err != nil {
				// ISO 8601 with a basic offset, as in PagerDuty's own
				// example: "2015-07-17T08:42:58.315+0000".
				t, err = time.Parse(pdTimeBasicOffset, p.Timestamp)
			}
			if err != nil {
				return Event{}, &FieldError{Index: -1, Field: "payload.timestamp", Msg: "must be an ISO 8601 time, got " + quote(p.Timestamp)}
			}
			e.StartsAt = t
		}
		e.RawSeverity = p.Severity
	}
	e.Labels = NewLabels(labels...)
	e.Severity, _ = NormalizeSeverity(e.RawSeverity)
	e.Identity = pdIdentity
	e.Fingerprint = e.Labels.FingerprintOf(pdIdentity)
	return e, nil
}

func validatePDPayload(p *pdPayload) *FieldError {
	if p == nil {
		return &FieldError{Index: -1, Field: "payload", Msg: "is missing (required for trigger)"}
	}
	if strings.TrimSpace(p.Summary) == "" {
		return &FieldError{Index: -1, Field: "payload.summary", Msg: "is missing or blank"}
	}
	if len(p.Summary) > pdMaxSummary {
		return &FieldError{Index: -1, Field: "payload.summary", Msg: "is longer than 1024 characters"}
	}
	if strings.TrimSpace(p.Source) == "" {
		return &FieldError{Index: -1, Field: "payload.source", Msg: "is missing or blank"}
	}
	switch p.Severity {
	case "critical", "error", "warning", "info":
	case "":
		return &FieldError{Index: -1, Field: "payload.severity", Msg: "is missing or blank"}
	default:
		return &FieldError{Index: -1, Field: "payload.severity", Msg: "must be critical, error, warning or info, got " + quote(p.Severity)}
	}
	return nil
}

func compactJSON(raw []byte) []byte {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}
