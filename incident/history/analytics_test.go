package history

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/ingest"
)

// scenario is a known history, sent twice (every row re-sent):
//
//	INC1 disk/billing P1 dba   db1      opened t0      ack +10m  resolved +1h    5 events (alert A)
//	INC2 disk/billing P1 dba   db1,db2  opened t0+2h   ack +20m  resolved +2h    3 events (A 1, B 2)
//	INC3 load/web     P3 web   web1     opened t0+3h   no ack    resolved +45m  10 events (C)
//	INC5 disk/billing P1->P2, dba->ops  db1  opened t0+5h  ack +30m (in v2)     0 events
//	INC4 disk/billing, opened two days before the range: left out
//	4 events of alert D in no incident; C flaps: opened and resolved 3 times
func scenario() *Rows {
	ns := func(d time.Duration) int64 { return t0.Add(d).UnixNano() }
	type inc struct {
		id, rule, gk, svc, sg string
		cis                   []string
		opened                time.Duration
		prio                  uint8
	}
	r := &Rows{}
	version := func(i inc, v uint64, prio uint8, sg string, ack, res time.Duration) {
		row := IncidentRow{ID: i.id, Version: v, OpenedNs: ns(i.opened), UpdatedNs: ns(i.opened) + int64(v), State: uint8(v),
			Priority: prio, Rule: i.rule, GroupKey: i.gk, Signature: Signature(i.rule, i.gk), CIIDs: i.cis,
			Services: []string{i.svc}, SupportGroup: sg}
		if ack > 0 {
			row.AcknowledgedNs = ns(i.opened + ack)
		}
		if res > 0 {
			row.ResolvedNs = ns(i.opened + res)
		}
		r.Incidents = append(r.Incidents, row)
	}
	inc1 := inc{"INC0000001", "disk", "service=billing", "billing", "dba", []string{"db1"}, 0, 1}
	inc2 := inc{"INC0000002", "disk", "service=billing", "billing", "dba", []string{"db1", "db2"}, 2 * time.Hour, 1}
	inc3 := inc{"INC0000003", "load", "service=web", "web", "web", []string{"web1"}, 3 * time.Hour, 3}
	inc4 := inc{"INC0000004", "disk", "service=billing", "billing", "dba", []string{"db1"}, -48 * time.Hour, 1}
	inc5 := inc{"INC0000005", "disk", "service=billing", "billing", "dba", []string{"db1"}, 5 * time.Hour, 1}
	for _, i := range []inc{inc1, inc2} {
		ack, res := 10*time.Minute, time.Hour
		if i.id == inc2.id {
			ack, res = 20*time.Minute, 2*time.Hour
		}
		version(i, 1, i.prio, i.sg, 0, 0)
		version(i, 2, i.prio, i.sg, ack, 0)
		version(i, 3, i.prio, i.sg, ack, res)
	}
	version(inc3, 1, 3, "web", 0, 0)
	version(inc3, 2, 3, "web", 0, 45*time.Minute)
	version(inc4, 1, 1, "dba", 0, 0)
	version(inc5, 1, 1, "dba", 0, 0)
	version(inc5, 2, 2, "ops", 30*time.Minute, 0)
	// The first version of INC2 named one CI only: CIs only grow.
	r.Incidents[3].CIIDs = []string{"db1"}

	seq := uint64(0)
	events := func(alert, incID string, n int, at time.Duration) {
		seq++
		ls := ingest.NewLabels(ingest.Label{Name: "alertname", Value: alert}, ingest.Label{Name: "service", Value: "x"})
		for i := range n {
			r.Events = append(r.Events, EventRow{ID: EventID{Run: 1, Seq: seq, Idx: uint32(i)}, Fingerprint: uint64(ls.Fingerprint()),
				ReceivedNs: ns(at + time.Duration(i)*time.Second), Labels: ls, IncidentID: incID})
		}
	}
	events("A", "INC0000001", 5, time.Minute)
	events("A", "INC0000002", 1, 2*time.Hour)
	events("B", "INC0000002", 2, 2*time.Hour+time.Minute)
	events("C", "INC0000003", 10, 3*time.Hour)
	events("D", "", 4, 4*time.Hour)
	events("A", "INC0000004", 7, -47*time.Hour) // before the range

	c := ingest.NewLabels(ingest.Label{Name: "alertname", Value: "C"}, ingest.Label{Name: "service", Value: "x"})
	a := ingest.NewLabels(ingest.Label{Name: "alertname", Value: "A"}, ingest.Label{Name: "service", Value: "x"})
	for i := range 3 {
		for j, k := range []correlate.ChangeKind{correlate.AlertOpened, correlate.AlertResolved} {
			v := uint64(2*i + j + 1)
			r.AlertStates = append(r.AlertStates, AlertStateRow{Run: 1, Seq: 100 + v, ChangedNs: ns(3*time.Hour + time.Duration(v)*time.Minute),
				Fingerprint: uint64(c.Fingerprint()), Version: v, Kind: k, Labels: c, IncidentID: "INC0000003"})
		}
	}
	r.AlertStates = append(r.AlertStates,
		AlertStateRow{Run: 1, Seq: 200, ChangedNs: ns(time.Minute), Fingerprint: uint64(a.Fingerprint()), Version: 1, Kind: correlate.AlertOpened, Labels: a},
		AlertStateRow{Run: 1, Seq: 201, ChangedNs: ns(2 * time.Minute), Fingerprint: uint64(a.Fingerprint()), Version: 2, Kind: correlate.AlertUpdated, Labels: a},
		AlertStateRow{Run: 1, Seq: 202, ChangedNs: ns(3 * time.Minute), Fingerprint: uint64(a.Fingerprint()), Version: 3, Kind: correlate.AlertResolved, Labels: a})
	return r
}

