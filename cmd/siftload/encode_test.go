package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/ingest"
)

var testEpoch = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC).Unix()

func specsOf(series ...int) []spec {
	s := make([]spec, len(series))
	for i, n := range series {
		s[i] = spec{series: n}
	}
	return s
}

func build(t *testing.T, e *encoder, f format, specs []spec, sec int64) *body {
	t.Helper()
	b := &body{}
	e.build(b, f, specs, sec)
	require.True(t, json.Valid(b.buf), "%s body is not valid JSON:\n%s", f, b.buf)
	return b
}

// wantLabels is what series n's labels should be with k labels.
func wantLabels(n, k int) map[string]string {
	m := map[string]string{}
	for i := range k {
		m[labelName(i)] = string(appendLabelValue(nil, i, n))
	}
	return m
}

func TestLabelModel(t *testing.T) {
	l := wantLabels(70000, 10)
	require.Equal(t, map[string]string{
		"alertname": alertNames[70000%8], "service": "svc-" + strconv.Itoa(70000/8%500),
		"instance": "10.1.17.112:9100", "job": jobs[70000/8%5], "severity": "critical",
		"cluster": clusters[70000/64%3], "env": envs[70000/256%4], "team": "team-4",
		"label_09": "v" + strconv.Itoa(70000%59), "label_10": "v" + strconv.Itoa(70000%66),
	}, l)
	// Distinct series have distinct label sets, even with the fewest labels.
	seen := map[string]int{}
	for n := range 100000 {
		k := model.LabelSet{}
		for name, v := range wantLabels(n, minLabels) {
			k[model.LabelName(name)] = model.LabelValue(v)
		}
		key := k.String()
		prev, dup := seen[key]
		require.False(t, dup, "series %d and %d have the same labels %s", prev, n, key)
		seen[key] = n
	}
}

