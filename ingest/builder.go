package ingest

import (
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// builder assembles the strings of one event with as few allocations as the
// hot path can afford: every label name and value, annotation and URL of an
// event is copied into one scratch buffer and turned into one string, which
// the event's Labels and Annotations then slice. Per event that is one
// string, one []Label backing both label sets, and nothing else.
type builder struct {
	buf    []byte
	labels []span
	annots []span
	extra  []span // generator URL and other single strings, by slot
}

type span struct{ n0, n1, v0, v1 int32 }

func (b *builder) reset() {
	b.buf = b.buf[:0]
	b.labels = b.labels[:0]
	b.annots = b.annots[:0]
	b.extra = b.extra[:0]
}

func (b *builder) add(dst *[]span, name, value []byte) {
	n0 := int32(len(b.buf))
	b.buf = append(b.buf, name...)
	v0 := int32(len(b.buf))
	b.buf = append(b.buf, value...)
	*dst = append(*dst, span{n0, v0, v0, int32(len(b.buf))})
}

// addExtra stores a single string and returns its slot.
func (b *builder) addExtra(value []byte) int {
	v0 := int32(len(b.buf))
	b.buf = append(b.buf, value...)
	b.extra = append(b.extra, span{v0: v0, v1: int32(len(b.buf))})
	return len(b.extra) - 1
}

// stringObject reads a JSON object of string values into dst (labels or
// annotations). field names the object for errors.
func (b *builder) stringObject(idx int, field string, v *fastjson.Value, dst *[]span) *FieldError {
	o, err := v.Object()
	if err != nil {
		return fieldErr(idx, field, "must be an object of strings")
	}
	var ferr *FieldError
	o.Visit(func(k []byte, v *fastjson.Value) {
		if ferr != nil {
			return
		}
		if v.Type() != fastjson.TypeString {
			ferr = fieldErr(idx, field+"."+string(k), "must be a string, got "+v.Type().String())
			return
		}
		if len(k) == 0 {
			ferr = fieldErr(idx, field, "empty label name")
			return
		}
		b.add(dst, k, v.GetStringBytes())
	})
	return ferr
}

// finish turns the scratch buffer into the event's strings. It fails when
// any of them is not valid UTF-8, which label sets must be.
func (b *builder) finish(idx int, e *Event) (extras []string, ferr *FieldError) {
	if !utf8.Valid(b.buf) {
		return nil, fieldErr(idx, "labels", "invalid UTF-8 in labels, annotations or URL")
	}
	s := string(b.buf)
	all := make([]Label, len(b.labels)+len(b.annots))
	for i, sp := range b.labels {
		all[i] = Label{Name: s[sp.n0:sp.n1], Value: s[sp.v0:sp.v1]}
	}
	for i, sp := range b.annots {
		all[len(b.labels)+i] = Label{Name: s[sp.n0:sp.n1], Value: s[sp.v0:sp.v1]}
	}
	// Full slice expressions: appending to Labels must never write over
	// Annotations.
	e.Labels = sortLabels(all[:len(b.labels):len(b.labels)])
	if len(b.annots) > 0 {
		e.Annotations = sortLabels(all[len(b.labels):])
	}
	if len(b.extra) > 0 {
		extras = make([]string, len(b.extra))
		for i, sp := range b.extra {
			extras[i] = s[sp.v0:sp.v1]
		}
	}
	return extras, nil
}

// parseTime parses an RFC 3339 time. The zero time in any of its spellings
// ("0001-01-01T00:00:00Z" is what Go clients send for "unset") is zero.
func parseTime(idx int, field string, v *fastjson.Value) (time.Time, *FieldError) {
	if v == nil || v.Type() == fastjson.TypeNull {
		return time.Time{}, nil
	}
	sb, err := v.StringBytes()
	if err != nil {
		return time.Time{}, fieldErr(idx, field, "must be an RFC 3339 time string")
	}
	if len(sb) == 0 {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, string(sb))
	if err != nil {
		return time.Time{}, fieldErr(idx, field, "must be an RFC 3339 time, got "+quote(string(sb)))
	}
	if t.Year() <= 1 {
		return time.Time{}, nil
	}
	return t, nil
}

// jsonErr reports malformed JSON. fastjson's message quotes the offending
// tail, which is what a producer needs to find it.
func jsonErr(err error) *FieldError {
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	return &FieldError{Index: -1, Msg: "malformed JSON: " + msg}
}

// parserPool holds fastjson parsers; each one keeps its value arena, so
// parsing allocates little once warm.
var parserPool fastjson.ParserPool

// builderPool holds builders for the same reason.
var builderPool = make(chan *builder, 64)

func getBuilder() *builder {
	select {
	case b := <-builderPool:
		return b
	default:
		return &builder{buf: make([]byte, 0, 1024)}
	}
}

func putBuilder(b *builder) {
	if cap(b.buf) > 1<<20 {
		return
	}
	b.reset()
	select {
	case builderPool <- b:
	default:
	}
}
