package wal

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/ingest"
)

// utc is what decoding gives back: times in UTC, without monotonic
// readings.
func utc(events []ingest.Event) []ingest.Event {
	out := make([]ingest.Event, len(events))
	for i, e := range events {
		for _, t := range []*time.Time{&e.StartsAt, &e.EndsAt, &e.ReceivedAt} {
			if !t.IsZero() {
				*t = t.UTC()
			}
		}
		out[i] = e
	}
	return out
}

// sampleEvents are events of every format from the receivers' test
// payloads, plus the odd cases.
func sampleEvents(t testing.TB) []ingest.Event {
	t.Helper()
	now := time.Now() // local, with a monotonic reading, as the receivers stamp
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "..", "ingest", "testdata", name))
		require.NoError(t, err)
		return b
	}
	var evs []ingest.Event
	gen, err := ingest.ParseGeneric(read("generic_array.json"), now)
	require.NoError(t, err)
	evs = append(evs, gen...)
	am, err := ingest.ParseAlertmanager(read("alertmanager_webhook.json"), now)
	require.NoError(t, err)
	evs = append(evs, am...)
	pd, err := ingest.ParsePagerDuty(read("pagerduty_acknowledge.json"), now, func() string { return "k" })
	require.NoError(t, err)
	evs = append(evs, pd)
	prom, err := ingest.ParsePrometheus([]byte(`[{"labels":{"alertname":"A","instance":"h:9100","severity":"page"},"annotations":{"summary":"ünïcode ✓"},"startsAt":"2026-11-24T12:00:00.123456789+02:00","endsAt":"9999-12-31T23:59:59Z","generatorURL":"http://p/graph"}]`), now)
	require.NoError(t, err)
	evs = append(evs, prom...)
	odd := ingest.Event{
		Fingerprint: 42,
		Source:      "custom",
		Status:      ingest.StatusResolved,
		Severity:    ingest.SeverityInfo,
		StartsAt:    time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), // just after the zero time
		Identity:    []string{},                               // empty, not nil
		Labels:      ingest.NewLabels(ingest.Label{Name: "a", Value: ""}),
	}
	return append(evs, odd, ingest.Event{})
}

func TestEventsRoundTrip(t *testing.T) {
	evs := sampleEvents(t)
	rec := AppendEvents(nil, evs)
	require.Equal(t, KindEvents, RecordKind(rec))
	got, err := DecodeEvents(rec, nil)
	require.NoError(t, err)
	require.Equal(t, utc(evs), got)
	require.Equal(t, rec, AppendEvents(nil, got), "deterministic")
	require.NotNil(t, got[len(got)-2].Identity)

	// Appends to dst.
	got, err = DecodeEvents(rec, got[:1])
	require.NoError(t, err)
	require.Len(t, got, 1+len(evs))

	// Compact: well under the JSON the events came in.
	t.Logf("%d events in %d bytes", len(evs), len(rec))

	// Every truncation and every wrong kind is an error, never a panic.
	for i := range len(rec) {
		_, err := DecodeEvents(rec[:i], nil)
		require.Error(t, err, "cut at %d", i)
	}
	_, err = DecodeEvents(append(bytes.Clone(rec), 0), nil)
	require.ErrorContains(t, err, "after the last event")
	_, err = DecodeEvents([]byte{byte(KindCommand)}, nil)
	require.ErrorContains(t, err, "record kind command")
}

func TestKafkaEventsRoundTrip(t *testing.T) {
	evs := sampleEvents(t)
	offsets := Offsets{{"alerts", 3}: 41, {"alerts", 0}: 7, {"events", 0}: 0, {"a", 1 << 20}: 1<<62 + 5}
	rec := AppendKafkaEvents(nil, offsets, evs)
	require.Equal(t, KindKafkaEvents, RecordKind(rec))
	for _, r := range [][]byte{rec, Compress(nil, rec)} {
		gotOffsets, got, err := DecodeKafkaEvents(r, nil)
		require.NoError(t, err)
		require.Equal(t, offsets, gotOffsets)
		require.Equal(t, utc(evs), got)
	}
	for range 10 { // map order varies; the bytes do not
		require.Equal(t, rec, AppendKafkaEvents(nil, maps.Clone(offsets), evs), "deterministic")
	}
	// The events part is a KindEvents body.
	require.Equal(t, AppendEvents(nil, evs)[1:], rec[len(rec)-len(AppendEvents(nil, evs))+1:])

	// Offsets alone: the messages were dead letters.
	gotOffsets, got, err := DecodeKafkaEvents(AppendKafkaEvents(nil, Offsets{{"t", 0}: 9}, nil), nil)
	require.NoError(t, err)
	require.Equal(t, Offsets{{"t", 0}: 9}, gotOffsets)
	require.Empty(t, got)

	for i := range len(rec) {
		_, _, err := DecodeKafkaEvents(rec[:i], nil)
		require.Error(t, err, "cut at %d", i)
	}
	_, _, err = DecodeKafkaEvents(AppendEvents(nil, evs), nil)
	require.ErrorContains(t, err, "record kind events")
	_, err = DecodeEvents(rec, nil)
	require.ErrorContains(t, err, "record kind kafka events")
	bad := func(parts ...[]byte) []byte { return append([]byte{byte(KindKafkaEvents)}, bytes.Join(parts, nil)...) }
	_, _, err = DecodeKafkaEvents(bad([]byte{1, 0, 0, 0}, AppendEvents(nil, nil)[1:]), nil)
	require.ErrorContains(t, err, "no topic")
	_, _, err = DecodeKafkaEvents(bad([]byte{2, 1, 't', 0, 0, 1, 't', 0, 1}, AppendEvents(nil, nil)[1:]), nil)
	require.ErrorContains(t, err, "twice")
}

