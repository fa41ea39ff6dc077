package ingest

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// Fuzz targets for the four parsers. Run one with e.g.
//
//	go test ./ingest -run='^$' -fuzz=FuzzParsePrometheus -fuzztime=20s
//
// Without -fuzz they run their seeds as ordinary tests.

type batchParse func([]byte, time.Time) ([]Event, error)

func addSeeds(f *testing.F, files []string, extra ...string) {
	for _, name := range files {
		f.Add(readTestdata(f, name))
	}
	for _, s := range extra {
		f.Add([]byte(s))
	}
}

// checkParse holds one parse to the invariants every parser promises: no
// panic, a *FieldError and no events on failure, valid events on success,
// and events that neither alias the body nor change when pooled state is
// reused.
func checkParse(t *testing.T, src Source, parse batchParse, body []byte) {
	in := bytes.Clone(body)
	events, err := parse(in, testReceivedAt)
	if err != nil {
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("error %T %v is not a *FieldError", err, err)
		}
		if fe.Index < -1 {
			t.Fatalf("FieldError index %d", fe.Index)
		}
		if events != nil {
			t.Fatalf("error %v with %d events", err, len(events))
		}
		return
	}
	for i := range events {
		if err := eventInvariants(&events[i], src, testReceivedAt); err != nil {
			t.Fatalf("event %d of %q: %v", i, body, err)
		}
	}
	first := renderJSON(events)
	for i := range in {
		in[i] = 0
	}
	again, err := parse(bytes.Clone(body), testReceivedAt)
	if err != nil {
		t.Fatalf("second parse failed: %v", err)
	}
	if got := renderJSON(events); !bytes.Equal(got, first) {
		t.Fatalf("events changed after the body was overwritten and the parser reused:\n%s\n---\n%s", first, got)
	}
	if got := renderJSON(again); !bytes.Equal(got, first) {
		t.Fatalf("parse not deterministic:\n%s\n---\n%s", first, got)
	}
}

func FuzzParsePrometheus(f *testing.F) {
	addSeeds(f, []string{"prometheus_alerts.json"},
		`[]`,
		`[{"labels":{"a":"b"}}]`,
		`[{"labels":{"a":"b","a":"c"},"annotations":{"x":"y"},"startsAt":"2025-06-03T10:00:00Z","endsAt":"2025-06-03T10:00:00Z"}]`,
		`[{"labels":{"a":"b"},"endsAt":"2025-06-03T09:00:00+02:00"}]`,
		`[{"labels":{"\u00e9":"\ud83d\udd25"},"generatorURL":"http://x/?a=1\u0026b=2"}]`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		checkParse(t, SourcePrometheus, ParsePrometheus, body)
	})
}

func FuzzParseAlertmanager(f *testing.F) {
	addSeeds(f, []string{"alertmanager_webhook.json"},
		`{"alerts":[]}`,
		`{"alerts":[{"labels":{"a":"b"}}]}`,
		`{"alerts":[{"status":"resolved","labels":{"a":"b"},"startsAt":"0001-01-01T00:00:00Z","endsAt":"2025-06-03T10:00:00Z"}]}`,
		`{"alerts":[{"labels":{"a":"b"},"startsAt":"2025-06-03T10:00:00Z","endsAt":"2025-06-03T11:00:00Z"}]}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		checkParse(t, SourceAlertmanager, ParseAlertmanager, body)
	})
}

func FuzzParseGeneric(f *testing.F) {
	addSeeds(f, []string{"generic_object.json", "generic_array.json"},
		`{"labels":{"a":"b"}}`,
		`[{"labels":{"a":"b","c":"d"},"identity":["c","x","c"],"status":"resolved","severity":"minor","source":"s","timestamp":"2025-06-03T10:00:00Z"}]`,
		`{"labels":{"a":"b"},"annotations":null,"severity":null,"identity":null}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		checkParse(t, SourceGeneric, ParseGeneric, body)
	})
}

func FuzzParsePagerDuty(f *testing.F) {
	addSeeds(f, []string{"pagerduty_trigger.json", "pagerduty_trigger_no_dedup_key.json", "pagerduty_acknowledge.json", "pagerduty_resolve.json"},
		`{"routing_key":"r","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info","custom_details":{"summary":"x","n":null,"o":{"a":[1,2]}}}}`,
		`{"routing_key":"r","event_action":"resolve","dedup_key":"k","payload":{"severity":"bogus","timestamp":"2015-07-17T08:42:58+0000"}}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		parse := func(b []byte, at time.Time) ([]Event, error) {
			e, err := ParsePagerDuty(b, at, seqKeys("fuzz"))
			if err != nil {
				return nil, err
			}
			if e.Identity == nil || len(e.Identity) != 1 || e.Identity[0] != "dedup_key" {
				t.Fatalf("identity %q, want [dedup_key]", e.Identity)
			}
			if dk, ok := e.Labels.Get("dedup_key"); !ok || dk == "" {
				t.Fatalf("no dedup_key in %s", e.Labels)
			}
			return []Event{e}, nil
		}
		checkParse(t, SourcePagerDuty, parse, body)
	})
}
