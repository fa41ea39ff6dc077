package history

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Synthetic history made by the server (INSERT ... SELECT from numbers()):
// events over 30 days from synthStart, one every 30d/events; 20,000
// alerts (fingerprints) with six labels; every 200 consecutive events
// make one incident, except every tenth event, which is in none; each
// incident has three versions (new; acknowledged; resolved).
var synthStart = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

const synthSpan = 30 * 24 * time.Hour

func synthSQL(db string, events int) []string {
	step := int64(synthSpan) / int64(events)
	incidents := events / 200
	base := synthStart.UnixNano()
	r := strings.NewReplacer("{db}", quoteIdent(db), "{base}", fmt.Sprint(base), "{step}", fmt.Sprint(step),
		"{events}", fmt.Sprint(events), "{versions}", fmt.Sprint(3*incidents))
	return []string{r.Replace(`INSERT INTO {db}.events (received_at, received_ns, run, seq, idx, fingerprint, event_ns, starts_ns, ends_ns,
	source, producer, status, severity, raw_severity, label_names, label_values, annotation_names, annotation_values,
	generator_url, acknowledge, incident_id)
SELECT toDateTime(intDiv(ns, 1000000000)), ns, 1, intDiv(number, 1000), number % 1000, cityHash64(a), ns, ns, 0,
	'prometheus', '', if(number % 7 = 0, 'resolved', 'firing'), 'warning', 'warning',
	['alertname', 'instance', 'job', 'service', 'severity', 'team'],
	[concat('Alert', toString(a % 97)), concat('host-', toString(a % 500), '.example.net:9100'), 'node',
	 concat('svc-', toString(a % 50)), 'warning', concat('team-', toString(a % 7))],
	['summary'], ['something is not right'], '', 0,
	if(number % 10 = 0, '', concat('INC', substring(toString(10000000 + intDiv(number, 200) + 1), 2)))
FROM (SELECT number, {base} + number * {step} AS ns, number % 20000 AS a FROM system.numbers LIMIT {events})`),
		r.Replace(`INSERT INTO {db}.incidents (opened_at, id, version, updated_ns, opened_ns, state, priority, impact, urgency,
	title, rule, group_key, signature, problem_id, ci_ids, probable_cause_ci, services, support_group, assignee,
	alert_fingerprints, severity, acknowledged_ns, resolved_ns, closed_ns, respond_due_ns, resolve_due_ns,
	respond_breached, resolve_breached, label_names, label_values)
SELECT toDateTime(intDiv(opened, 1000000000)), concat('INC', substring(toString(10000000 + i + 1), 2)), v, opened + v, opened,
	if(v = 1, 'new', if(v = 2, 'acknowledged', 'resolved')), 1 + i % 5, 2, 2,
	'Alert on host', concat('rule-', toString(i % 5)), concat('service=svc-', toString(g)),
	concat('rule-', toString(i % 5), '/service=svc-', toString(g)), '',
	[concat('host-', toString(i % 500))], concat('host-', toString(i % 500)), [concat('svc-', toString(g))],
	concat('team-', toString(i % 7)), '', [toUInt64(i)], 'major',
	if(v >= 2, opened + (1 + i % 60) * 60000000000, 0), if(v = 3, opened + (1 + i % 240) * 60000000000, 0), 0, 0, 0, 0, 0, [], []
FROM (SELECT intDiv(number, 3) AS i, number % 3 + 1 AS v, {base} + i * 200 * {step} AS opened,
	toUInt32(sqrt(intHash32(i) % 62500)) AS g FROM system.numbers LIMIT {versions})`)}
}

// loadSynthetic fills db with the synthetic history unless it holds it
// already (a previous run's: loading 10M rows takes a while).
func loadSynthetic(t testing.TB, s *Store, events int) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, s.Prepare(ctx))
	if count(t, s, "SELECT count() FROM {db}.events") == uint64(events) &&
		count(t, s, "SELECT count() FROM {db}.incidents") == uint64(3*(events/200)) {
		return
	}
	for _, tb := range []string{TableEvents, TableIncidents} {
		require.NoError(t, s.conn.Exec(ctx, "TRUNCATE TABLE "+s.table(tb)))
	}
	for _, q := range synthSQL(s.Database(), events) {
		require.NoError(t, s.conn.Exec(ctx, q))
	}
}

// benchStore opens the database of the synthetic history, kept between
// runs (SIFT_BENCH_KEEP unset drops it at the end).
func benchStore(b *testing.B, events int) *Store {
	addr := clickhouseAddr(b)
	s, err := Open(Options{Addresses: []string{addr}, Database: fmt.Sprintf("sift_bench_%d", events), ReadTimeout: 10 * time.Minute})
	require.NoError(b, err)
	b.Cleanup(func() { _ = s.Close() })
	loadSynthetic(b, s, events)
	return s
}

// BenchmarkAnalytics10M times the analytics queries over the synthetic
// history of 10M events and 50k incidents (150k incident rows), the whole
// 30 days: one op is one query. The first run loads the data (about a
// minute) into the database sift_bench_10000000, which later runs reuse.
//
//	SIFT_CLICKHOUSE_ADDR=127.0.0.1:9000 go test -run '^$' -bench Analytics10M -benchtime 5x -count 5 ./incident/history/
func BenchmarkAnalytics10M(b *testing.B) {
	const events = 10_000_000
	s := benchStore(b, events)
	ctx := context.Background()
	r := Range{From: synthStart, To: synthStart.Add(synthSpan)}
	b.Run("recurring", func(b *testing.B) {
		for b.Loop() {
			res, err := s.Recurring(ctx, RecurringQuery{Range: r, Limit: 10})
			require.NoError(b, err)
			require.Equal(b, uint64(events/200), res.Incidents)
			require.Len(b, res.Signatures, 10)
		}
	})
	b.Run("mtt", func(b *testing.B) {
		for b.Loop() {
			res, err := s.MTT(ctx, r)
			require.NoError(b, err)
			require.Equal(b, uint64(events/200), res.All.Incidents)
		}
	})
	b.Run("noise", func(b *testing.B) {
		for b.Loop() {
			res, err := s.Noise(ctx, NoiseQuery{Range: r, Limit: 10, MinChanges: DefaultMinChanges})
			require.NoError(b, err)
			require.Equal(b, uint64(events), res.Events)
		}
	})
}