// The analytics endpoints, over a real server, give the scenario's
// figures, although every row is there twice.
func TestAnalyticsKnownScenario(t *testing.T) {
	s := testStore(t, clickhouseAddr(t), keepForever)
	stopMerges(t, s)
	writeScenarioTwice(t, s)
	// The copies are there, side by side.
	require.Equal(t, uint64(2*len(scenario().Events)), count(t, s, "SELECT count() FROM {db}.events"))
	require.Equal(t, uint64(2*len(scenario().Incidents)), count(t, s, "SELECT count() FROM {db}.incidents"))

	mux := http.NewServeMux()
	NewAPI(s, nil, func() time.Time { return t0.Add(24 * time.Hour) }).Register(mux)
	get := func(url string, v any) {
		t.Helper()
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), v))
	}
	rng := "from=2026-03-14T11:00:00Z&to=2026-03-15T12:00:00Z"
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	var rec Recurring
	get("/api/v1/analytics/recurring?"+rng, &rec)
	require.Equal(t, uint64(4), rec.Incidents)
	require.Equal(t, []RecurringEntry{
		{Key: "disk/service=billing", Rule: "disk", GroupKey: "service=billing", Incidents: 3, Events: 8, FirstOpened: t0, LastOpened: at(5 * time.Hour), LastIncident: "INC0000005"},
		{Key: "load/service=web", Rule: "load", GroupKey: "service=web", Incidents: 1, Events: 10, FirstOpened: at(3 * time.Hour), LastOpened: at(3 * time.Hour), LastIncident: "INC0000003"},
	}, rec.Signatures)
	require.Equal(t, []RecurringEntry{
		{Key: "db1", Incidents: 3, Events: 8, FirstOpened: t0, LastOpened: at(5 * time.Hour), LastIncident: "INC0000005"},
		{Key: "web1", Incidents: 1, Events: 10, FirstOpened: at(3 * time.Hour), LastOpened: at(3 * time.Hour), LastIncident: "INC0000003"},
		{Key: "db2", Incidents: 1, Events: 3, FirstOpened: at(2 * time.Hour), LastOpened: at(2 * time.Hour), LastIncident: "INC0000002"},
	}, rec.CIs)
	require.Len(t, rec.Services, 2)
	require.Equal(t, "billing", rec.Services[0].Key)
	require.Equal(t, uint64(3), rec.Services[0].Incidents)
	get("/api/v1/analytics/recurring?limit=1&"+rng, &rec)
	require.Len(t, rec.Signatures, 1)
	require.Len(t, rec.CIs, 1)

	var mtt MTT
	get("/api/v1/analytics/mtt?"+rng, &mtt)
	m := func(key string, n, acked, resolved uint64, mtta, mttr, medA, medR time.Duration) MTTEntry {
		return MTTEntry{Key: key, Incidents: n, Acknowledged: acked, Resolved: resolved, MTTASeconds: mtta.Seconds(),
			MTTRSeconds: mttr.Seconds(), MedianTTA: medA.Seconds(), MedianTTR: medR.Seconds()}
	}
	require.Equal(t, m("", 4, 3, 3, 20*time.Minute, 75*time.Minute, 20*time.Minute, time.Hour), mtt.All)
	require.Equal(t, []MTTEntry{
		// P1 and dba: INC1 and INC2; INC5 as last recorded is P2, ops.
		m("P1", 2, 2, 2, 15*time.Minute, 90*time.Minute, 20*time.Minute, 2*time.Hour),
		m("P2", 1, 1, 0, 30*time.Minute, 0, 30*time.Minute, 0),
		m("P3", 1, 0, 1, 0, 45*time.Minute, 0, 45*time.Minute),
	}, mtt.ByPriority)
	require.Equal(t, []MTTEntry{
		m("dba", 2, 2, 2, 15*time.Minute, 90*time.Minute, 20*time.Minute, 2*time.Hour),
		m("ops", 1, 1, 0, 30*time.Minute, 0, 30*time.Minute, 0),
		m("web", 1, 0, 1, 0, 45*time.Minute, 0, 45*time.Minute),
	}, mtt.BySupportGroup)
	require.Equal(t, []MTTEntry{
		m("billing", 3, 3, 2, 20*time.Minute, 90*time.Minute, 20*time.Minute, 2*time.Hour),
		m("web", 1, 0, 1, 0, 45*time.Minute, 0, 45*time.Minute),
	}, mtt.ByService)

	var noise Noise
	get("/api/v1/analytics/noise?"+rng, &noise)
	require.Equal(t, uint64(22), noise.Events)
	require.Equal(t, uint64(18), noise.EventsInIncidents)
	require.Equal(t, uint64(3), noise.Incidents)
	require.Equal(t, 6.0, noise.EventsPerIncident)
	require.Equal(t, 5.0, noise.MedianPerIncident)
	require.Equal(t, uint64(10), noise.MaxPerIncident)
	require.Equal(t, []IncidentNoise{{"INC0000003", 10}, {"INC0000001", 5}, {"INC0000002", 3}}, noise.TopIncidents)
	var names []string
	var evs, incs []uint64
	for _, a := range noise.NoisiestAlerts {
		names, evs, incs = append(names, a.Alertname), append(evs, a.Events), append(incs, a.Incidents)
	}
	require.Equal(t, []string{"C", "A", "D", "B"}, names)
	require.Equal(t, []uint64{10, 6, 4, 2}, evs)
	require.Equal(t, []uint64{1, 2, 0, 1}, incs)
	require.Len(t, noise.Flapping, 1)
	f := noise.Flapping[0]
	require.Equal(t, "C", f.Alertname)
	require.Equal(t, map[string]string{"alertname": "C", "service": "x"}, f.Labels)
	require.Equal(t, [3]uint64{6, 3, 3}, [3]uint64{f.Changes, f.Opened, f.Resolved})
	require.Equal(t, []string{"INC0000003"}, f.Incidents)
	get("/api/v1/analytics/noise?min_changes=7&limit=2&"+rng, &noise)
	require.Empty(t, noise.Flapping)
	require.Len(t, noise.NoisiestAlerts, 2)
	require.Len(t, noise.TopIncidents, 2)

	// Nothing in an empty range.
	get("/api/v1/analytics/noise?from=2025-01-01T00:00:00Z&to=2025-01-02T00:00:00Z", &noise)
	require.Zero(t, noise.Events)
	require.Empty(t, noise.NoisiestAlerts)
	get("/api/v1/analytics/mtt?from=2025-01-01T00:00:00Z&to=2025-01-02T00:00:00Z", &mtt)
	require.Zero(t, mtt.All.Incidents)
	get("/api/v1/analytics/recurring?from=2025-01-01T00:00:00Z&to=2025-01-02T00:00:00Z", &rec)
	require.Zero(t, rec.Incidents)
	require.Empty(t, rec.Signatures)
}

