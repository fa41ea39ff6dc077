package ingest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type errCase struct {
	name  string
	body  string
	index int
	field string
	msg   string // a substring of the message; "" to skip
}

// requireFieldError asserts err is a *FieldError naming index and field.
func requireFieldError(t *testing.T, err error, tc errCase) {
	t.Helper()
	require.Error(t, err)
	var fe *FieldError
	require.True(t, errors.As(err, &fe), "error %T %v is not a *FieldError", err, err)
	require.Equal(t, tc.index, fe.Index, "index; error: %v", err)
	require.Equal(t, tc.field, fe.Field, "field; error: %v", err)
	if tc.msg != "" {
		require.Contains(t, fe.Error(), tc.msg)
	}
}

// alerts builds a batch whose first two elements are valid and whose last
// is bad, so that the index an error names is visibly not 0.
func alerts(bad string) string {
	return `[{"labels":{"alertname":"A"}},{"labels":{"alertname":"B"},"startsAt":"2025-06-03T10:00:00Z"},` + bad + `]`
}

func TestParsePrometheusErrors(t *testing.T) {
	for _, tc := range []errCase{
		{"malformed JSON", `[{"labels":{"a":"b"}`, -1, "", "malformed JSON"},
		{"empty body", ``, -1, "", "malformed JSON"},
		{"trailing data", `[{"labels":{"a":"b"}}]]`, -1, "", "malformed JSON"},
		{"object instead of array", `{"labels":{"a":"b"}}`, -1, "", "JSON array"},
		{"string instead of array", `"alerts"`, -1, "", "JSON array"},
		{"alert not an object", alerts(`5`), 2, "", "object"},
		{"missing labels", alerts(`{"annotations":{"summary":"s"}}`), 2, "labels", "missing"},
		{"empty labels", alerts(`{"labels":{}}`), 2, "labels", "missing"},
		{"null labels", alerts(`{"labels":null}`), 2, "labels", ""},
		{"labels not an object", alerts(`{"labels":["a","b"]}`), 2, "labels", "object of strings"},
		{"non-string label value", alerts(`{"labels":{"alertname":"C","severity":5}}`), 2, "labels.severity", "got number"},
		{"null label value", alerts(`{"labels":{"alertname":null}}`), 2, "labels.alertname", "got null"},
		{"object label value", alerts(`{"labels":{"alertname":{"x":"y"}}}`), 2, "labels.alertname", "got object"},
		{"empty label name", alerts(`{"labels":{"":"x"}}`), 2, "labels", "empty label name"},
		{"non-string annotation", alerts(`{"labels":{"a":"b"},"annotations":{"value":0.75}}`), 2, "annotations.value", "got number"},
		{"bad startsAt", alerts(`{"labels":{"a":"b"},"startsAt":"2025-06-03 10:00:00"}`), 2, "startsAt", "RFC 3339"},
		{"numeric startsAt", alerts(`{"labels":{"a":"b"},"startsAt":1748944800}`), 2, "startsAt", "RFC 3339"},
		{"bad endsAt", alerts(`{"labels":{"a":"b"},"endsAt":"soon"}`), 2, "endsAt", "RFC 3339"},
		{"endsAt before startsAt", alerts(`{"labels":{"a":"b"},"startsAt":"2025-06-03T10:00:00Z","endsAt":"2025-06-03T09:59:59Z"}`), 2, "endsAt", "before startsAt"},
		{"non-string generatorURL", alerts(`{"labels":{"a":"b"},"generatorURL":true}`), 2, "generatorURL", "string"},
		{"invalid UTF-8 in label value", alerts("{\"labels\":{\"a\":\"b\xff\"}}"), 2, "labels", "UTF-8"},
		{"invalid UTF-8 in label name", alerts("{\"labels\":{\"\xc3\x28\":\"b\"}}"), 2, "labels", "UTF-8"},
		{"invalid UTF-8 in annotation", alerts("{\"labels\":{\"a\":\"b\"},\"annotations\":{\"summary\":\"\xed\xa0\x80\"}}"), 2, "labels", "UTF-8"},
		{"invalid UTF-8 in generatorURL", alerts("{\"labels\":{\"a\":\"b\"},\"generatorURL\":\"http://x/\xfe\"}"), 2, "labels", "UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events, err := ParsePrometheus([]byte(tc.body), testReceivedAt)
			requireFieldError(t, err, tc)
			require.Nil(t, events, "a rejected batch returns no event")
		})
	}
}

