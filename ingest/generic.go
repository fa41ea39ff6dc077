package ingest

import (
	"slices"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// ParseGeneric parses sift's generic event format: one JSON object or an
// array of them, each {labels, annotations, severity, status, timestamp,
// source, identity}. It is also the line format of siftctl replay and the
// default for Kafka topics. The whole batch is validated before any event
// is returned.
func ParseGeneric(body []byte, receivedAt time.Time) ([]Event, error) {
	p := parserPool.Get()
	defer parserPool.Put(p)
	v, err := p.ParseBytes(body)
	if err != nil {
		return nil, jsonErr(err)
	}
	b := getBuilder()
	defer putBuilder(b)
	switch v.Type() {
	case fastjson.TypeObject:
		events := make([]Event, 1)
		if ferr := parseGenericEvent(b, 0, v, receivedAt, &events[0]); ferr != nil {
			return nil, ferr
		}
		return events, nil
	case fastjson.TypeArray:
		arr, _ := v.Array()
		events := make([]Event, len(arr))
		for i, a := range arr {
			if ferr := parseGenericEvent(b, i, a, receivedAt, &events[i]); ferr != nil {
				return nil, ferr
			}
		}
		return events, nil
	}
	return nil, &FieldError{Index: -1, Msg: "body must be a JSON object or an array of objects"}
}

func parseGenericEvent(b *builder, i int, a *fastjson.Value, receivedAt time.Time, e *Event) *FieldError {
	o, err := a.Object()
	if err != nil {
		return fieldErr(i, "", "event must be an object")
	}
	b.reset()
	var (
		haveLabels bool
		sevSlot    = -1
		srcSlot    = -1
		identity   []string
		ferr       *FieldError
	)
	str := func(field string, v *fastjson.Value) []byte {
		sb, err := v.StringBytes()
		if err != nil {
			ferr = fieldErr(i, field, "must be a string")
		}
		return sb
	}
	o.Visit(func(k []byte, v *fastjson.Value) {
		if ferr != nil || v.Type() == fastjson.TypeNull {
			return
		}
		switch string(k) {
		case "labels":
			haveLabels = true
			ferr = b.stringObject(i, "labels", v, &b.labels)
		case "annotations":
			ferr = b.stringObject(i, "annotations", v, &b.annots)
		case "severity":
			if sb := str("severity", v); ferr == nil {
				sevSlot = b.addExtra(sb)
			}
		case "source":
			if sb := str("source", v); ferr == nil {
				srcSlot = b.addExtra(sb)
			}
		case "status":
			sb := str("status", v)
			if ferr != nil {
				return
			}
			st, ok := ParseStatus(string(sb))
			if !ok {
				ferr = fieldErr(i, "status", "must be \"firing\" or \"resolved\", got "+quote(string(sb)))
				return
			}
			e.Status = st
		case "timestamp":
			e.StartsAt, ferr = parseTime(i, "timestamp", v)
		case "identity":
			arr, err := v.Array()
			if err != nil {
				ferr = fieldErr(i, "identity", "must be an array of label names")
				return
			}
			identity = make([]string, 0, len(arr))
			for _, n := range arr {
				sb, err := n.StringBytes()
				if err != nil || len(sb) == 0 {
					ferr = fieldErr(i, "identity", "must be an array of non-empty label names")
					return
				}
				if !utf8.Valid(sb) {
					ferr = fieldErr(i, "identity", "invalid UTF-8 in a label name")
					return
				}
				identity = append(identity, string(sb))
			}
		}
	})
	if ferr != nil {
		return ferr
	}
	if !haveLabels || len(b.labels) == 0 {
		return fieldErr(i, "labels", "missing: an event needs at least one label")
	}
	if ferr := b.finish(i, e); ferr != nil {
		return ferr
	}
	e.Source = SourceGeneric
	e.ReceivedAt = receivedAt
	if e.StartsAt.IsZero() {
		e.StartsAt = receivedAt
	}
	if srcSlot >= 0 {
		e.Producer = b.extraString(srcSlot)
	}
	if sevSlot >= 0 {
		e.RawSeverity = b.extraString(sevSlot)
	} else {
		e.RawSeverity, _ = e.Labels.Get("severity")
	}
	e.Severity, _ = NormalizeSeverity(e.RawSeverity)
	if identity == nil {
		e.Fingerprint = e.Labels.Fingerprint()
		return nil
	}
	slices.Sort(identity)
	identity = slices.Compact(identity)
	found := false
	for _, n := range identity {
		if _, ok := e.Labels.Get(n); ok {
			found = true
			break
		}
	}
	if !found {
		return fieldErr(i, "identity", "names no label of the event")
	}
	e.Identity = identity
	e.Fingerprint = e.Labels.FingerprintOf(identity)
	return nil
}