// stopMerges keeps the server from collapsing re-sent rows in the
// background, so that queries must not count them.
func stopMerges(t testing.TB, s *Store) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, s.Prepare(ctx))
	for _, tb := range Tables {
		require.NoError(t, s.conn.Exec(ctx, "SYSTEM STOP MERGES "+s.table(tb)))
	}
}

// ScanEvents reads the events of a range back in the engine's order, each
// once, with the incidents they were in.
func TestScanEvents(t *testing.T) {
	s := testStore(t, clickhouseAddr(t), keepForever)
	stopMerges(t, s)
	writeScenarioTwice(t, s)
	var got []StoredEvent
	require.NoError(t, s.ScanEvents(context.Background(), t0.Add(-time.Hour), t0.Add(24*time.Hour), func(e *StoredEvent) error {
		got = append(got, *e)
		return nil
	}))
	require.Len(t, got, 22)
	for i := 1; i < len(got); i++ {
		require.False(t, got[i].Event.ReceivedAt.Before(got[i-1].Event.ReceivedAt), "in order")
	}
	first := got[0]
	require.Equal(t, "INC0000001", first.IncidentID)
	require.Equal(t, t0.Add(time.Minute), first.Event.ReceivedAt)
	require.Equal(t, map[string]string{"alertname": "A", "service": "x"}, first.Event.Labels.Map())
	require.Equal(t, first.Event.Labels.Fingerprint(), first.Event.Fingerprint)
	require.Equal(t, "", got[len(got)-1].IncidentID)
}

// writeScenarioTwice writes the scenario's rows twice, in two inserts.
func writeScenarioTwice(t *testing.T, s *Store) {
	t.Helper()
	w, err := NewWriter(s, WriterOptions{SpoolDir: t.TempDir(), BatchMaxWait: 10 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	w.Add(scenario())
	waitSent(t, w)
	w.Add(scenario()) // in another insert
	waitSent(t, w)
	cancel()
	<-done
}
