package history

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/alertmanager/matcher/compat"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/ingest"
)

// Tests against a real server. ./scripts/test starts one and sets
// SIFT_CLICKHOUSE_ADDR; with CI set, a missing or unreachable server
// fails the tests instead of skipping them.

func clickhouseAddr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("SIFT_CLICKHOUSE_ADDR")
	howto := "run ./scripts/test (it installs and starts a throwaway ClickHouse), or start one and set SIFT_CLICKHOUSE_ADDR=host:port"
	if addr == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but SIFT_CLICKHOUSE_ADDR is not: %s", howto)
		}
		t.Skipf("no ClickHouse for the history tests: %s", howto)
	}
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("ClickHouse at SIFT_CLICKHOUSE_ADDR=%s is unreachable: %v", addr, err)
		}
		t.Skipf("ClickHouse at SIFT_CLICKHOUSE_ADDR=%s is unreachable (%v): %s", addr, err, howto)
	}
	_ = c.Close()
	return addr
}

// testStore opens a Store on a fresh database, dropped at the end.
func testStore(t testing.TB, addr string, mod func(*Options)) *Store {
	t.Helper()
	db := fmt.Sprintf("sift_test_%s_%d", strings.ToLower(strings.NewReplacer("/", "_", "-", "_").Replace(t.Name())), time.Now().UnixNano()%1e9)
	o := Options{Addresses: []string{addr}, Database: db}
	if mod != nil {
		mod(&o)
	}
	s, err := Open(o)
	require.NoError(t, err)
	t.Cleanup(func() {
		admin := adminConn(t, clickhouseAddr(t))
		_ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+quoteIdent(db))
		_ = s.Close()
	})
	return s
}

func adminConn(t testing.TB, addr string) clickhouse.Conn {
	t.Helper()
	c, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func count(t testing.TB, s *Store, sql string) uint64 {
	t.Helper()
	var n uint64
	require.NoError(t, s.conn.QueryRow(context.Background(), strings.ReplaceAll(sql, "{db}", quoteIdent(s.Database()))).Scan(&n))
	return n
}

var t0 = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

func testEvent(at time.Duration, status ingest.Status, kv ...string) ingest.Event {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	ls := ingest.LabelsFromMap(m)
	raw, _ := ls.Get("severity")
	sev, _ := ingest.NormalizeSeverity(raw)
	return ingest.Event{
		Fingerprint: ls.Fingerprint(),
		Source:      ingest.SourcePrometheus,
		Status:      status,
		Labels:      ls,
		Annotations: ingest.NewLabels(ingest.Label{Name: "summary", Value: "it broke"}),
		Severity:    sev,
		RawSeverity: raw,
		StartsAt:    t0.Add(at),
		ReceivedAt:  t0.Add(at),
	}
}

// pipeline is an engine feeding a writer, both running.
type pipeline struct {
	e      *correlate.Engine
	w      *Writer
	cancel context.CancelFunc
	done   chan struct{}
}

func startPipeline(t testing.TB, dst Destination, spoolDir string, mod func(*WriterOptions)) *pipeline {
	t.Helper()
	e := correlate.New(correlate.Options{Now: func() time.Time { return t0.Add(time.Hour) }})
	o := WriterOptions{SpoolDir: spoolDir, BatchMaxRows: 1000, BatchMaxWait: 20 * time.Millisecond,
		RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond, FlushTimeout: 5 * time.Second}
	if mod != nil {
		mod(&o)
	}
	w, err := NewWriter(dst, o)
	require.NoError(t, err)
	e.Subscribe(w)
	ctx, cancel := context.WithCancel(context.Background())
	p := &pipeline{e: e, w: w, cancel: cancel, done: make(chan struct{})}
	go func() { _ = e.Run(context.Background()) }()
	go func() { defer close(p.done); _ = w.Run(ctx) }()
	return p
}

// stop shuts down in siftd's order: engine drained, then the writer.
func (p *pipeline) stop() {
	p.e.Close()
	<-p.e.Done()
	p.cancel()
	<-p.done
}

// waitSent waits until the writer holds nothing: all sent.
func waitSent(t testing.TB, w *Writer) {
	t.Helper()
	require.Eventually(t, func() bool { return w.QueueLength() == 0 && w.Pending() == 0 }, 20*time.Second, 10*time.Millisecond)
}

func TestStorePrepareMigratesOnce(t *testing.T) {
	s := testStore(t, clickhouseAddr(t), nil)
	ctx := context.Background()
	require.NoError(t, s.Prepare(ctx))
	v, err := s.SchemaVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, schemaVersion(), v)

	// A second siftd on the same database (a fresh Store) applies
	// nothing again.
	s2, err := Open(Options{Addresses: s.o.Addresses, Database: s.Database()})
	require.NoError(t, err)
	defer s2.Close()
	require.NoError(t, s2.Prepare(ctx))
	require.Equal(t, uint64(len(migrations)), count(t, s, "SELECT count() FROM {db}.schema_migrations FINAL"))
	for _, tb := range append([]string{tableMigrations, "events_input", "events_split", tableEventsInput, "events_split2"}, Tables...) {
		require.Equal(t, uint64(1), count(t, s, "SELECT count() FROM system.tables WHERE database = '"+s.Database()+"' AND name = '"+tb+"'"), tb)
	}
	// Columns a migration adds are there once, and adding them again
	// (a second siftd applying the migration at the same time) is no
	// error.
	for _, m := range migrations {
		for _, c := range m.columns {
			require.NoError(t, s.addColumn(ctx, c))
			require.Equal(t, uint64(1), count(t, s, "SELECT count() FROM system.columns WHERE database = '"+s.Database()+
				"' AND table = '"+c.table+"' AND name = '"+c.name+"' AND type = '"+c.typ+"'"), c.name)
		}
	}
}