func TestParseAlertmanagerErrors(t *testing.T) {
	msg := func(alerts string) string {
		return `{"version":"4","status":"firing","receiver":"sift","groupLabels":{},"alerts":[` +
			`{"status":"firing","labels":{"alertname":"A"}},{"status":"firing","labels":{"alertname":"B"}},` + alerts + `]}`
	}
	for _, tc := range []errCase{
		{"malformed JSON", `{"alerts":[`, -1, "", "malformed JSON"},
		{"empty body", ``, -1, "", ""},
		{"array instead of object", `[{"labels":{"a":"b"}}]`, -1, "", "got a JSON array"},
		{"missing alerts", `{"version":"4","status":"firing"}`, -1, "alerts", "missing"},
		{"null alerts", `{"version":"4","alerts":null}`, -1, "alerts", "missing"},
		{"alerts not an array", `{"version":"4","alerts":{"labels":{"a":"b"}}}`, -1, "alerts", "got a JSON object"},
		{"alert not an object", msg(`"x"`), 2, "", ""},
		{"missing labels", msg(`{"status":"firing"}`), 2, "labels", "missing"},
		{"empty labels", msg(`{"status":"firing","labels":{}}`), 2, "labels", "missing"},
		{"non-string label value", msg(`{"status":"firing","labels":{"alertname":"C","severity":5}}`), 2, "labels", "got a JSON number"},
		{"empty label name", msg(`{"status":"firing","labels":{"":"x"}}`), 2, "labels", "empty label name"},
		{"non-string annotation", msg(`{"status":"firing","labels":{"a":"b"},"annotations":{"v":[1]}}`), 2, "annotations", "got a JSON array"},
		{"bad status", msg(`{"status":"pending","labels":{"a":"b"}}`), 2, "status", `got "pending"`},
		{"non-string status", msg(`{"status":1,"labels":{"a":"b"}}`), 2, "status", ""},
		{"bad startsAt", msg(`{"status":"firing","labels":{"a":"b"},"startsAt":"yesterday"}`), 2, "startsAt", "yesterday"},
		{"numeric startsAt", msg(`{"status":"firing","labels":{"a":"b"},"startsAt":1748944800}`), 2, "startsAt", ""},
		{"bad endsAt", msg(`{"status":"resolved","labels":{"a":"b"},"startsAt":"2025-06-03T10:00:00Z","endsAt":"2025-06-03"}`), 2, "endsAt", ""},
		{"endsAt before startsAt", msg(`{"status":"resolved","labels":{"a":"b"},"startsAt":"2025-06-03T10:00:00Z","endsAt":"2025-06-03T09:00:00Z"}`), 2, "endsAt", "before startsAt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events, err := ParseAlertmanager([]byte(tc.body), testReceivedAt)
			requireFieldError(t, err, tc)
			require.Nil(t, events)
		})
	}
}

