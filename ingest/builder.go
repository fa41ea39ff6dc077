package ingest

import (
	"bytes"
	"strings"
	"time"
)

// builder assembles the strings of one event with as few allocations as the
// hot path can afford: every label name and value, annotation and URL of an
// event is gathered in a scratch buffer, then packed into one string that
// the event's Labels, Annotations and other strings slice. Per event that
// is one allocation.
//
// The scanner decodes each label name and value into buf followed by the
// separator, as packed Labels hold them, so that a label set that arrives
// sorted and without repeated names (as Go producers, encoding/json
// included, send them) is already packed: finish then makes buf itself the
// event's string, in one copy.
type builder struct {
	buf    []byte
	labels []span
	annots []span
	extra  []span // generator URL and other single strings, by slot
	ident  []int  // the extra slots of a generic event's identity names
	packed string // the result of finish

	// events gathers a batch's events while it is scanned, so that the
	// batch is then copied into a slice of exactly its length: the body
	// does not say how many events it holds until it has been read.
	events []Event
	tmp    []byte // the scanner's scratch
}

// span locates a label in buf (or, after finish, in packed): its name is
// [n0, n1) and its value [v0, v1), each followed by sep. An extra string
// has only [v0, v1), with no sep.
type span struct{ n0, n1, v0, v1 int32 }

func (b *builder) reset() {
	b.buf = b.buf[:0]
	b.labels = b.labels[:0]
	b.annots = b.annots[:0]
	b.extra = b.extra[:0]
	b.ident = b.ident[:0]
	b.packed = ""
}

// finish packs the event's labels, annotations and extra strings into one
// string, the only allocation it makes, and sets e.Labels and
// e.Annotations to slices of it. It fails when badUTF8 says that some
// text was not valid UTF-8, which label sets must be. The extras are then
// read with extraString, and labels with label.
func (b *builder) finish(idx int, e *Event, badUTF8 bool) *FieldError {
	if badUTF8 {
		return fieldErr(idx, "labels", "invalid UTF-8 in labels, annotations or URL")
	}
	if inPlace(b.buf, b.labels) && inPlace(b.buf, b.annots) {
		b.packed = string(b.buf)
	} else {
		b.repack()
	}
	e.Labels = Labels(b.packed[start(b.labels):end(b.labels)])
	e.Annotations = Labels(b.packed[start(b.annots):end(b.annots)])
	return nil
}

// inPlace reports whether the spans are already a packed label set in
// buf: adjacent, and in strictly increasing name order.
func inPlace(buf []byte, sps []span) bool {
	for i := 1; i < len(sps); i++ {
		p, q := sps[i-1], sps[i]
		if q.n0 != p.v1+1 || string(buf[p.n0:p.n1]) >= string(buf[q.n0:q.n1]) {
			return false
		}
	}
	return true
}

// start and end delimit packed spans (0, 0 for none).
func start(sps []span) int32 {
	if len(sps) == 0 {
		return 0
	}
	return sps[0].n0
}

func end(sps []span) int32 {
	if len(sps) == 0 {
		return 0
	}
	return sps[len(sps)-1].v1 + 1
}

// repack is finish for labels that are not packed in place: it sorts them,
// drops repeated names, and copies labels, annotations and extras into
// b.packed, moving every span there.
func (b *builder) repack() {
	b.labels = sortSpans(b.buf, b.labels)
	b.annots = sortSpans(b.buf, b.annots)
	size := 0
	for _, sp := range b.labels {
		size += int(sp.v1-sp.n0) + 1
	}
	for _, sp := range b.annots {
		size += int(sp.v1-sp.n0) + 1
	}
	for _, sp := range b.extra {
		size += int(sp.v1 - sp.v0)
	}
	var out strings.Builder
	out.Grow(size)
	pack := func(spans []span) {
		for i, sp := range spans {
			at := int32(out.Len()) - sp.n0
			out.Write(b.buf[sp.n0 : sp.v1+1]) // name, sep, value, sep
			spans[i] = span{sp.n0 + at, sp.n1 + at, sp.v0 + at, sp.v1 + at}
		}
	}
	pack(b.labels)
	pack(b.annots)
	for i, sp := range b.extra {
		start := int32(out.Len())
		out.Write(b.buf[sp.v0:sp.v1])
		b.extra[i] = span{v0: start, v1: int32(out.Len())}
	}
	b.packed = out.String()
}

// extraString returns the extra string in slot, after finish.
func (b *builder) extraString(slot int) string {
	sp := b.extra[slot]
	return b.packed[sp.v0:sp.v1]
}

// label returns the value of the named label, after finish.
func (b *builder) label(name string) (string, bool) {
	for _, sp := range b.labels {
		if int(sp.n1-sp.n0) == len(name) && b.packed[sp.n0:sp.n1] == name {
			return b.packed[sp.v0:sp.v1], true
		}
	}
	return "", false
}

// sortSpans sorts label spans by name and drops repeated names, keeping the
// last value given, as encoding/json does for repeated object keys.
func sortSpans(buf []byte, sps []span) []span {
	name := func(sp span) []byte { return buf[sp.n0:sp.n1] }
	// Insertion sort: stable, and linear on the already sorted label sets
	// that Prometheus sends. Every pair of equal names is compared on the
	// way, so repeated names are looked for only if one was seen.
	repeated := false
	for i := 1; i < len(sps); i++ {
		for j := i; j > 0; j-- {
			c := bytes.Compare(name(sps[j]), name(sps[j-1]))
			if c >= 0 {
				repeated = repeated || c == 0
				break
			}
			sps[j], sps[j-1] = sps[j-1], sps[j]
		}
	}
	if !repeated {
		return sps
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

// parseTime parses the text of an RFC 3339 time string. The zero time in
// any of its spellings ("0001-01-01T00:00:00Z" is what Go clients send
// for "unset"), and "", are zero.
func parseTime(idx int, field string, sb []byte) (time.Time, *FieldError) {
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

// batch returns the events gathered in b.events as a new slice of exactly
// their number, and forgets them.
func (b *builder) batch() []Event {
	events := make([]Event, len(b.events))
	copy(events, b.events)
	clear(b.events)
	b.events = b.events[:0]
	return events
}

// builderPool holds builders, so that parsing allocates little once warm.
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
	// Past len, b.events is always zero: batch and this clear it.
	clear(b.events) // the events of a failed batch
	b.events = b.events[:0]
	if cap(b.events) > 4096 {
		b.events = nil
	}
	select {
	case builderPool <- b:
	default:
	}
}
