package ingest

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/alertmanager/template"
)

// ParseAlertmanager parses the body an Alertmanager webhook receiver sends
// (webhook.Message, version 4). Each alert of the message is one event with
// the alert's own status; the group fields are not kept, because sift does
// its own grouping. The whole message is validated before any event is
// returned.
func ParseAlertmanager(body []byte, receivedAt time.Time) ([]Event, error) {
	var msg webhook.Message
	if err := json.Unmarshal(body, &msg); err != nil {
		return nil, locateAMError(body, err)
	}
	if msg.Data == nil || msg.Alerts == nil {
		return nil, &FieldError{Index: -1, Field: "alerts", Msg: "missing"}
	}
	events := make([]Event, len(msg.Alerts))
	for i, a := range msg.Alerts {
		if err := amAlert(i, a, receivedAt, &events[i]); err != nil {
			return nil, err
		}
	}
	return events, nil
}

func amAlert(i int, a template.Alert, receivedAt time.Time, e *Event) *FieldError {
	if len(a.Labels) == 0 {
		return fieldErr(i, "labels", "missing: an alert needs at least one label")
	}
	for k := range a.Labels {
		if k == "" {
			return fieldErr(i, "labels", "empty label name")
		}
	}
	switch a.Status {
	case "firing", "":
		// An empty status is read from endsAt below, as for Prometheus.
	case "resolved":
		e.Status = StatusResolved
	default:
		return fieldErr(i, "status", "must be \"firing\" or \"resolved\", got "+quote(a.Status))
	}
	e.Source = SourceAlertmanager
	e.ReceivedAt = receivedAt
	e.Labels = LabelsFromMap(a.Labels)
	if len(a.Annotations) > 0 {
		e.Annotations = LabelsFromMap(a.Annotations)
	}
	e.StartsAt, e.EndsAt = a.StartsAt, a.EndsAt
	if e.EndsAt.Year() <= 1 {
		e.EndsAt = time.Time{}
	}
	if e.StartsAt.Year() <= 1 {
		e.StartsAt = missingStartsAt(e.EndsAt, receivedAt)
	} else if !e.EndsAt.IsZero() && e.EndsAt.Before(e.StartsAt) {
		return fieldErr(i, "endsAt", "is before startsAt")
	}
	if a.Status == "" && !e.EndsAt.IsZero() && !e.EndsAt.After(receivedAt) {
		e.Status = StatusResolved
	}
	e.GeneratorURL = a.GeneratorURL
	e.RawSeverity, _ = e.Labels.Get("severity")
	e.Severity, _ = NormalizeSeverity(e.RawSeverity)
	e.Fingerprint = e.Labels.Fingerprint()
	return nil
}

// locateAMError finds which alert of a message failed to decode, because
// encoding/json names the field path but not the array index.
func locateAMError(body []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return &FieldError{Index: -1, Msg: "malformed JSON: " + err.Error()}
	}
	var shadow struct {
		Alerts []json.RawMessage `json:"alerts"`
	}
	if json.Unmarshal(body, &shadow) == nil {
		for i, raw := range shadow.Alerts {
			var a template.Alert
			if aerr := json.Unmarshal(raw, &a); aerr != nil {
				field := fieldOf(aerr)
				if field == "" {
					field = badTimeField(raw)
				}
				return &FieldError{Index: i, Field: field, Msg: describe(aerr)}
			}
		}
	}
	return &FieldError{Index: -1, Field: fieldOf(err), Msg: describe(err)}
}

func fieldOf(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		// The path goes through the embedded *template.Data; the
		// producer's JSON has no "Data".
		return strings.TrimPrefix(te.Field, "Data.")
	}
	return ""
}

// badTimeField names the time field of an alert that failed to decode:
// time.Time's decoding errors carry no field name.
func badTimeField(raw []byte) string {
	var ts struct {
		StartsAt json.RawMessage `json:"startsAt"`
		EndsAt   json.RawMessage `json:"endsAt"`
	}
	if json.Unmarshal(raw, &ts) != nil {
		return ""
	}
	var t time.Time
	if ts.StartsAt != nil && json.Unmarshal(ts.StartsAt, &t) != nil {
		return "startsAt"
	}
	if ts.EndsAt != nil && json.Unmarshal(ts.EndsAt, &t) != nil {
		return "endsAt"
	}
	return ""
}

func describe(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "must be a " + te.Type.String() + ", got a JSON " + te.Value
	}
	return err.Error()
}
