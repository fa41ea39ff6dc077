package wal

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/common/model"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/ingest"
)

// Kind is a record's first byte: what it holds, in which format version.
// A new format gets a new Kind; old kinds stay readable.
type Kind byte

// The record kinds.
const (
	// KindEvents is a batch of events as one request delivered them,
	// in the binary format of AppendEvents.
	KindEvents Kind = 1
	// KindCommand is an engine command (Command) as JSON: commands are
	// rare, and their types change more often than events.
	KindCommand Kind = 2
	// KindKafkaEvents is a batch of events from a Kafka consumer with,
	// per partition, the last offset of the messages it holds
	// (AppendKafkaEvents).
	KindKafkaEvents Kind = 3
	// KindMark is an engine batch mark (correlate.BatchMark, AppendMark).
	KindMark Kind = 4
)

// compressed, set on a record's kind byte, says that the rest of the
// record is S2-compressed (Compress). Event batches compress 5-15 times
// (label names and values, annotations and URLs repeat), which is what
// keeps fsync "always" affordable: the disk writes a tenth of the bytes.
const compressed Kind = 0x80

func (k Kind) String() string {
	switch k {
	case KindEvents:
		return "events"
	case KindCommand:
		return "command"
	case KindKafkaEvents:
		return "kafka events"
	case KindMark:
		return "mark"
	}
	return fmt.Sprintf("Kind(%d)", byte(k))
}

// RecordKind is the kind of a record, compressed or not; 0 for an empty
// one.
func RecordKind(rec []byte) Kind {
	if len(rec) == 0 {
		return 0
	}
	return Kind(rec[0]) &^ compressed
}

// Compress appends to dst the record rec with its body S2-compressed, if
// that saves at least an eighth, or else rec as it is.
func Compress(dst, rec []byte) []byte {
	if len(rec) < 256 || Kind(rec[0])&compressed != 0 {
		return append(dst, rec...)
	}
	n := s2.MaxEncodedLen(len(rec) - 1)
	if n < 0 {
		return append(dst, rec...)
	}
	dst = slices.Grow(dst, 1+n)
	out := s2.Encode(dst[len(dst)+1:len(dst)+1+n], rec[1:])
	if len(out) > len(rec)-len(rec)/8 {
		return append(dst, rec...)
	}
	dst = append(dst, rec[0]|byte(compressed))
	return append(dst, out...) // out is already in place: this only extends
}

// maxRatio bounds the decompressed size claimed by a compressed record
// against its compressed size, so that a damaged or hostile record cannot
// make the decoder allocate without bound.
const maxRatio = 1000

var decompressBufs = sync.Pool{New: func() any { return new([]byte) }}

// body returns the record's body (after the kind byte), decompressed into
// a pooled buffer when needed; release returns the buffer.
func body(rec []byte) (b []byte, release func(), err error) {
	if len(rec) == 0 || Kind(rec[0])&compressed == 0 {
		if len(rec) == 0 {
			return nil, func() {}, errShort
		}
		return rec[1:], func() {}, nil
	}
	n, err := s2.DecodedLen(rec[1:])
	if err != nil {
		return nil, func() {}, fmt.Errorf("compressed record: %w", err)
	}
	if n > MaxRecordSize || n > maxRatio*len(rec) {
		return nil, func() {}, fmt.Errorf("compressed record claims %d bytes from %d", n, len(rec))
	}
	bp := decompressBufs.Get().(*[]byte)
	out, err := s2.Decode(slices.Grow((*bp)[:0], n)[:n], rec[1:])
	if err != nil {
		decompressBufs.Put(bp)
		return nil, func() {}, fmt.Errorf("compressed record: %w", err)
	}
	*bp = out
	return out, func() {
		if cap(*bp) <= 4<<20 {
			decompressBufs.Put(bp)
		}
	}, nil
}

