package ingest

import (
	"time"
)

// ParsePrometheus parses the body of a Prometheus POST /api/v2/alerts: a
// JSON array of {labels, annotations, startsAt, endsAt, generatorURL}. It
// validates the whole batch before returning any event, so a rejected
// request applies nothing.
//
// As in Alertmanager, an alert whose endsAt is not after receivedAt is
// resolved, and a missing startsAt is receivedAt (or endsAt, if earlier).
func ParsePrometheus(body []byte, receivedAt time.Time) ([]Event, error) {
	return scanBody(body, receivedAt, scanPrometheus)
}

func scanPrometheus(s *scanner, b *builder, receivedAt time.Time) ([]Event, *FieldError) {
	if s.ws() != '[' {
		return nil, &FieldError{Index: -1, Msg: "body must be a JSON array of alerts"}
	}
	ferr := s.objects(b, "alert must be an object", func(i int, e *Event) *FieldError {
		return parsePrometheusAlert(s, b, i, receivedAt, e)
	})
	if ferr != nil {
		return nil, ferr
	}
	if ferr := s.end(); ferr != nil {
		return nil, ferr
	}
	return b.batch(), nil
}

// missingStartsAt is the start of an alert that gave none: receivedAt, or
// its endsAt when that is earlier (as Alertmanager does), so that no event
// ends before it starts.
func missingStartsAt(endsAt, receivedAt time.Time) time.Time {
	if !endsAt.IsZero() && endsAt.Before(receivedAt) {
		return endsAt
	}
	return receivedAt
}

// parsePrometheusAlert reads the alert object at s.pos into e.
func parsePrometheusAlert(s *scanner, b *builder, i int, receivedAt time.Time, e *Event) *FieldError {
	b.reset()
	s.badUTF8 = false
	var (
		haveLabels bool
		urlSlot    = -1
	)
	ferr := s.fields(func(k []byte) (ferr *FieldError) {
		switch string(k) {
		case "labels":
			haveLabels = true
			return s.stringObject(b, i, "labels", &b.labels)
		case "annotations":
			if s.peek() == 'n' {
				return s.null()
			}
			return s.stringObject(b, i, "annotations", &b.annots)
		case "startsAt":
			e.StartsAt, ferr = s.time(i, "startsAt")
		case "endsAt":
			e.EndsAt, ferr = s.time(i, "endsAt")
		case "generatorURL":
			switch s.peek() {
			case 'n':
				return s.null()
			case '"':
				urlSlot, ferr = s.extraString(b)
			default:
				return fieldErr(i, "generatorURL", "must be a string")
			}
		default:
			return s.skipValue(2)
		}
		return ferr
	})
	if ferr != nil {
		return ferr
	}
	if !haveLabels || len(b.labels) == 0 {
		return fieldErr(i, "labels", "missing: an alert needs at least one label")
	}
	if ferr := b.finish(i, e, s.badUTF8); ferr != nil {
		return ferr
	}
	if urlSlot >= 0 {
		e.GeneratorURL = b.extraString(urlSlot)
	}
	if !e.EndsAt.IsZero() && !e.StartsAt.IsZero() && e.EndsAt.Before(e.StartsAt) {
		return fieldErr(i, "endsAt", "is before startsAt")
	}
	e.Source = SourcePrometheus
	e.ReceivedAt = receivedAt
	if e.StartsAt.IsZero() {
		e.StartsAt = missingStartsAt(e.EndsAt, receivedAt)
	}
	if !e.EndsAt.IsZero() && !e.EndsAt.After(receivedAt) {
		e.Status = StatusResolved
	}
	e.RawSeverity, _ = b.label("severity")
	e.Severity, _ = NormalizeSeverity(e.RawSeverity)
	e.Fingerprint = e.Labels.Fingerprint()
	return nil
}