func TestParseGenericErrors(t *testing.T) {
	batch := func(bad string) string {
		return `[{"labels":{"host":"a"}},{"labels":{"host":"b"},"severity":"minor"},` + bad + `]`
	}
	for _, tc := range []errCase{
		{"malformed JSON", `{"labels":{"a":"b"}`, -1, "", "malformed JSON"},
		{"empty body", `   `, -1, "", "malformed JSON"},
		{"number", `42`, -1, "", "object or an array"},
		{"string", `"labels"`, -1, "", "object or an array"},
		{"null", `null`, -1, "", "object or an array"},
		{"array element not an object", batch(`[]`), 2, "", "object"},
		{"missing labels in single object", `{"severity":"critical"}`, 0, "labels", "missing"},
		{"missing labels", batch(`{"status":"firing"}`), 2, "labels", "missing"},
		{"empty labels", batch(`{"labels":{}}`), 2, "labels", "missing"},
		{"null labels", batch(`{"labels":null}`), 2, "labels", "missing"},
		{"non-string label value", batch(`{"labels":{"host":"c","port":8080}}`), 2, "labels.port", "got number"},
		{"empty label name", batch(`{"labels":{"":"c"}}`), 2, "labels", "empty label name"},
		{"non-string annotation", batch(`{"labels":{"host":"c"},"annotations":{"n":false}}`), 2, "annotations.n", "got false"},
		{"bad status", batch(`{"labels":{"host":"c"},"status":"open"}`), 2, "status", `got "open"`},
		{"status wrong case", batch(`{"labels":{"host":"c"},"status":"Resolved"}`), 2, "status", ""},
		{"non-string status", batch(`{"labels":{"host":"c"},"status":1}`), 2, "status", "string"},
		{"non-string severity", batch(`{"labels":{"host":"c"},"severity":2}`), 2, "severity", "string"},
		{"non-string source", batch(`{"labels":{"host":"c"},"source":{}}`), 2, "source", "string"},
		{"bad timestamp", batch(`{"labels":{"host":"c"},"timestamp":"03/06/2025 10:00"}`), 2, "timestamp", "RFC 3339"},
		{"numeric timestamp", batch(`{"labels":{"host":"c"},"timestamp":1748944800}`), 2, "timestamp", ""},
		{"identity not an array", batch(`{"labels":{"host":"c"},"identity":"host"}`), 2, "identity", "array"},
		{"identity with a number", batch(`{"labels":{"host":"c"},"identity":["host",1]}`), 2, "identity", "non-empty label names"},
		{"identity with an empty name", batch(`{"labels":{"host":"c"},"identity":[""]}`), 2, "identity", "non-empty label names"},
		{"identity naming no label", batch(`{"labels":{"host":"c"},"identity":["instance","job"]}`), 2, "identity", "names no label"},
		{"empty identity", batch(`{"labels":{"host":"c"},"identity":[]}`), 2, "identity", "names no label"},
		{"invalid UTF-8 in label", batch("{\"labels\":{\"host\":\"\xff\"}}"), 2, "labels", "UTF-8"},
		{"invalid UTF-8 in severity", batch("{\"labels\":{\"host\":\"c\"},\"severity\":\"crit\xc0\"}"), 2, "labels", "UTF-8"},
		{"invalid UTF-8 in identity", batch("{\"labels\":{\"host\":\"c\"},\"identity\":[\"host\",\"\xff\"]}"), 2, "identity", "UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events, err := ParseGeneric([]byte(tc.body), testReceivedAt)
			requireFieldError(t, err, tc)
			require.Nil(t, events)
		})
	}
}