// Event flags.
const (
	flagAcknowledge = 1 << iota
	flagStartsAt
	flagEndsAt
	flagReceivedAt
	flagIdentity // Identity is non-nil (it may be empty)
	flagsKnown   = 1<<iota - 1
)

// sourceCodes are the one-byte codes of the known sources; 0 means the
// name follows as a string.
var sourceCodes = [...]ingest.Source{0: "", 1: ingest.SourcePrometheus, 2: ingest.SourceAlertmanager, 3: ingest.SourcePagerDuty, 4: ingest.SourceGeneric}

func sourceCode(s ingest.Source) byte {
	for i := 1; i < len(sourceCodes); i++ {
		if sourceCodes[i] == s {
			return byte(i)
		}
	}
	return 0
}

// AppendEvents appends a KindEvents record of events to b. The encoding
// is deterministic: the same events give the same bytes.
//
// Layout (integers are varints unless sized): kind byte, event count, the
// base time (Unix seconds of the first event's ReceivedAt), then for each
// event: fingerprint (8 bytes, little endian), source code, status,
// severity and flags bytes, the source name when its code is 0, then the
// raw severity, labels and annotations (the packed form, as is), the
// times present by the flags (seconds since the base, zigzag; and
// nanoseconds), generator URL, producer, and the identity names when the
// flag says there is an identity. Strings are a length and the bytes.
func AppendEvents(b []byte, events []ingest.Event) []byte {
	return appendEvents(append(b, byte(KindEvents)), events)
}

