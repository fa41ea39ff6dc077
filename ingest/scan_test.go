package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// The scanner (scan.go) is held to encoding/json: FuzzScanDifferential
// parses every input with ParsePrometheus and ParseGeneric and with a
// reference built on encoding/json, and requires the same verdict and the
// same labels, annotations and other values. Run it with
//
//	go test ./ingest -run='^$' -fuzz=FuzzScanDifferential -fuzztime=60s

// member is one key and value of a JSON object, in input order.
type member struct {
	key string
	raw json.RawMessage
}

// members splits a JSON object into its members, in order, keys decoded
// by encoding/json. raw must be a valid JSON object.
func members(raw []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // {
		return nil, err
	}
	var ms []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		ms = append(ms, member{tok.(string), bytes.TrimSpace(v)})
	}
	return ms, nil
}

// refEvent is what the reference expects of an event.
type refEvent struct {
	labels, annotations map[string]string
	startsAt, endsAt    time.Time
	url                 string
	status              Status
	rawSeverity         string
	producer            string
	identity            []string
}

func isNull(raw []byte) bool { return string(raw) == "null" }

// refStringObject decodes labels or annotations into m, merging as a
// repeated key does: what the parsers accept is an object of strings with
// non-empty names and valid UTF-8 text (checked on the raw bytes: escapes
// always decode to valid UTF-8, so the raw text is valid exactly when the
// decoded text is).
func refStringObject(raw []byte, m map[string]string) error {
	if len(raw) == 0 || raw[0] != '{' {
		return errors.New("not an object")
	}
	var obj map[string]string
	if err := json.Unmarshal(raw, &obj); err != nil {
		return err
	}
	if _, ok := obj[""]; ok {
		return errors.New("empty name")
	}
	if !utf8.Valid(raw) {
		return errors.New("invalid UTF-8")
	}
	maps.Copy(m, obj)
	return nil
}

func refString(raw []byte) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", errors.New("not a string")
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// refTime is parseTime on a JSON value; null is the zero time.
func refTime(raw []byte) (time.Time, error) {
	if isNull(raw) {
		return time.Time{}, nil
	}
	s, err := refString(raw)
	if err != nil || s == "" {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}, err
	}
	return t, nil
}