// FuzzDecodeKafkaEvents: arbitrary records never panic the decoder, and
// whatever it accepts encodes and decodes to itself.
func FuzzDecodeKafkaEvents(f *testing.F) {
	evs := sampleEvents(f)
	f.Add(AppendKafkaEvents(nil, Offsets{{"alerts", 3}: 41, {"b", 0}: 0}, evs))
	f.Add(Compress(nil, AppendKafkaEvents(nil, Offsets{{"alerts", 3}: 41}, evs)))
	f.Add(AppendKafkaEvents(nil, Offsets{{"t", 1}: 2}, nil))
	f.Add(AppendKafkaEvents(nil, nil, evs[:1]))
	f.Fuzz(func(t *testing.T, rec []byte) {
		offsets, got, err := DecodeKafkaEvents(rec, nil)
		if err != nil {
			return
		}
		o2, again, err := DecodeKafkaEvents(AppendKafkaEvents(nil, offsets, got), nil)
		require.NoError(t, err)
		require.Equal(t, offsets, o2)
		require.Equal(t, got, again)
	})
}

func TestCompressedRecords(t *testing.T) {
	evs := sampleEvents(t)
	raw := AppendEvents(nil, evs)
	rec := Compress([]byte("prefix"), raw)
	require.Equal(t, "prefix", string(rec[:6]), "appends to dst")
	rec = rec[6:]
	require.Less(t, len(rec), len(raw))
	require.Equal(t, KindEvents, RecordKind(rec))
	require.NotEqual(t, raw[0], rec[0], "flagged")
	got, err := DecodeEvents(rec, nil)
	require.NoError(t, err)
	require.Equal(t, utc(evs), got)
	t.Logf("%d bytes, %d compressed", len(raw), len(rec))

	// Short or incompressible records stay as they are.
	small := AppendEvents(nil, evs[:1])
	require.Equal(t, small, Compress(nil, small))
	require.Equal(t, rec, Compress(nil, rec), "not twice")

	// Damage is an error, never a panic or a huge allocation.
	for i := 1; i < len(rec); i++ {
		_, err := DecodeEvents(rec[:i], nil)
		require.Error(t, err, "cut at %d", i)
	}
	bomb := append([]byte{rec[0]}, 0xff, 0xff, 0xff, 0xff, 0x0f) // claims 4 GiB
	_, err = DecodeEvents(bomb, nil)
	require.Error(t, err)

	c, err := AppendCommand(nil, &Command{Changes: make([]correlate.ChangeEvent, 20)})
	require.NoError(t, err)
	cc := Compress(nil, c)
	require.Less(t, len(cc), len(c))
	got2, err := DecodeCommand(cc)
	require.NoError(t, err)
	require.Len(t, got2.Changes, 20)
}

