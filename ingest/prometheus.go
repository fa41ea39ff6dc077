package ingest

import (
	"time"

	"github.com/valyala/fastjson"
)

// ParsePrometheus parses the body of a Prometheus POST /api/v2/alerts: a
// JSON array of {labels, annotations, startsAt, endsAt, generatorURL}. It
// validates the whole batch before returning any event, so a rejected
// request applies nothing.
//
// As in Alertmanager, an alert whose endsAt is not after receivedAt is
// resolved, and a missing startsAt is receivedAt (or endsAt, if earlier).
func ParsePrometheus(body []byte, receivedAt time.Time) ([]Event, error) {
	p := parserPool.Get()
	defer parserPool.Put(p)
	v, err := p.ParseBytes(body)
	if err != nil {
		return nil, jsonErr(err)
	}
	arr, err := v.Array()
	if err != nil {
		return nil, &FieldError{Index: -1, Msg: "body must be a JSON array of alerts"}
	}
	b := getBuilder()
	defer putBuilder(b)
	events := make([]Event, len(arr))
	for i, a := range arr {
		if ferr := parsePrometheusAlert(b, i, a, receivedAt, &events[i]); ferr != nil {
			return nil, ferr
		}
	}
	return events, nil
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

func parsePrometheusAlert(b *builder, i int, a *fastjson.Value, receivedAt time.Time, e *Event) *FieldError {
	o, err := a.Object()
	if err != nil {
		return fieldErr(i, "", "alert must be an object")
	}
	b.reset()
	var (
		haveLabels bool
		urlSlot    = -1
		ferr       *FieldError
	)
	o.Visit(func(k []byte, v *fastjson.Value) {
		if ferr != nil {
			return
		}
		switch string(k) {
		case "labels":
			haveLabels = true
			ferr = b.stringObject(i, "labels", v, &b.labels)
		case "annotations":
			if v.Type() != fastjson.TypeNull {
				ferr = b.stringObject(i, "annotations", v, &b.annots)
			}
		case "startsAt":
			e.StartsAt, ferr = parseTime(i, "startsAt", v)
		case "endsAt":
			e.EndsAt, ferr = parseTime(i, "endsAt", v)
		case "generatorURL":
			if v.Type() == fastjson.TypeNull {
				return
			}
			sb, err := v.StringBytes()
			if err != nil {
				ferr = fieldErr(i, "generatorURL", "must be a string")
				return
			}
			urlSlot = b.addExtra(sb)
		}
	})
	if ferr != nil {
		return ferr
	}
	if !haveLabels || len(b.labels) == 0 {
		return fieldErr(i, "labels", "missing: an alert needs at least one label")
	}
	if ferr := b.finish(i, e); ferr != nil {
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
	e.RawSeverity, _ = e.Labels.Get("severity")
	e.Severity, _ = NormalizeSeverity(e.RawSeverity)
	e.Fingerprint = e.Labels.Fingerprint()
	return nil
}