// refElements returns the elements of a top-level array, or body itself
// as one element when single allows a lone object.
func refElements(body []byte, single bool) ([]json.RawMessage, error) {
	body = bytes.TrimSpace(body)
	if single && len(body) > 0 && body[0] == '{' {
		return []json.RawMessage{body}, nil
	}
	if len(body) == 0 || body[0] != '[' {
		return nil, errors.New("not an array")
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(body, &elems); err != nil {
		return nil, err
	}
	for i := range elems {
		elems[i] = bytes.TrimSpace(elems[i])
		if elems[i][0] != '{' {
			return nil, fmt.Errorf("element %d not an object", i)
		}
	}
	return elems, nil
}

func refPrometheus(body []byte) ([]refEvent, error) {
	elems, err := refElements(body, false)
	if err != nil {
		return nil, err
	}
	var out []refEvent
	for i, raw := range elems {
		ms, err := members(raw)
		if err != nil {
			return nil, err
		}
		e := refEvent{labels: map[string]string{}, annotations: map[string]string{}}
		for _, m := range ms {
			switch m.key {
			case "labels":
				err = refStringObject(m.raw, e.labels)
			case "annotations":
				if !isNull(m.raw) {
					err = refStringObject(m.raw, e.annotations)
				}
			case "startsAt":
				e.startsAt, err = refTime(m.raw)
			case "endsAt":
				e.endsAt, err = refTime(m.raw)
			case "generatorURL":
				if !isNull(m.raw) {
					e.url, err = refString(m.raw)
					if err == nil && !utf8.Valid(m.raw) {
						err = errors.New("invalid UTF-8")
					}
				}
			}
			if err != nil {
				return nil, fmt.Errorf("alert %d: %s: %w", i, m.key, err)
			}
		}
		if len(e.labels) == 0 {
			return nil, fmt.Errorf("alert %d: no labels", i)
		}
		if !e.endsAt.IsZero() && !e.startsAt.IsZero() && e.endsAt.Before(e.startsAt) {
			return nil, fmt.Errorf("alert %d: ends before it starts", i)
		}
		if e.startsAt.IsZero() {
			e.startsAt = missingStartsAt(e.endsAt, testReceivedAt)
		}
		if !e.endsAt.IsZero() && !e.endsAt.After(testReceivedAt) {
			e.status = StatusResolved
		}
		e.rawSeverity = e.labels["severity"]
		out = append(out, e)
	}
	return out, nil
}

func refGeneric(body []byte) ([]refEvent, error) {
	elems, err := refElements(body, true)
	if err != nil {
		return nil, err
	}
	var out []refEvent
	for i, raw := range elems {
		ms, err := members(raw)
		if err != nil {
			return nil, err
		}
		e := refEvent{labels: map[string]string{}, annotations: map[string]string{}, startsAt: testReceivedAt}
		var severity *string
		for _, m := range ms {
			if isNull(m.raw) {
				continue
			}
			switch m.key {
			case "labels":
				err = refStringObject(m.raw, e.labels)
			case "annotations":
				err = refStringObject(m.raw, e.annotations)
			case "severity", "source":
				var s string
				s, err = refString(m.raw)
				if err == nil && !utf8.Valid(m.raw) {
					err = errors.New("invalid UTF-8")
				}
				if m.key == "source" {
					e.producer = s
				} else {
					severity = &s
				}
			case "status":
				var s string
				if s, err = refString(m.raw); err == nil {
					var ok bool
					if e.status, ok = ParseStatus(s); !ok {
						err = errors.New("bad status")
					}
				}
			case "timestamp":
				var t time.Time
				if t, err = refTime(m.raw); err == nil && !t.IsZero() {
					e.startsAt = t
				}
			case "identity":
				var elems []json.RawMessage
				if m.raw[0] != '[' {
					err = errors.New("identity not an array")
				} else if err = json.Unmarshal(m.raw, &elems); err == nil {
					e.identity = []string{}
					for _, el := range elems {
						s, serr := refString(el)
						if serr != nil || s == "" || !utf8.Valid(el) {
							err = errors.New("bad identity name")
							break
						}
						e.identity = append(e.identity, s)
					}
				}
			}
			if err != nil {
				return nil, fmt.Errorf("event %d: %s: %w", i, m.key, err)
			}
		}
		if len(e.labels) == 0 {
			return nil, fmt.Errorf("event %d: no labels", i)
		}
		if severity != nil {
			e.rawSeverity = *severity
		} else {
			e.rawSeverity = e.labels["severity"]
		}
		if e.identity != nil {
			slices.Sort(e.identity)
			e.identity = slices.Compact(e.identity)
			if !slices.ContainsFunc(e.identity, func(n string) bool { _, ok := e.labels[n]; return ok }) {
				return nil, fmt.Errorf("event %d: identity names no label", i)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// checkDifferential parses body with parse and with ref and compares.
func checkDifferential(t *testing.T, name string, parse batchParse, ref func([]byte) ([]refEvent, error), body []byte) {
	t.Helper()
	events, err := parse(bytes.Clone(body), testReceivedAt)
	valid := json.Valid(body)
	want, werr := ref(body)
	if !valid {
		werr = errors.New("invalid JSON")
	}
	if (err == nil) != (werr == nil) {
		t.Fatalf("%s(%q): error %v, reference says %v", name, body, err, werr)
	}
	if err != nil {
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("%s(%q): error %T %v", name, body, err, err)
		}
		malformed := strings.HasPrefix(fe.Msg, "malformed JSON: offset ")
		if malformed != !valid || (malformed && (fe.Index != -1 || fe.Field != "")) {
			t.Fatalf("%s(%q): error %q (index %d, field %q); json.Valid %v", name, body, fe.Msg, fe.Index, fe.Field, valid)
		}
		if !valid {
			if verr := validateJSON(body); verr == nil || verr.Msg != fe.Msg {
				t.Fatalf("%s(%q): error %q, validateJSON says %v", name, body, fe.Msg, verr)
			}
		}
		return
	}
	if len(events) != len(want) {
		t.Fatalf("%s(%q): %d events, reference %d", name, body, len(events), len(want))
	}
	for i, w := range want {
		e := &events[i]
		got := refEvent{
			labels: e.Labels.Map(), annotations: e.Annotations.Map(),
			startsAt: e.StartsAt, endsAt: e.EndsAt, url: e.GeneratorURL, status: e.Status,
			rawSeverity: e.RawSeverity, producer: e.Producer, identity: e.Identity,
		}
		if !maps.Equal(got.labels, w.labels) || !maps.Equal(got.annotations, w.annotations) ||
			!got.startsAt.Equal(w.startsAt) || !got.endsAt.Equal(w.endsAt) || got.url != w.url ||
			got.status != w.status || got.rawSeverity != w.rawSeverity || got.producer != w.producer ||
			!slices.Equal(got.identity, w.identity) || (got.identity == nil) != (w.identity == nil) {
			t.Fatalf("%s(%q) event %d:\n got %+v\nwant %+v", name, body, i, got, w)
		}
	}
}

// scanSeeds are inputs that exercise the scanner's corners.
var scanSeeds = []string{
	// Whitespace everywhere, keys in any order, unknown keys of every kind.
	" \t\r\n[ \n{ \"annotations\" : { \"s\" : \"x\" } , \"labels\" :\t{\"b\":\"1\" ,\"a\" : \"2\"} } \r\n] \n",
	`[{"x":{"a":[1,-0.5e+10,2E-3,0,-0,1.5,true,false,null,{},[],"s\"\\"],"b":{"c":{"d":[[[[{}]]]]}}},"labels":{"a":"b"},"y":-12.25e3}]`,
	`{"labels":{"a":"b"},"extra":[{"x":[null,{"y":1e5}]}],"status":"resolved","severity":null}`,
	// Escapes, surrogate pairs, lone surrogates.
	`[{"labels":{"e":"\"\\\/\b\f\n\r\t","u":"\u00e9\u20AC\ud83d\udd25\u0000"}}]`,
	`[{"labels":{"lone":"\ud800","low":"\udc00x","two":"\ud800\ud800\udc00","rev":"\udc00\ud800","end":"a\ud83d"}}]`,
	`[{"l\u0061bels":{"\u0061":"b"},"gener\u0061torURL":"http:\/\/x"}]`,
	`{"labels":{"a":"b"},"identity":["a","\u0061",""]}`,
	// Repeated keys.
	`[{"labels":{"a":"1","a":"2"},"labels":{"b":"3","a":"4"},"startsAt":"2025-06-03T10:00:00Z","startsAt":null}]`,
	`{"labels":{"a":"b"},"labels":null,"identity":["a"],"identity":null,"timestamp":"2025-06-03T10:00:00Z","timestamp":null}`,
	// Malformed.
	`[{"labels":{"a":"b"}}`, `[{"labels":{"a":"b"}}]x`, `[{"labels":{"a" "b"}}]`, `[{"labels":{"a":"b",}}]`,
	"[{\"labels\":{\"a\":\"b\x01\"}}]", `[{"labels":{"a":"\x"}}]`, `[{"labels":{"a":"\u12"}}]`,
	`[{"x":01}]`, `[{"x":1.}]`, `[{"x":-}]`, `[{"x":1e}]`, `[{"x":tru}]`, `[{"x":nul}]`, `[{"x":NaN}]`, `[{"x":.5}]`,
	"\xef\xbb\xbf[]", ``, ` `, `[`, `[]]`, `{}{}`,
	// Field errors behind which the JSON is malformed.
	`[{"labels":5},{`, `{"labels":{"a":1}} x`,
	// Invalid UTF-8.
	"[{\"labels\":{\"\xc3\":\"\xa9\"}}]", "[{\"labels\":{\"a\":\"b\"},\"unknown\":\"\xff\"}]", "[{\"labels\":{\"a\":\"\xc3\\u00a9\"}}]",
}

func FuzzScanDifferential(f *testing.F) {
	for _, name := range []string{"prometheus_alerts.json", "generic_object.json", "generic_array.json", "alertmanager_webhook.json"} {
		f.Add(readTestdata(f, name))
	}
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Add(benchPrometheusBody(3))
	f.Add(benchGenericBody(5))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDifferential(t, "ParsePrometheus", ParsePrometheus, refPrometheus, body)
		checkDifferential(t, "ParseGeneric", ParseGeneric, refGeneric, body)
		if got := validateJSON(body) == nil; got != json.Valid(body) {
			t.Fatalf("validateJSON(%q) = %v, json.Valid %v", body, validateJSON(body), !got)
		}
	})
}

// TestScanDecodesStrings: what each escape decodes to. A lone surrogate
// escape is U+FFFD, and the escape after it is read on its own, as in
// encoding/json.
func TestScanDecodesStrings(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`"plain"`, "plain"},
		{`""`, ""},
		{`"\"\\\/\b\f\n\r\t"`, "\"\\/\b\f\n\r\t"},
		{`"\u0000\u001f\u007F"`, "\x00\x1f\x7f"},
		{`"\u00e9\u00C9\u20ac"`, "éÉ€"},
		{`"caf\u00e9 au lait"`, "café au lait"},
		{`"\ud83d\udd25"`, "🔥"},
		{`"\uD83D\uDD25"`, "🔥"},
		{`"\ud800"`, "\uFFFD"},
		{`"\udc00"`, "\uFFFD"},
		{`"\ud800x"`, "\uFFFDx"},
		{`"\ud800\u0041"`, "\uFFFDA"},
		{`"\ud83d\ud83d\udd25"`, "\uFFFD🔥"},
		{`"\udd25\ud83d"`, "\uFFFD\uFFFD"},
		{`"a\ud83d"`, "a\uFFFD"},
		{`"\ud83d\\udd25"`, "\uFFFD\\udd25"},
		{"\"\x7f\u00e9 raw\"", "\x7fé raw"},
		{`"0123456789abcdef\n0123456789abcdef\"x"`, "0123456789abcdef\n0123456789abcdef\"x"},
	} {
		var want string
		require.NoError(t, json.Unmarshal([]byte(tc.json), &want), tc.json)
		require.Equal(t, tc.want, want, "encoding/json disagrees on %s", tc.json)
		events, err := ParsePrometheus([]byte(`[{"labels":{"a":`+tc.json+`}}]`), testReceivedAt)
		require.NoError(t, err, tc.json)
		got, _ := events[0].Labels.Get("a")
		require.Equal(t, tc.want, got, tc.json)
	}
}