func TestCommandRoundTrip(t *testing.T) {
	m1, err := labels.NewMatcher(labels.MatchRegexp, "service", "api|web")
	require.NoError(t, err)
	m2, err := labels.NewMatcher(labels.MatchNotEqual, "env", "dev")
	require.NoError(t, err)
	at := time.Date(2026, 11, 24, 12, 0, 0, 5, time.UTC)
	state := incident.ProblemKnownError
	title := "disk"
	cmds := []Command{
		{At: at, Action: &incident.Action{ID: "INC0000001", Verb: incident.VerbAssign, Actor: "me", Text: "mine", Assignee: "me", SupportGroup: "ops"}},
		{At: at, Silence: &correlate.Silence{ID: "s1", Matchers: labels.Matchers{m1, m2}, StartsAt: at, EndsAt: at.Add(time.Hour), CreatedBy: "me", Comment: "maint", CreatedAt: at, UpdatedAt: at}},
		{At: at, ExpireSilence: "s1"},
		{At: at, Problem: &incident.ProblemUpdate{ID: "PRB0000001", Actor: "me", State: &state, Title: &title, Link: "INC0000002"}},
		{At: at, Changes: []correlate.ChangeEvent{{ID: "CHG1", CI: "db1", Summary: "upgrade", Start: at, End: at.Add(time.Minute), Source: "cab", URL: "http://c/1"}}},
	}
	for _, c := range cmds {
		rec, err := AppendCommand(nil, &c)
		require.NoError(t, err)
		require.Equal(t, KindCommand, RecordKind(rec))
		got, err := DecodeCommand(rec)
		require.NoError(t, err)
		if c.Silence != nil {
			// Matchers hold compiled regexps: compare them as text.
			require.Equal(t, c.Silence.Matchers.String(), got.Silence.Matchers.String())
			require.True(t, got.Silence.Matchers[0].Matches("web"))
			c.Silence, got.Silence = nil, nil
		}
		require.Equal(t, c, *got)
	}
	_, err = DecodeCommand(AppendEvents(nil, nil))
	require.ErrorContains(t, err, "record kind events")
}

// goldenCommands are command records as siftd writes them: the format
// that logs on disk hold. Renaming a JSON field (of correlate.Command or
// of a type inside it) breaks this test, and must not be done: it would
// make those logs unreadable.
var goldenCommands = []string{
	`{"at":"2026-11-24T12:00:00.000000005Z","action":{"ID":"INC0000001","Verb":"assign","Actor":"me","Text":"mine","Assignee":"me","SupportGroup":"ops"}}`,
	`{"at":"2026-11-24T12:00:00.000000005Z","silence":{"ID":"","Matchers":[{"name":"service","value":"api|web","isRegex":true,"isEqual":true}],"StartsAt":"2026-11-24T12:00:00.000000005Z","EndsAt":"2026-11-24T13:00:00.000000005Z","CreatedBy":"me","Comment":"maint","CreatedAt":"0001-01-01T00:00:00Z","UpdatedAt":"0001-01-01T00:00:00Z"}}`,
	`{"at":"2026-11-24T12:00:00.000000005Z","expire_silence":"SIL0000001"}`,
	`{"at":"2026-11-24T12:00:00.000000005Z","problem":{"ID":"PRB0000001","Actor":"me","State":"known_error","Title":"disk","RootCause":null,"Workaround":null,"RunbookURL":null,"Link":"INC0000002","Unlink":""}}`,
	`{"at":"2026-11-24T12:00:00.000000005Z","changes":[{"id":"CHG1","ci":"db1","summary":"upgrade","start":"2026-11-24T12:00:00.000000005Z","source":"cab"}]}`,
	`{"at":"2026-11-24T12:00:00.000000005Z","notification":{"Receiver":"ops/slack","Incident":"INC0000001","Event":"opened","Occurrence":2,"Version":3,"Result":"sent","Ticket":"T-1","Attempts":1,"Error":"","At":"0001-01-01T00:00:00Z"}}`,
	`{"at":"2026-11-24T12:00:00.000000005Z","prune_notifications":true}`,
}

func TestCommandGolden(t *testing.T) {
	at := time.Date(2026, 11, 24, 12, 0, 0, 5, time.UTC)
	state := incident.ProblemKnownError
	title := "disk"
	want := []Command{
		{At: at, Action: &incident.Action{ID: "INC0000001", Verb: incident.VerbAssign, Actor: "me", Text: "mine", Assignee: "me", SupportGroup: "ops"}},
		{At: at, Silence: &correlate.Silence{StartsAt: at, EndsAt: at.Add(time.Hour), CreatedBy: "me", Comment: "maint"}},
		{At: at, ExpireSilence: "SIL0000001"},
		{At: at, Problem: &incident.ProblemUpdate{ID: "PRB0000001", Actor: "me", State: &state, Title: &title, Link: "INC0000002"}},
		{At: at, Changes: []correlate.ChangeEvent{{ID: "CHG1", CI: "db1", Summary: "upgrade", Start: at, Source: "cab"}}},
		{At: at, Notification: &correlate.NotificationRecord{NotificationKey: correlate.NotificationKey{Receiver: "ops/slack", Incident: "INC0000001", Event: "opened", Occurrence: 2}, Version: 3, Result: "sent", Ticket: "T-1", Attempts: 1}},
		{At: at, PruneNotifications: true},
	}
	require.Len(t, goldenCommands, len(want))
	for i, js := range goldenCommands {
		got, err := DecodeCommand(append([]byte{byte(KindCommand)}, js...))
		require.NoError(t, err, js)
		if got.Silence != nil {
			require.Equal(t, `{service=~"api|web"}`, got.Silence.Matchers.String())
			got.Silence.Matchers = nil
		}
		require.Equal(t, want[i], *got, js)
	}
}