func TestParsePagerDutyErrors(t *testing.T) {
	const payload = `"payload":{"summary":"Disk full on db-3","source":"db-3.example.com","severity":"critical"}`
	long := strings.Repeat("k", 256)
	for _, tc := range []errCase{
		{"malformed JSON", `{"routing_key":"r",`, -1, "", "malformed JSON"},
		{"empty body", ``, -1, "", "malformed JSON"},
		{"trailing garbage", `{"routing_key":"r","event_action":"resolve","dedup_key":"d"} x`, -1, "", "trailing data"},
		{"second event", `{"routing_key":"r","event_action":"resolve","dedup_key":"d"}{}`, -1, "", "trailing data"},
		{"stray closing brace", `{"routing_key":"r","event_action":"resolve","dedup_key":"d"}}`, -1, "", "trailing data"},
		{"stray closing bracket", `{"routing_key":"r","event_action":"resolve","dedup_key":"d"}]`, -1, "", "trailing data"},
		{"array instead of object", `[{"routing_key":"r"}]`, -1, "", ""},
		{"missing routing_key", `{"event_action":"trigger",` + payload + `}`, -1, "routing_key", "missing"},
		{"blank routing_key", `{"routing_key":"  ","event_action":"trigger",` + payload + `}`, -1, "routing_key", "missing"},
		{"numeric routing_key", `{"routing_key":12345,"event_action":"trigger",` + payload + `}`, -1, "routing_key", "string"},
		{"missing event_action", `{"routing_key":"r",` + payload + `}`, -1, "event_action", "missing"},
		{"bad event_action", `{"routing_key":"r","event_action":"escalate",` + payload + `}`, -1, "event_action", `got "escalate"`},
		{"event_action wrong case", `{"routing_key":"r","event_action":"Trigger",` + payload + `}`, -1, "event_action", ""},
		{"trigger without payload", `{"routing_key":"r","event_action":"trigger"}`, -1, "payload", "missing"},
		{"trigger without summary", `{"routing_key":"r","event_action":"trigger","payload":{"source":"h","severity":"info"}}`, -1, "payload.summary", "missing"},
		{"trigger with blank summary", `{"routing_key":"r","event_action":"trigger","payload":{"summary":" ","source":"h","severity":"info"}}`, -1, "payload.summary", "missing"},
		{"summary too long", `{"routing_key":"r","event_action":"trigger","payload":{"summary":"` + strings.Repeat("s", 1025) + `","source":"h","severity":"info"}}`, -1, "payload.summary", "1024"},
		{"trigger without source", `{"routing_key":"r","event_action":"trigger","payload":{"summary":"s","severity":"info"}}`, -1, "payload.source", "missing"},
		{"trigger without severity", `{"routing_key":"r","event_action":"trigger","payload":{"summary":"s","source":"h"}}`, -1, "payload.severity", "missing"},
		{"bad severity", `{"routing_key":"r","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"high"}}`, -1, "payload.severity", `got "high"`},
		{"severity wrong case", `{"routing_key":"r","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"CRITICAL"}}`, -1, "payload.severity", ""},
		{"numeric severity", `{"routing_key":"r","event_action":"trigger","payload":{"summary":"s","source":"h","severity":1}}`, -1, "payload.severity", "string"},
		{"bad timestamp", `{"routing_key":"r","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info","timestamp":"17/07/2015"}}`, -1, "payload.timestamp", "ISO 8601"},
		{"custom_details not an object", `{"routing_key":"r","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info","custom_details":[1,2]}}`, -1, "payload.custom_details", ""},
		{"resolve without dedup_key", `{"routing_key":"r","event_action":"resolve"}`, -1, "dedup_key", "required for resolve"},
		{"acknowledge without dedup_key", `{"routing_key":"r","event_action":"acknowledge","dedup_key":""}`, -1, "dedup_key", "required for acknowledge"},
		{"dedup_key too long", `{"routing_key":"r","event_action":"resolve","dedup_key":"` + long + `"}`, -1, "dedup_key", "255"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			_, err := ParsePagerDuty([]byte(tc.body), testReceivedAt, func() string { called = true; return "k" })
			requireFieldError(t, err, tc)
			// payload.timestamp is checked after the key is made; the
			// wasted key is harmless.
			if tc.field != "payload.timestamp" {
				require.False(t, called, "newKey called for a rejected event")
			}
		})
	}
}

// encoding/json, which the Alertmanager and PagerDuty parsers use, replaces
// invalid UTF-8 with U+FFFD instead of failing, as Alertmanager itself
// does. These pin that behaviour: the events are still valid UTF-8.
func TestInvalidUTF8Replaced(t *testing.T) {
	t.Run("alertmanager", func(t *testing.T) {
		events, err := ParseAlertmanager([]byte("{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"host\":\"db\xff3\"}}]}"), testReceivedAt)
		require.NoError(t, err)
		require.Equal(t, NewLabels(Label{"host", "db\uFFFD3"}), events[0].Labels)
		require.NoError(t, eventInvariants(&events[0], SourceAlertmanager, testReceivedAt))
	})
	t.Run("pagerduty", func(t *testing.T) {
		e, err := ParsePagerDuty([]byte("{\"routing_key\":\"r\",\"event_action\":\"resolve\",\"dedup_key\":\"k\xfe\"}"), testReceivedAt, seqKeys("x"))
		require.NoError(t, err)
		require.Equal(t, NewLabels(Label{"dedup_key", "k\uFFFD"}), e.Labels)
		require.NoError(t, eventInvariants(&e, SourcePagerDuty, testReceivedAt))
	})
}