// TestScanErrors pins the malformed-JSON messages: the byte offset and
// what was expected there.
func TestScanErrors(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, tc := range []struct{ body, msg string }{
		{``, `offset 0: expected a value, found end of input`},
		{"  \n", `offset 3: expected a value, found end of input`},
		{`[{"labels":{"a":"b"}}`, `offset 21: expected ',' or ']' after array element, found end of input`},
		{`[{"labels":{"a":"b"}}]]`, `offset 22: expected end of input after the top-level value, found ']'`},
		{`[{"labels" {}}]`, `offset 11: expected ':' after object key, found '{'`},
		{`[{labels:{}}]`, `offset 2: expected '"' to begin an object key, found 'l'`},
		{`[{"labels":{"a":"b",}}]`, `offset 20: expected '"' to begin an object key, found '}'`},
		{`[{"labels":{"a":"b"} "x":1}]`, `offset 21: expected ',' or '}' after object value, found '"'`},
		{`[{"labels":{"a":"b` + "\n" + `"}}]`, `offset 18: expected '"' or text in a string (control characters must be escaped), found byte 0x0a`},
		{`[{"labels":{"a":"b`, `offset 18: expected '"' to end the string that starts at offset 16, found end of input`},
		{`[{"labels":{"a":"\q"}}]`, `offset 18: expected one of "\/bfnrtu after a backslash, found 'q'`},
		{`[{"labels":{"a":"\u00g0"}}]`, `offset 17: expected four hex digits after \u, found '\\'`},
		{`[{"x":tru}]`, `offset 9: expected true, found '}'`},
		{`[{"x":nulL}]`, `offset 9: expected null, found 'L'`},
		{`[{"x":01}]`, `offset 7: expected ',' or '}' after object value, found '1'`},
		{`[{"x":-}]`, `offset 7: expected a digit, found '}'`},
		{`[{"x":1.e5}]`, `offset 8: expected a digit after the decimal point, found 'e'`},
		{`[{"x":1e+}]`, `offset 9: expected a digit in the exponent, found '}'`},
		{`[{"x":+1}]`, `offset 6: expected a value, found '+'`},
		{`[{"x":NaN}]`, `offset 6: expected a value, found 'N'`},
		{"\xef\xbb\xbf[]", `offset 0: expected a value, found byte 0xef`},
		{`[{"x":` + deep(9999) + `}]`, `offset 10004: nesting deeper than 10000`},
		// A field error before the malformed JSON does not hide it.
		{`[{"labels":5},{`, `offset 15: expected '"' to begin an object key, found end of input`},
		{`[7,]`, `offset 3: expected a value, found ']'`},
	} {
		for _, parse := range []batchParse{ParsePrometheus, ParseGeneric} {
			_, err := parse([]byte(tc.body), testReceivedAt)
			requireFieldError(t, err, errCase{index: -1, field: "", msg: "malformed JSON: " + tc.msg})
		}
		require.False(t, json.Valid([]byte(tc.body)), tc.body)
	}
}