func TestValuesNeedNoEscaping(t *testing.T) {
	e := newEncoder(12, testEpoch)
	for n := 0; n < maxSeries; n += 9973 {
		for _, f := range []func([]byte, int) []byte{appendSummary, appendDescription, appendGeneratorURL} {
			s := string(f(nil, n))
			require.NotContains(t, s, `"`)
			require.NotContains(t, s, `\`)
		}
		for k := range e.names {
			s := string(appendLabelValue(nil, k, n))
			require.NotContains(t, s, `"`)
			require.NotContains(t, s, `\`)
			for _, c := range s {
				require.True(t, c >= 0x20 && c < 0x7f, "%q", s)
			}
		}
	}
}

func TestPrometheusBody(t *testing.T) {
	e := newEncoder(8, testEpoch)
	sec := testEpoch + 30
	specs := []spec{{series: 0}, {series: 77}, {series: 5, resolved: true}}
	b := build(t, e, fmtPrometheus, specs, sec)
	require.Equal(t, 3, b.events)
	var alerts []struct {
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     time.Time         `json:"startsAt"`
		EndsAt       time.Time         `json:"endsAt"`
		GeneratorURL string            `json:"generatorURL"`
	}
	require.NoError(t, json.Unmarshal(b.buf, &alerts))
	require.Len(t, alerts, 3)
	for i, a := range alerts {
		n := specs[i].series
		require.Equal(t, wantLabels(n, 8), a.Labels)
		require.Equal(t, string(appendSummary(nil, n)), a.Annotations["summary"])
		require.NotEmpty(t, a.Annotations["description"])
		require.Equal(t, time.Unix(e.startsAt(n), 0).UTC(), a.StartsAt)
		require.True(t, a.StartsAt.Before(time.Unix(testEpoch, 0)))
		require.True(t, strings.HasPrefix(a.GeneratorURL, "http://"))
	}
	require.Equal(t, time.Unix(sec, 0).Add(resendWindow).UTC(), alerts[0].EndsAt)
	require.Equal(t, time.Unix(sec, 0).UTC(), alerts[2].EndsAt, "a resolved alert ends now")

	// refresh rewrites only the clock-following times.
	b.refresh(sec + 100)
	require.NoError(t, json.Unmarshal(b.buf, &alerts))
	require.Equal(t, time.Unix(sec+100, 0).Add(resendWindow).UTC(), alerts[1].EndsAt)
	require.Equal(t, time.Unix(sec+100, 0).UTC(), alerts[2].EndsAt)
	require.Equal(t, time.Unix(e.startsAt(77), 0).UTC(), alerts[1].StartsAt)

	events, err := ingest.ParsePrometheus(b.buf, time.Unix(sec+100, 500))
	require.NoError(t, err)
	require.Len(t, events, 3)
	require.Equal(t, ingest.StatusFiring, events[0].Status)
	require.Equal(t, ingest.StatusResolved, events[2].Status)
	require.Equal(t, ingest.SeverityCritical, events[0].Severity)
}

func TestAlertmanagerBody(t *testing.T) {
	e := newEncoder(8, testEpoch)
	specs := []spec{{series: 1}, {series: 9}, {series: 17, resolved: true}}
	b := build(t, e, fmtAlertmanager, specs, testEpoch)
	var msg webhook.Message
	require.NoError(t, json.Unmarshal(b.buf, &msg))
	require.Equal(t, "4", msg.Version)
	require.Equal(t, "firing", msg.Status)
	require.Equal(t, "siftload", msg.Receiver)
	require.NotEmpty(t, msg.GroupKey)
	require.NotEmpty(t, msg.ExternalURL)
	require.Len(t, msg.Alerts, 3)
	// 1, 9 and 17 share alertname (n%8) and severity (n%4) and nothing else
	// of the 8 labels below: the service differs (n/8).
	require.Equal(t, map[string]string{
		"alertname": alertNames[1], "severity": "warning", "cluster": clusters[0], "env": envs[0],
	}, map[string]string(msg.CommonLabels))
	require.Empty(t, msg.CommonAnnotations)
	for i, a := range msg.Alerts {
		n := specs[i].series
		require.Equal(t, wantLabels(n, 8), map[string]string(a.Labels))
		ls := model.LabelSet{}
		for k, v := range a.Labels {
			ls[model.LabelName(k)] = model.LabelValue(v)
		}
		require.Equal(t, ls.Fingerprint().String(), a.Fingerprint)
		require.Equal(t, time.Unix(e.startsAt(n), 0).UTC(), a.StartsAt)
		require.NotEmpty(t, a.GeneratorURL)
	}
	require.Equal(t, "firing", msg.Alerts[0].Status)
	require.True(t, msg.Alerts[0].EndsAt.IsZero())
	require.Equal(t, "resolved", msg.Alerts[2].Status)
	require.Equal(t, time.Unix(testEpoch, 0).UTC(), msg.Alerts[2].EndsAt)

	// One alert: everything is common.
	b = build(t, e, fmtAlertmanager, []spec{{series: 3, resolved: true}}, testEpoch)
	msg = webhook.Message{}
	require.NoError(t, json.Unmarshal(b.buf, &msg))
	require.Equal(t, "resolved", msg.Status)
	require.Equal(t, wantLabels(3, 8), map[string]string(msg.CommonLabels))
	require.Len(t, msg.CommonAnnotations, 2)

	events, err := ingest.ParseAlertmanager(b.buf, time.Unix(testEpoch+1, 0))
	require.NoError(t, err)
	require.Len(t, events, 1)
	require.Equal(t, ingest.StatusResolved, events[0].Status)
	require.Equal(t, msg.Alerts[0].Fingerprint, events[0].Fingerprint.String())
}

func TestPagerDutyBody(t *testing.T) {
	e := newEncoder(8, testEpoch)
	b := build(t, e, fmtPagerDuty, []spec{{series: 42}, {series: 43}}, testEpoch)
	require.Equal(t, 1, b.events, "one event per request")
	var ev struct {
		RoutingKey  string `json:"routing_key"`
		EventAction string `json:"event_action"`
		DedupKey    string `json:"dedup_key"`
		Payload     struct {
			Summary, Source, Severity, Component, Group, Class string
		} `json:"payload"`
	}
	require.NoError(t, json.Unmarshal(b.buf, &ev))
	require.NotEmpty(t, ev.RoutingKey)
	require.Equal(t, "trigger", ev.EventAction)
	require.Equal(t, "siftload-42", ev.DedupKey)
	require.Equal(t, "InstanceDown on 10.0.0.42:9100", ev.Payload.Summary)
	require.Equal(t, "10.0.0.42:9100", ev.Payload.Source)
	require.Equal(t, "info", ev.Payload.Severity)
	require.Equal(t, "svc-5", ev.Payload.Component)
	require.Equal(t, clusters[0], ev.Payload.Group)
	require.Equal(t, "InstanceDown", ev.Payload.Class)

	for n := range 4 { // every severity is one PagerDuty accepts
		b = build(t, e, fmtPagerDuty, []spec{{series: n, resolved: n == 3}}, testEpoch)
		got, err := ingest.ParsePagerDuty(b.buf, time.Unix(testEpoch, 0), func() string { panic("no dedup_key") })
		require.NoError(t, err, "%s", b.buf)
		require.Equal(t, n == 3, got.Status == ingest.StatusResolved)
	}
}

func TestGenericBody(t *testing.T) {
	e := newEncoder(5, testEpoch)
	sec := testEpoch + 7
	specs := []spec{{series: 2}, {series: 3, resolved: true}}
	b := build(t, e, fmtGeneric, specs, sec)
	var events []struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		Severity    string            `json:"severity"`
		Status      string            `json:"status"`
		Timestamp   time.Time         `json:"timestamp"`
		Source      string            `json:"source"`
	}
	require.NoError(t, json.Unmarshal(b.buf, &events))
	require.Len(t, events, 2)
	require.Equal(t, wantLabels(2, 5), events[0].Labels)
	require.Len(t, events[0].Labels, 5)
	require.Equal(t, "info", events[0].Severity)
	require.Equal(t, "firing", events[0].Status)
	require.Equal(t, "resolved", events[1].Status)
	require.Equal(t, time.Unix(sec, 0).UTC(), events[0].Timestamp)
	require.Equal(t, "siftload", events[0].Source)
	require.NotEmpty(t, events[1].Annotations["summary"])

	b.refresh(sec + 1)
	require.NoError(t, json.Unmarshal(b.buf, &events))
	require.Equal(t, time.Unix(sec+1, 0).UTC(), events[1].Timestamp)
}

func TestEncoderFingerprintMatchesModel(t *testing.T) {
	for _, k := range []int{3, 8, 13} {
		e := newEncoder(k, testEpoch)
		for n := 0; n < 5000; n += 7 {
			ls := model.LabelSet{}
			for name, v := range wantLabels(n, k) {
				ls[model.LabelName(name)] = model.LabelValue(v)
			}
			require.Equal(t, uint64(ls.Fingerprint()), e.fingerprint(n))
			require.Equal(t, ls.Fingerprint().String(), string(appendFingerprint(nil, e.fingerprint(n))))
		}
	}
}

// parseAll parses a body with siftd's own parser for its format.
func parseAll(t *testing.T, b *body, at time.Time) []ingest.Event {
	t.Helper()
	var (
		evs []ingest.Event
		err error
	)
	switch b.format {
	case fmtPrometheus:
		evs, err = ingest.ParsePrometheus(b.buf, at)
	case fmtAlertmanager:
		evs, err = ingest.ParseAlertmanager(b.buf, at)
	case fmtGeneric:
		evs, err = ingest.ParseGeneric(b.buf, at)
	case fmtPagerDuty:
		var ev ingest.Event
		ev, err = ingest.ParsePagerDuty(b.buf, at, func() string { panic("no dedup_key") })
		evs = []ingest.Event{ev}
	}
	require.NoError(t, err, "%s", b.buf)
	return evs
}

// TestSiftdParsesBodies parses what the builders make with siftd's
// parsers and checks that the events and their distinct fingerprints are
// what the series generator says was sent.
func TestSiftdParsesBodies(t *testing.T) {
	for _, tc := range []struct {
		f                  format
		series, batch, req int
		dup, resolve       float64
	}{
		{fmtPrometheus, 100000, 500, 40, 0.9, 0},
		{fmtPrometheus, 300, 100, 20, 0.5, 0.3},
		{fmtAlertmanager, 100000, 200, 25, 0.8, 0.1},
		{fmtGeneric, 2000, 1000, 10, 0, 0.2},
		{fmtPagerDuty, 100000, 1, 3000, 0.75, 0.1},
	} {
		t.Run(fmt.Sprintf("%s/series=%d,dup=%g", tc.f, tc.series, tc.dup), func(t *testing.T) {
			e := newEncoder(8, testEpoch)
			g := newSeriesGen(tc.series, tc.dup, tc.resolve, 7)
			at := time.Unix(testEpoch+1, 0)
			fps := map[model.Fingerprint]bool{}
			var events, resolved, firstSeenResolved int
			b := &body{}
			rng := rand.New(rand.NewPCG(7, 1))
			for range tc.req {
				specs := g.draw(nil, tc.batch)
				if specs == nil { // all introduced: steady state
					specs = steadySpecs(nil, tc.batch, rng, allSeries(tc.series), tc.resolve)
				}
				e.build(b, tc.f, specs, testEpoch)
				evs := parseAll(t, b, at)
				require.Len(t, evs, b.events)
				require.Len(t, evs, min(tc.batch, len(specs)))
				for _, ev := range evs {
					if ev.Status == ingest.StatusResolved {
						resolved++
						if !fps[ev.Fingerprint] {
							firstSeenResolved++
						}
					}
					fps[ev.Fingerprint] = true
				}
				events += len(evs)
			}
			require.Equal(t, g.Introduced(), len(fps), "distinct fingerprints = series introduced")
			require.Zero(t, firstSeenResolved, "a series is introduced by a firing event")
			if g.Introduced() < tc.series {
				// Introductions are Binomial(events, 1-dup): within 5 sigma.
				want := float64(events) * (1 - tc.dup)
				sigma := max(1, math.Sqrt(float64(events)*tc.dup*(1-tc.dup)))
				require.InDelta(t, want, float64(g.Introduced()), 5*sigma)
			} else {
				require.Equal(t, tc.series, len(fps))
			}
			if tc.resolve == 0 {
				require.Zero(t, resolved)
			} else {
				require.NotZero(t, resolved)
			}
		})
	}
}

func TestSeriesGenIntroducesInOrderThenRepeats(t *testing.T) {
	g := newSeriesGen(10, 0, 0, 1)
	specs := g.draw(nil, 25)
	require.Len(t, specs, 25)
	for i := range 10 {
		require.Equal(t, spec{series: i}, specs[i], "with no duplicates every event introduces the next series")
	}
	for _, s := range specs[10:] {
		require.Less(t, s.series, 10)
	}
	require.True(t, g.finished.Load())
	require.Nil(t, g.draw(nil, 1))
	require.Equal(t, 10, g.Introduced())

	// All duplicates: series 0 only, forever.
	g = newSeriesGen(10, 1, 0.5, 1)
	require.False(t, g.canFinish())
	for _, s := range g.draw(nil, 100) {
		require.Zero(t, s.series)
	}
	require.Equal(t, 1, g.Introduced())

	// Steady state: repeats of any series.
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[int]bool{}
	for _, s := range steadySpecs(nil, 1000, rng, allSeries(10), 0) {
		require.False(t, s.resolved)
		seen[s.series] = true
	}
	require.Len(t, seen, 10)
}