func TestWriterEngineToClickHouse(t *testing.T) {
	s := testStore(t, clickhouseAddr(t), nil)
	p := startPipeline(t, s, t.TempDir(), nil)
	// Two alerts; the first fires, repeats, resolves.
	require.NoError(t, p.e.Submit([]ingest.Event{
		testEvent(0, ingest.StatusFiring, "alertname", "Disk", "host", "db1", "severity", "critical"),
		testEvent(0, ingest.StatusFiring, "alertname", "Load", "host", "web1", "severity", "warning"),
	}))
	require.NoError(t, p.e.Submit([]ingest.Event{testEvent(time.Minute, ingest.StatusFiring, "alertname", "Disk", "host", "db1", "severity", "critical")}))
	require.NoError(t, p.e.Submit([]ingest.Event{testEvent(2*time.Minute, ingest.StatusResolved, "alertname", "Disk", "host", "db1", "severity", "critical")}))
	require.NoError(t, p.e.Flush(context.Background()))
	waitSent(t, p.w)
	p.stop()

	ctx := context.Background()
	page, err := s.Events(ctx, EventQuery{From: t0.Add(-time.Hour), To: t0.Add(time.Hour), Limit: 10})
	require.NoError(t, err)
	require.Len(t, page.Events, 4)
	// Newest first.
	require.Equal(t, "resolved", page.Events[0].Status)
	require.Equal(t, t0.Add(2*time.Minute), page.Events[0].ReceivedAt)
	require.Equal(t, map[string]string{"alertname": "Disk", "host": "db1", "severity": "critical"}, page.Events[0].Labels)
	require.Equal(t, map[string]string{"summary": "it broke"}, page.Events[0].Annotations)
	require.Equal(t, "critical", page.Events[0].Severity)
	require.Equal(t, "prometheus", page.Events[0].Source)

	// Matchers, as the alerts API takes them.
	page, err = s.Events(ctx, EventQuery{From: t0.Add(-time.Hour), To: t0.Add(time.Hour), Limit: 10,
		Matchers: mustMatchers(t, `{host=~"web.*"}`)})
	require.NoError(t, err)
	require.Len(t, page.Events, 1)
	require.Equal(t, "Load", page.Events[0].Labels["alertname"])
	page, err = s.Events(ctx, EventQuery{From: t0.Add(-time.Hour), To: t0.Add(time.Hour), Limit: 10,
		Matchers: mustMatchers(t, `{alertname="Disk",status!="x",nolabel=""}`)})
	require.NoError(t, err)
	require.Len(t, page.Events, 3)

	// The time range excludes the resolve.
	page, err = s.Events(ctx, EventQuery{From: t0, To: t0.Add(2 * time.Minute), Limit: 10})
	require.NoError(t, err)
	require.Len(t, page.Events, 3)

	fp := testEvent(0, 0, "alertname", "Disk", "host", "db1", "severity", "critical").Fingerprint
	h, err := s.AlertStates(ctx, fp, time.Unix(0, 1), t0.Add(48*time.Hour), 100)
	require.NoError(t, err)
	require.Len(t, h.States, 2)
	require.Equal(t, "opened", h.States[0].Change)
	require.Equal(t, "firing", h.States[0].Status)
	require.Equal(t, uint64(1), h.States[0].Version)
	require.Equal(t, "resolved", h.States[1].Change)
	require.Equal(t, uint64(2), h.States[1].Version)
	require.Equal(t, uint64(3), h.States[1].Count)
	require.Equal(t, t0.Add(2*time.Minute), *h.States[1].ResolvedAt)
	require.Equal(t, t0, h.States[0].StartsAt)
}