func TestFieldErrorMessage(t *testing.T) {
	require.Equal(t, `event 2: field "labels.severity": must be a string, got number`,
		(&FieldError{Index: 2, Field: "labels.severity", Msg: "must be a string, got number"}).Error())
	require.Equal(t, `malformed JSON: x`, (&FieldError{Index: -1, Msg: "malformed JSON: x"}).Error())
	require.Equal(t, `field "routing_key": is missing`, (&FieldError{Index: -1, Field: "routing_key", Msg: "is missing"}).Error())
}

// TestParseAccepts covers inputs each parser must accept, with the value
// that proves it read them right.
func TestParseAccepts(t *testing.T) {
	at := testReceivedAt
	t.Run("prometheus empty batch", func(t *testing.T) {
		events, err := ParsePrometheus([]byte(`[]`), at)
		require.NoError(t, err)
		require.Empty(t, events)
	})
	t.Run("prometheus zero and null times", func(t *testing.T) {
		events, err := ParsePrometheus([]byte(`[{"labels":{"a":"b"},"annotations":null,"generatorURL":null,
			"startsAt":"0001-01-01T00:00:00Z","endsAt":null}]`), at)
		require.NoError(t, err)
		require.Equal(t, at, events[0].StartsAt)
		require.True(t, events[0].EndsAt.IsZero())
		require.Equal(t, StatusFiring, events[0].Status)
		require.Zero(t, events[0].Annotations.Len())
	})
	t.Run("prometheus endsAt equal to receivedAt is resolved", func(t *testing.T) {
		events, err := ParsePrometheus([]byte(`[{"labels":{"a":"b"},"endsAt":"2025-06-03T10:15:30Z"},
			{"labels":{"a":"c"},"endsAt":"2025-06-03T10:15:30.000000001Z"}]`), at)
		require.NoError(t, err)
		require.Equal(t, StatusResolved, events[0].Status)
		require.Equal(t, StatusFiring, events[1].Status)
	})
	t.Run("prometheus resolved without startsAt starts at endsAt", func(t *testing.T) {
		events, err := ParsePrometheus([]byte(`[{"labels":{"a":"b"},"endsAt":"2025-06-03T10:00:00Z"},
			{"labels":{"a":"c"},"endsAt":"2025-06-03T10:20:00Z"}]`), at)
		require.NoError(t, err)
		require.Equal(t, time.Date(2025, 6, 3, 10, 0, 0, 0, time.UTC), events[0].StartsAt)
		require.Equal(t, at, events[1].StartsAt)
		for i := range events {
			require.NoError(t, eventInvariants(&events[i], SourcePrometheus, at))
		}
	})
	t.Run("prometheus escapes and duplicate label names", func(t *testing.T) {
		events, err := ParsePrometheus([]byte(`[{"labels":{"job":"a","n\u0061me":"caf\u00e9 \"x\"\n","job":"b"}}]`), at)
		require.NoError(t, err)
		// The last of a repeated name wins, as with encoding/json.
		require.Equal(t, NewLabels(Label{"job", "b"}, Label{"name", "café \"x\"\n"}), events[0].Labels)
	})
	t.Run("prometheus many labels out of order", func(t *testing.T) {
		// Many labels, in reverse order, with a repeated name.
		var b strings.Builder
		b.WriteString(`[{"labels":{`)
		names := []string{"t", "s", "r", "q", "p", "o", "n", "m", "l", "k", "j", "i", "h", "g", "f", "e", "d", "c", "b", "a", "k"}
		for i, n := range names {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"` + n + `":"` + n + strings.Repeat("!", i) + `"`)
		}
		b.WriteString(`}}]`)
		events, err := ParsePrometheus([]byte(b.String()), at)
		require.NoError(t, err)
		require.Equal(t, 20, events[0].Labels.Len())
		v, _ := events[0].Labels.Get("k")
		require.Equal(t, "k"+strings.Repeat("!", 20), v) // the later "k"
		require.NoError(t, eventInvariants(&events[0], SourcePrometheus, at))
	})
	t.Run("alertmanager empty status read from endsAt", func(t *testing.T) {
		events, err := ParseAlertmanager([]byte(`{"alerts":[
			{"labels":{"a":"1"},"startsAt":"2025-06-03T10:00:00Z","endsAt":"2025-06-03T10:05:00Z"},
			{"labels":{"a":"2"},"startsAt":"2025-06-03T10:00:00Z","endsAt":"2025-06-03T10:20:00Z"},
			{"status":"firing","labels":{"a":"3"},"startsAt":"2025-06-03T10:00:00Z","endsAt":"2025-06-03T10:05:00Z"}]}`), at)
		require.NoError(t, err)
		require.Equal(t, StatusResolved, events[0].Status)
		require.Equal(t, StatusFiring, events[1].Status)
		require.Equal(t, StatusFiring, events[2].Status, "an explicit status wins over endsAt")
	})
	t.Run("alertmanager empty alerts", func(t *testing.T) {
		events, err := ParseAlertmanager([]byte(`{"version":"4","alerts":[]}`), at)
		require.NoError(t, err)
		require.Empty(t, events)
	})
	t.Run("generic severity field wins over label", func(t *testing.T) {
		events, err := ParseGeneric([]byte(`{"labels":{"severity":"info","h":"x"},"severity":"High","status":null,"identity":null}`), at)
		require.NoError(t, err)
		require.Equal(t, SeverityMajor, events[0].Severity)
		require.Equal(t, "High", events[0].RawSeverity)
		require.Nil(t, events[0].Identity)
	})
	t.Run("generic identity naming absent labels too", func(t *testing.T) {
		events, err := ParseGeneric([]byte(`{"labels":{"host":"a","check":"c"},"identity":["service","host"]}`), at)
		require.NoError(t, err)
		require.Equal(t, []string{"host", "service"}, events[0].Identity)
		require.Equal(t, NewLabels(Label{"host", "a"}).Fingerprint(), events[0].Fingerprint)
	})
	t.Run("pagerduty timestamps", func(t *testing.T) {
		want := time.Date(2015, 7, 17, 8, 42, 58, 0, time.UTC)
		for _, ts := range []string{"2015-07-17T08:42:58Z", "2015-07-17T08:42:58+0000", "2015-07-17T10:42:58+02:00", "2015-07-17T10:42:58+0200", "2015-07-17T08:42:58.000Z"} {
			e, err := ParsePagerDuty([]byte(`{"routing_key":"r","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info","timestamp":"`+ts+`"}}`), at, seqKeys("k"))
			require.NoError(t, err, ts)
			require.True(t, want.Equal(e.StartsAt), "%s: %v", ts, e.StartsAt)
		}
	})
	t.Run("pagerduty trailing whitespace", func(t *testing.T) {
		_, err := ParsePagerDuty([]byte("{\"routing_key\":\"r\",\"event_action\":\"resolve\",\"dedup_key\":\"d\"}\r\n\t \n"), at, seqKeys("k"))
		require.NoError(t, err)
	})
	t.Run("pagerduty severities", func(t *testing.T) {
		for raw, want := range map[string]Severity{"critical": SeverityCritical, "error": SeverityMajor, "warning": SeverityWarning, "info": SeverityInfo} {
			e, err := ParsePagerDuty([]byte(`{"routing_key":"r","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"`+raw+`"}}`), at, seqKeys("k"))
			require.NoError(t, err)
			require.Equal(t, want, e.Severity, raw)
		}
	})
}

// TestParsedEventsDoNotAliasInput: the receivers reuse request buffers, so
// no event may keep a reference into the body it was parsed from.
func TestParsedEventsDoNotAliasInput(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			body := readTestdata(t, tc.name+".json")
			events, err := tc.parse(body, testReceivedAt)
			require.NoError(t, err)
			before := renderJSON(events)
			for i := range body {
				body[i] = 'X'
			}
			// Churn the parser and builder pools too.
			for _, other := range goldenCases {
				_, _ = other.parse(readTestdata(t, other.name+".json"), testReceivedAt)
			}
			require.Equal(t, string(before), string(renderJSON(events)))
		})
	}
}