// appendEvents appends the body of a KindEvents record: what follows the
// kind byte.
func appendEvents(b []byte, events []ingest.Event) []byte {
	b = binary.AppendUvarint(b, uint64(len(events)))
	var base int64
	if len(events) > 0 && !events[0].ReceivedAt.IsZero() {
		base = events[0].ReceivedAt.Unix()
	}
	b = binary.AppendVarint(b, base)
	for i := range events {
		e := &events[i]
		b = binary.LittleEndian.AppendUint64(b, uint64(e.Fingerprint))
		code := sourceCode(e.Source)
		var flags byte
		if e.Acknowledge {
			flags |= flagAcknowledge
		}
		if !e.StartsAt.IsZero() {
			flags |= flagStartsAt
		}
		if !e.EndsAt.IsZero() {
			flags |= flagEndsAt
		}
		if !e.ReceivedAt.IsZero() {
			flags |= flagReceivedAt
		}
		if e.Identity != nil {
			flags |= flagIdentity
		}
		b = append(b, code, byte(e.Status), byte(e.Severity), flags)
		if code == 0 {
			b = appendString(b, string(e.Source))
		}
		b = appendString(b, e.RawSeverity)
		b = appendString(b, string(e.Labels))
		b = appendString(b, string(e.Annotations))
		for _, t := range [...]time.Time{e.StartsAt, e.EndsAt, e.ReceivedAt} {
			if !t.IsZero() {
				b = binary.AppendVarint(b, t.Unix()-base)
				b = binary.AppendUvarint(b, uint64(t.Nanosecond()))
			}
		}
		b = appendString(b, e.GeneratorURL)
		b = appendString(b, e.Producer)
		if e.Identity != nil {
			b = binary.AppendUvarint(b, uint64(len(e.Identity)))
			for _, n := range e.Identity {
				b = appendString(b, n)
			}
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// DecodeEvents decodes a KindEvents record, compressed or not, appending
// the events to dst. Times come back in UTC, without monotonic readings;
// everything else as encoded. A malformed record is an error, never a
// panic.
func DecodeEvents(rec []byte, dst []ingest.Event) ([]ingest.Event, error) {
	if k := RecordKind(rec); k != KindEvents {
		return dst, fmt.Errorf("decoding events: record kind %s", k)
	}
	b, release, err := body(rec)
	if err != nil {
		return dst, fmt.Errorf("decoding events: %w", err)
	}
	defer release()
	d := decoder{b: b}
	dst = d.events(dst)
	if d.err != nil {
		return dst, fmt.Errorf("decoding events: %w", d.err)
	}
	return dst, nil
}

// events decodes the events of a record, to its end, appending them to
// dst.
func (d *decoder) events(dst []ingest.Event) []ingest.Event {
	n := d.uvarint()
	base := d.varint()
	if d.err == nil && n > uint64(len(d.b)/13) { // 13: an event's least bytes
		d.fail("event count %d exceeds the record", n)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		var e ingest.Event
		e.Fingerprint = model.Fingerprint(d.uint64())
		code, status, sev, flags := d.byte(), d.byte(), d.byte(), d.byte()
		switch {
		case int(code) >= len(sourceCodes):
			d.fail("event %d: source code %d", i, code)
		case status > byte(ingest.StatusResolved):
			d.fail("event %d: status %d", i, status)
		case sev > byte(ingest.SeverityInfo):
			d.fail("event %d: severity %d", i, sev)
		case flags&^flagsKnown != 0:
			d.fail("event %d: flags %#x", i, flags)
		}
		if code == 0 {
			e.Source = ingest.Source(d.string())
		} else if d.err == nil {
			e.Source = sourceCodes[code]
		}
		e.Status, e.Severity, e.Acknowledge = ingest.Status(status), ingest.Severity(sev), flags&flagAcknowledge != 0
		e.RawSeverity = d.string()
		e.Labels = d.labels()
		e.Annotations = d.labels()
		if flags&flagStartsAt != 0 {
			e.StartsAt = d.time(base)
		}
		if flags&flagEndsAt != 0 {
			e.EndsAt = d.time(base)
		}
		if flags&flagReceivedAt != 0 {
			e.ReceivedAt = d.time(base)
		}
		e.GeneratorURL = d.string()
		e.Producer = d.string()
		if flags&flagIdentity != 0 {
			m := d.uvarint()
			if m > uint64(len(d.b)) {
				d.fail("event %d: identity of %d names exceeds the record", i, m)
				break
			}
			e.Identity = make([]string, 0, m)
			for j := uint64(0); j < m && d.err == nil; j++ {
				e.Identity = append(e.Identity, d.string())
			}
		}
		if d.err == nil {
			dst = append(dst, e)
		}
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail("%d bytes after the last event", len(d.b))
	}
	return dst
}

type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("record ends early")

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.err = errShort
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uint64() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.err = errShort
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errors.New("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errors.New("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = errShort
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// labels decodes a packed label set and checks its shape, so that
// iterating it cannot go wrong: every name and value ends with 0xff.
func (d *decoder) labels() ingest.Labels {
	s := d.string()
	if s != "" && (s[len(s)-1] != model.SeparatorByte || strings.Count(s, "\xff")%2 != 0) {
		d.fail("malformed packed labels")
		return ""
	}
	return ingest.Labels(s)
}

func (d *decoder) time(base int64) time.Time {
	sec, nsec := d.varint(), d.uvarint()
	if d.err != nil {
		return time.Time{}
	}
	if nsec >= uint64(time.Second) {
		d.fail("nanoseconds %d out of range", nsec)
		return time.Time{}
	}
	return time.Unix(base+sec, int64(nsec)).UTC()
}

// TopicPartition names a Kafka partition.
type TopicPartition struct {
	Topic     string
	Partition int
}

// Offsets are Kafka offsets by partition: in a record and in what Recover
// and the Submitter report, the last offset logged (the next message to
// consume is the one after it).
type Offsets map[TopicPartition]int64

// AppendKafkaEvents appends a KindKafkaEvents record to b: events from
// Kafka messages and, per partition, the offset of the last of those
// messages. The events may be none (the messages were dead letters): the
// offsets are logged all the same. Deterministic: partitions are sorted.
//
// Layout: kind byte; partition count (uvarint); per partition the topic
// (string), partition (uvarint) and offset (uvarint); then the events
// exactly as in a KindEvents record after its kind byte.
func AppendKafkaEvents(b []byte, offsets Offsets, events []ingest.Event) []byte {
	b = append(b, byte(KindKafkaEvents))
	b = binary.AppendUvarint(b, uint64(len(offsets)))
	for _, tp := range slices.SortedFunc(maps.Keys(offsets), compareTP) {
		b = appendString(b, tp.Topic)
		b = binary.AppendUvarint(b, uint64(tp.Partition))
		b = binary.AppendUvarint(b, uint64(offsets[tp]))
	}
	return appendEvents(b, events)
}

func compareTP(a, b TopicPartition) int {
	return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
}

// DecodeKafkaEvents decodes a KindKafkaEvents record, compressed or not:
// the offsets, and the events appended to dst as DecodeEvents does.
func DecodeKafkaEvents(rec []byte, dst []ingest.Event) (Offsets, []ingest.Event, error) {
	if k := RecordKind(rec); k != KindKafkaEvents {
		return nil, dst, fmt.Errorf("decoding kafka events: record kind %s", k)
	}
	b, release, err := body(rec)
	if err != nil {
		return nil, dst, fmt.Errorf("decoding kafka events: %w", err)
	}
	defer release()
	d := decoder{b: b}
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/3) { // 3: a partition's least bytes
		d.fail("partition count %d exceeds the record", n)
	}
	if d.err != nil {
		return nil, dst, fmt.Errorf("decoding kafka events: %w", d.err)
	}
	offsets := make(Offsets, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		tp := TopicPartition{Topic: d.string()}
		p, off := d.uvarint(), d.uvarint()
		tp.Partition = int(p)
		switch _, dup := offsets[tp]; {
		case d.err != nil:
		case tp.Topic == "":
			d.fail("partition %d: no topic", i)
		case p > math.MaxInt32 || off > math.MaxInt64:
			d.fail("partition %d: %d at %d out of range", i, p, off)
		case dup:
			d.fail("partition %s/%d twice", tp.Topic, p)
		}
		offsets[tp] = int64(off)
	}
	dst = d.events(dst)
	if d.err != nil {
		return nil, dst, fmt.Errorf("decoding kafka events: %w", d.err)
	}
	return offsets, dst, nil
}

// Command is an engine command as the log keeps it: correlate.Command
// as JSON (one of its commands, and At, the engine clock when it was
// submitted). The types are the engine's own; their JSON is the format,
// held by TestCommandGolden.
type Command = correlate.Command

// AppendCommand appends a KindCommand record of c to b.
func AppendCommand(b []byte, c *Command) ([]byte, error) {
	js, err := json.Marshal(c)
	if err != nil {
		return b, fmt.Errorf("encoding command: %w", err)
	}
	return append(append(b, byte(KindCommand)), js...), nil
}

// DecodeCommand decodes a KindCommand record, compressed or not.
func DecodeCommand(rec []byte) (*Command, error) {
	if k := RecordKind(rec); k != KindCommand {
		return nil, fmt.Errorf("decoding command: record kind %s", k)
	}
	b, release, err := body(rec)
	if err != nil {
		return nil, fmt.Errorf("decoding command: %w", err)
	}
	defer release()
	var c Command
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("decoding command: %w", err)
	}
	if n := commands(&c); n != 1 {
		return nil, fmt.Errorf("decoding command: %d commands in one record", n)
	}
	return &c, nil
}

// commands counts the commands c holds: a record holds one.
func commands(c *Command) int {
	n := 0
	for _, set := range [...]bool{c.Action != nil, c.Silence != nil, c.ExpireSilence != "", c.Problem != nil,
		len(c.Changes) > 0, c.Notification != nil, c.PruneNotifications} {
		if set {
			n++
		}
	}
	return n
}