// TestScanAccepts: valid JSON in every corner the grammar has.
func TestScanAccepts(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, body := range []string{
		" [ { \"labels\" : { \"a\" : \"b\" } } ] ",
		"\t\r\n[\t\r\n{\t\r\n\"labels\"\t\r\n:\t\r\n{\t\r\n\"a\"\t\r\n:\t\r\n\"b\"\t\r\n}\t\r\n}\t\r\n]\t\r\n",
		`[{"n":[0,-0,1,-1,0.5,-0.5e+10,1E5,1e-5,1.0E+0,123456789012345678901234567890],"labels":{"a":"b"}}]`,
		`[{"t":true,"f":false,"z":null,"o":{},"a":[],"s":"","labels":{"a":"b"}}]`,
		`[{"labels":{"a":"b"},"x":{"\ud800":"\udfff","\"":"\\"}}]`,
		`[{"labels":{"a":"b"},"x":` + deep(9998) + `}]`, // 10000 deep in all, encoding/json's limit
	} {
		require.True(t, json.Valid([]byte(body)), body)
		events, err := ParsePrometheus([]byte(body), testReceivedAt)
		require.NoError(t, err, body)
		require.Equal(t, NewLabels(Label{"a", "b"}), events[0].Labels)
	}
}

// TestScanFieldErrorsAfterEscapes: field errors name the decoded key.
func TestScanFieldErrorsAfterEscapes(t *testing.T) {
	_, err := ParsePrometheus([]byte(`[{"labels":{"s\u0065v":5}}]`), testReceivedAt)
	requireFieldError(t, err, errCase{index: 0, field: "labels.sev", msg: "got number"})
	_, err = ParseGeneric([]byte(`{"l\u0061bels":{"a":"b"},"st\u0061tus":"r\u0065solved"}`), testReceivedAt)
	require.NoError(t, err)
}