// Paging walks every event exactly once, newest first.
func TestEventsPaging(t *testing.T) {
	s := testStore(t, clickhouseAddr(t), nil)
	p := startPipeline(t, s, t.TempDir(), nil)
	const n = 25
	for i := range n {
		require.NoError(t, p.e.Submit([]ingest.Event{testEvent(time.Duration(i)*time.Second, 0, "alertname", "A", "i", fmt.Sprint(i%3))}))
	}
	require.NoError(t, p.e.Flush(context.Background()))
	waitSent(t, p.w)
	p.stop()
	var got []string
	q := EventQuery{From: t0.Add(-time.Hour), To: t0.Add(time.Hour), Limit: 10}
	for pages := 0; ; pages++ {
		require.Less(t, pages, 4)
		page, err := s.Events(context.Background(), q)
		require.NoError(t, err)
		for _, e := range page.Events {
			got = append(got, e.ReceivedAt.Format(time.TimeOnly))
		}
		if page.NextPageToken == "" {
			break
		}
		c, err := ParseCursor(page.NextPageToken)
		require.NoError(t, err)
		q.Before = &c
	}
	require.Len(t, got, n)
	for i := range got {
		require.Equal(t, t0.Add(time.Duration(n-1-i)*time.Second).Format(time.TimeOnly), got[i])
	}
}

// Rows of the tables that later packages fill go in and come back.
func TestEveryTableWrittenAndRead(t *testing.T) {
	s := testStore(t, clickhouseAddr(t), nil)
	w, err := NewWriter(s, WriterOptions{SpoolDir: t.TempDir(), BatchMaxWait: 10 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	ns := t0.UnixNano()
	rows := &Rows{
		Events: []EventRow{{ID: EventID{Run: 1, Seq: 1}, Fingerprint: 7, ReceivedNs: ns, EventNs: ns, Source: "generic",
			Labels: ingest.NewLabels(ingest.Label{Name: "a", Value: "b"})}},
		AlertStates: []AlertStateRow{{Run: 1, Seq: 1, ChangedNs: ns, Fingerprint: 7, Version: 1, Kind: correlate.AlertOpened}},
		Incidents: []IncidentRow{{ID: "INC0000001", Version: 1, OpenedNs: ns, UpdatedNs: ns, State: 1, Priority: 2, Title: "db down",
			CIIDs: []string{"db1"}, AlertFingerprints: []uint64{7}, Labels: ingest.NewLabels(ingest.Label{Name: "service", Value: "billing"})},
			{ID: "INC0000001", Version: 2, OpenedNs: ns, UpdatedNs: ns + 1, State: 2, Priority: 2, Title: "db down"}},
		Timeline: []TimelineRow{{IncidentID: "INC0000001", Entry: 1, AtNs: ns, Kind: "state", Actor: "system", ToState: "new",
			Fields: ingest.NewLabels(ingest.Label{Name: "k", Value: "v"})}},
		Problems:      []ProblemRow{{ID: "PRB0000001", Version: 1, OpenedNs: ns, State: 1, IncidentIDs: []string{"INC0000001"}, IncidentCount: 1}},
		Notifications: []NotificationRow{{ID: "n1", Attempt: 1, AtNs: ns, IncidentID: "INC0000001", Receiver: "noc", Integration: "webhook", Status: 1}},
	}
	w.Add(rows)
	w.Add(rows) // a re-send: collapses
	waitSent(t, w)
	cancel()
	<-done
	for table, want := range map[string]uint64{TableEvents: 1, TableAlertStates: 1, TableIncidents: 1, TableIncidentTimeline: 1, TableProblems: 1, TableNotifications: 1} {
		require.Equal(t, want, count(t, s, "SELECT count() FROM {db}."+table+" FINAL"), table)
	}
	// The incident keeps its highest version.
	require.Equal(t, uint64(2), count(t, s, "SELECT toUInt64(state) FROM {db}.incidents FINAL WHERE id = 'INC0000001'"))
	require.Equal(t, uint64(1), count(t, s, "SELECT count() FROM {db}.incidents FINAL WHERE has(ci_ids, 'db1') = 0"))
	require.Equal(t, uint64(1), count(t, s, "SELECT count() FROM {db}.incident_timeline FINAL WHERE field_values[indexOf(field_names, 'k')] = 'v'"))
	require.Equal(t, uint64(1), count(t, s, "SELECT count() FROM {db}.problems FINAL WHERE has(incident_ids, 'INC0000001')"))
	require.Equal(t, uint64(1), count(t, s, "SELECT count() FROM {db}.notifications FINAL WHERE status = 'sent'"))
}

// proxy forwards a local port to ClickHouse and can cut it: an outage the
// writer sees as a closed port, then the server back on the same address.
type proxy struct {
	t      testing.TB
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newProxy(t testing.TB, target string) *proxy {
	p := &proxy{t: t, target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); _ = u.Close() }()
			go func() { _, _ = io.Copy(c, u); _ = c.Close() }()
		}
	}()
}

// down closes the port and every connection through it.
func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

// up opens the same port again.
func (p *proxy) up() {
	ln, err := net.Listen("tcp", p.addr)
	require.NoError(p.t, err)
	p.serve(ln)
}

func mustMatchers(t testing.TB, s string) labels.Matchers {
	t.Helper()
	ms, err := compat.FallbackMatchersParser(slog.New(slog.DiscardHandler))(s, "test")
	require.NoError(t, err)
	return ms
}
