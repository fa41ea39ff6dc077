package ingest

import (
	"slices"
	"time"
	"unicode/utf8"
)

// ParseGeneric parses sift's generic event format: one JSON object or an
// array of them, each {labels, annotations, severity, status, timestamp,
// source, identity}. It is also the line format of siftctl replay and the
// default for Kafka topics. The whole batch is validated before any event
// is returned.
func ParseGeneric(body []byte, receivedAt time.Time) ([]Event, error) {
	return scanBody(body, receivedAt, scanGeneric)
}

func scanGeneric(s *scanner, b *builder, receivedAt time.Time) ([]Event, *FieldError) {
	switch s.ws() {
	case '{':
		b.events = append(b.events, Event{})
		if ferr := parseGenericEvent(s, b, 0, 1, receivedAt, &b.events[0]); ferr != nil {
			return nil, ferr
		}
	case '[':
		ferr := s.objects(b, "event must be an object", func(i int, e *Event) *FieldError {
			return parseGenericEvent(s, b, i, 2, receivedAt, e)
		})
		if ferr != nil {
			return nil, ferr
		}
	default:
		return nil, &FieldError{Index: -1, Msg: "body must be a JSON object or an array of objects"}
	}
	if ferr := s.end(); ferr != nil {
		return nil, ferr
	}
	return b.batch(), nil
}

// parseGenericEvent reads the event object at s.pos, nested depth deep,
// into e. A null value of any field means the field is absent.
func parseGenericEvent(s *scanner, b *builder, i, depth int, receivedAt time.Time, e *Event) *FieldError {
	b.reset()
	s.badUTF8 = false
	var (
		haveLabels   bool
		haveIdentity bool
		sevSlot      = -1
		srcSlot      = -1
	)
	ferr := s.fields(func(k []byte) (ferr *FieldError) {
		if s.peek() == 'n' {
			return s.null()
		}
		switch string(k) {
		case "labels":
			haveLabels = true
			return s.stringObject(b, i, "labels", &b.labels)
		case "annotations":
			return s.stringObject(b, i, "annotations", &b.annots)
		case "severity":
			if s.peek() != '"' {
				return fieldErr(i, "severity", "must be a string")
			}
			sevSlot, ferr = s.extraString(b)
		case "source":
			if s.peek() != '"' {
				return fieldErr(i, "source", "must be a string")
			}
			srcSlot, ferr = s.extraString(b)
		case "status":
			return s.status(i, e)
		case "timestamp":
			e.StartsAt, ferr = s.time(i, "timestamp")
		case "identity":
			haveIdentity = true
			return s.identity(b, i)
		default:
			return s.skipValue(depth)
		}
		return ferr
	})
	if ferr != nil {
		return ferr
	}
	if !haveLabels || len(b.labels) == 0 {
		return fieldErr(i, "labels", "missing: an event needs at least one label")
	}
	if ferr := b.finish(i, e, s.badUTF8); ferr != nil {
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
		e.RawSeverity, _ = b.label("severity")
	}
	e.Severity, _ = NormalizeSeverity(e.RawSeverity)
	if !haveIdentity {
		e.Fingerprint = e.Labels.Fingerprint()
		return nil
	}
	identity := make([]string, len(b.ident))
	for j, slot := range b.ident {
		identity[j] = b.extraString(slot)
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

// status reads the status string at s.pos into e.Status.
func (s *scanner) status(i int, e *Event) *FieldError {
	if s.peek() != '"' {
		return fieldErr(i, "status", "must be a string")
	}
	sb, ok := s.readString()
	if !ok {
		return errSyntax
	}
	st, ok := ParseStatus(string(sb))
	if !ok {
		return fieldErr(i, "status", "must be \"firing\" or \"resolved\", got "+quote(string(sb)))
	}
	e.Status = st
	return nil
}

// identity reads the identity array at s.pos: its names become extra
// strings of b, their slots b.ident. A later identity replaces an earlier
// one.
func (s *scanner) identity(b *builder, i int) *FieldError {
	if s.peek() != '[' {
		return fieldErr(i, "identity", "must be an array of label names")
	}
	b.ident = b.ident[:0]
	s.pos++
	if s.ws() == ']' {
		s.pos++
		return nil
	}
	for {
		if s.peek() != '"' {
			return fieldErr(i, "identity", "must be an array of non-empty label names")
		}
		slot, ferr := s.extraString(b)
		if ferr != nil {
			return ferr
		}
		sp := b.extra[slot]
		if sp.v0 == sp.v1 {
			return fieldErr(i, "identity", "must be an array of non-empty label names")
		}
		if !utf8.Valid(b.buf[sp.v0:sp.v1]) {
			return fieldErr(i, "identity", "invalid UTF-8 in a label name")
		}
		b.ident = append(b.ident, slot)
		more, ferr := s.next(']')
		if ferr != nil {
			return ferr
		}
		if !more {
			return nil
		}
	}
}