// TestScanInvalidUTF8 covers text that is invalid UTF-8 only as a whole or
// only in part, and invalid UTF-8 where it does not matter.
func TestScanInvalidUTF8(t *testing.T) {
	for _, body := range []string{
		"[{\"labels\":{\"\xc3\":\"\xa9\"}}]",                     // each half invalid, together "é"
		"[{\"labels\":{\"a\":\"\xc3\\u00a9\"}}]",                 // a raw lead byte before an escape
		"[{\"labels\":{\"a\":\"\\u00e9\xa9\"}}]",                 // a raw continuation byte after one
		"[{\"labels\":{\"a\":\"0123456789abcdef\xff\"}}]",        // past the first eight bytes
		"[{\"labels\":{\"a\":\"b\"},\"generatorURL\":\"\xff\"}]", // in the URL
	} {
		_, err := ParsePrometheus([]byte(body), testReceivedAt)
		requireFieldError(t, err, errCase{index: 0, field: "labels", msg: "invalid UTF-8"})
	}
	// Invalid UTF-8 in unknown keys and skipped values is valid JSON.
	events, err := ParsePrometheus([]byte("[{\"\xff\":\"\xfe\",\"labels\":{\"a\":\"b\"},\"x\":[\"\xc3\"]}]"), testReceivedAt)
	require.NoError(t, err)
	require.Equal(t, NewLabels(Label{"a", "b"}), events[0].Labels)
}

// TestPlain holds the eight-bytes-at-a-time string scan to the obvious
// loop, at every offset of inputs full of the bytes around the stop bytes.
func TestPlain(t *testing.T) {
	interesting := []byte{0x00, 0x01, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7f, 0x80, 0x9f, 0xa0, 0xa2, 0xdc, 0xff, 'a'}
	naive := func(data []byte, i int) (int, bool) {
		ascii := true
		for ; i < len(data) && !strStop[data[i]]; i++ {
			ascii = ascii && data[i] < 0x80
		}
		return i, ascii
	}
	for _, stop := range interesting {
		for _, fill := range interesting {
			for n := 0; n < 20; n++ {
				for at := 0; at <= n; at++ {
					data := bytes.Repeat([]byte{fill}, n)
					if at < n {
						data[at] = stop
					}
					for i := 0; i <= len(data); i++ {
						want, ascii := naive(data, i)
						got, acc := plain(data, i)
						if got != want || (acc&0x8080808080808080 == 0) != ascii {
							t.Fatalf("plain(%x, %d) = %d, %#x; want %d, ascii %v", data, i, got, acc, want, ascii)
						}
					}
				}
			}
		}
	}
}
