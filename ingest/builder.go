package ingest

import (
	"bytes"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// builder assembles the strings of one event with as few allocations as the
// hot path can afford: every label name and value, annotation and URL of an
// event is gathered in a scratch buffer, then packed into one string that
// the event's Labels, Annotations and other strings slice. Per event that
// is one allocation.
type builder struct {
	buf    []byte
	labels []span
	annots []span
	extra  []span // generator URL and other single strings, by slot
	packed string // the result of finish
}

type span struct{ n0, n1, v0, v1 int32 }

func (b *builder) reset() {
	b.buf = b.buf[:0]
	b.labels = b.labels[:0]
	b.annots = b.annots[:0]
	b.extra = b.extra[:0]
	b.packed = ""
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

// finish packs the event's labels, annotations and extra strings into one
// string, the only allocation it makes, and sets e.Labels and
// e.Annotations to slices of it. It fails when any text is not valid
// UTF-8, which label sets must be. The extras are then read with extra.
func (b *builder) finish(idx int, e *Event) *FieldError {
	if !utf8.Valid(b.buf) {
		return fieldErr(idx, "labels", "invalid UTF-8 in labels, annotations or URL")
	}
	b.labels = sortSpans(b.buf, b.labels)
	b.annots = sortSpans(b.buf, b.annots)
	size := 0
	for _, sp := range b.labels {
		size += int(sp.v1-sp.n0) + 2
	}
	for _, sp := range b.annots {
		size += int(sp.v1-sp.n0) + 2
	}
	for _, sp := range b.extra {
		size += int(sp.v1 - sp.v0)
	}
	var out strings.Builder
	out.Grow(size)
	pack := func(spans []span) {
		for _, sp := range spans {
			out.Write(b.buf[sp.n0:sp.n1])
			out.WriteByte(sep)
			out.Write(b.buf[sp.v0:sp.v1])
			out.WriteByte(sep)
		}
	}
	pack(b.labels)
	nl := out.Len()
	pack(b.annots)
	na := out.Len()
	for i, sp := range b.extra {
		start := int32(out.Len())
		out.Write(b.buf[sp.v0:sp.v1])
		b.extra[i] = span{v0: start, v1: int32(out.Len())}
	}
	b.packed = out.String()
	e.Labels = Labels(b.packed[:nl])
	e.Annotations = Labels(b.packed[nl:na])
	return nil
}

// extra returns the extra string in slot, after finish.
func (b *builder) extraString(slot int) string {
	sp := b.extra[slot]
	return b.packed[sp.v0:sp.v1]
}

// sortSpans sorts label spans by name and drops repeated names, keeping the
// last value given, as encoding/json does for repeated object keys.
func sortSpans(buf []byte, sps []span) []span {
	name := func(sp span) []byte { return buf[sp.n0:sp.n1] }
	// Insertion sort: stable, and linear on the already sorted label sets
	// that Prometheus sends.
	for i := 1; i < len(sps); i++ {
		for j := i; j > 0 && bytes.Compare(name(sps[j]), name(sps[j-1])) < 0; j-- {
			sps[j], sps[j-1] = sps[j-1], sps[j]
		}
	}
	out := sps[:0]
	for _, sp := range sps {
		if len(out) > 0 && bytes.Equal(name(out[len(out)-1]), name(sp)) {
			out[len(out)-1] = sp
			continue
		}
		out = append(out, sp)
	}
	return out
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