func TestDecodeCommandWantsOneCommand(t *testing.T) {
	for _, js := range []string{`{"at":"2026-11-24T12:00:00Z"}`, `{"expire_silence":"a","prune_notifications":true}`, `{"changes":[]}`} {
		_, err := DecodeCommand(append([]byte{byte(KindCommand)}, js...))
		require.Error(t, err, js)
	}
	_, err := DecodeCommand(append([]byte{byte(KindCommand)}, `{"changes":[{}]}`...))
	require.NoError(t, err, "one command; the engine judges it")
}

// FuzzDecodeCommand feeds the decoder arbitrary records: it must not
// panic, and whatever it accepts must encode to a record that decodes to
// the same command.
func FuzzDecodeCommand(f *testing.F) {
	for _, js := range goldenCommands {
		f.Add(append([]byte{byte(KindCommand)}, js...))
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		got, err := DecodeCommand(rec)
		if err != nil {
			return
		}
		again, err := AppendCommand(nil, got)
		require.NoError(t, err)
		c2, err := DecodeCommand(Compress(nil, again))
		require.NoError(t, err)
		again2, err := AppendCommand(nil, c2)
		require.NoError(t, err)
		require.Equal(t, string(again), string(again2))
	})
}

// FuzzDecodeEvents feeds the decoder arbitrary records: it must not
// panic, and whatever it accepts must encode and decode to itself.
func FuzzDecodeEvents(f *testing.F) {
	evs := sampleEvents(f)
	f.Add(AppendEvents(nil, evs))
	f.Add(Compress(nil, AppendEvents(nil, evs)))
	for i := range evs {
		f.Add(AppendEvents(nil, evs[i:i+1]))
	}
	f.Add(AppendEvents(nil, nil))
	f.Fuzz(func(t *testing.T, rec []byte) {
		got, err := DecodeEvents(rec, nil)
		if err != nil {
			return
		}
		again, err := DecodeEvents(AppendEvents(nil, got), nil)
		require.NoError(t, err)
		require.Equal(t, got, again)
		for _, e := range got {
			for range e.Labels.All() { // a decoded label set iterates safely
			}
		}
	})
}

// FuzzEventRoundTrip builds events from fuzzed fields and requires them
// back exactly.
func FuzzEventRoundTrip(f *testing.F) {
	f.Add(uint64(1), "prometheus", uint8(0), uint8(1), "page", "alertname\xffA\xff", "summary\xffs\xff", int64(1700000000), int64(5), int64(-62135596800), int64(0), int64(1700000001), int64(999999999), "http://g", "prod", "dedup_key", true)
	f.Add(uint64(0), "", uint8(1), uint8(4), "", "", "", int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), "", "", "", false)
	f.Fuzz(func(t *testing.T, fp uint64, src string, status, sev uint8, raw, ls, ann string, s1, n1, s2, n2, s3, n3 int64, gen, prod, id string, ack bool) {
		mk := func(sec, nsec int64) time.Time {
			if sec == 0 && nsec == 0 {
				return time.Time{}
			}
			return time.Unix(sec%(1<<40), nsec%1e9).UTC()
		}
		e := ingest.Event{
			Fingerprint: model.Fingerprint(fp), Source: ingest.Source(src), Status: ingest.Status(status % 2), Severity: ingest.Severity(sev % 5),
			RawSeverity: raw, Labels: packed(ls), Annotations: packed(ann),
			StartsAt: mk(s1, n1), EndsAt: mk(s2, n2), ReceivedAt: mk(s3, n3),
			GeneratorURL: gen, Producer: prod, Acknowledge: ack,
		}
		if id != "" {
			e.Identity = []string{id, id + "2"}
		}
		in := []ingest.Event{e, e}
		got, err := DecodeEvents(AppendEvents(nil, in), nil)
		require.NoError(t, err)
		require.Equal(t, utc(in), got)
	})
}

// packed makes any string a well-formed packed label set.
func packed(s string) ingest.Labels {
	if s == "" {
		return ""
	}
	return ingest.NewLabels(ingest.Label{Name: s, Value: s})
}
