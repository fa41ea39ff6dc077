package history

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/ingest"
)

func TestSplitLabels(t *testing.T) {
	f := func(ls ingest.Labels, names, values string) {
		t.Helper()
		var c eventBuffers
		c.splitLabels(ls)
		require.Equal(t, names, string(c.names))
		require.Equal(t, values, string(c.values))
	}
	f("", "", "")
	f(ingest.NewLabels(ingest.Label{Name: "a", Value: "1"}), "a\xff", "1\xff")
	f(ingest.NewLabels(ingest.Label{Name: "a", Value: ""}, ingest.Label{Name: "b", Value: "x y"}), "a\xffb\xff", "\xffx y\xff")
	// Malformed (no 0xff after the last value): what there is goes.
	f("a\xff1", "a\xff", "1")
}

// The writer sends events in the events table's order, so that the
// server need not sort them, and the label sets come back whole: empty
// ones, empty values and all.
func TestEventsSentInTableOrder(t *testing.T) {
	s := testStore(t, clickhouseAddr(t), keepForever)
	ctx := context.Background()
	require.NoError(t, s.Prepare(ctx))
	hour := t0.Truncate(time.Hour)
	l := func(kv ...string) ingest.Labels {
		var ls []ingest.Label
		for i := 0; i+1 < len(kv); i += 2 {
			ls = append(ls, ingest.Label{Name: kv[i], Value: kv[i+1]})
		}
		return ingest.NewLabels(ls...)
	}
	var rows []EventRow
	// Fingerprints with the high bit set (unsigned order), times on both
	// sides of an hour, ties broken by time, run, seq and index.
	fps := []uint64{math.MaxUint64, 1, 1 << 63, 7, 1}
	ats := []time.Duration{time.Second, -time.Second, 30 * time.Minute, -time.Nanosecond, time.Second}
	for i := range 40 {
		at := hour.Add(ats[i%len(ats)]).Add(time.Duration(i%3) * time.Millisecond)
		rows = append(rows, EventRow{
			ID:          EventID{Run: uint64(2 - i%2), Seq: uint64(10 - i%4), Idx: uint32(i)},
			Fingerprint: fps[i%len(fps)], ReceivedNs: at.UnixNano(), EventNs: at.UnixNano(), Source: "generic",
			Labels:      l("alertname", "A", "empty", "", "i", string(rune('a'+i%26))),
			Annotations: []ingest.Labels{"", l("summary", "s")}[i%2],
		})
	}
	require.NoError(t, s.Insert(ctx, TableEvents, &Rows{Events: rows}))

	var c eventBuffers
	var want []uint32
	for _, k := range c.sortEvents(rows, s.hourPhase) {
		want = append(want, rows[k.row].ID.Idx)
	}
	got, err := s.conn.Query(ctx, "SELECT idx FROM "+s.table(TableEvents)+
		" ORDER BY toStartOfHour(received_at), fingerprint, received_ns, run, seq, idx")
	require.NoError(t, err)
	var order []uint32
	for got.Next() {
		var idx uint32
		require.NoError(t, got.Scan(&idx))
		order = append(order, idx)
	}
	require.NoError(t, got.Err())
	require.Equal(t, order, want, "the writer's order is the table's")
	require.False(t, slices.IsSorted(want), "the rows were not in order to begin with")

	page, err := s.Events(ctx, EventQuery{From: hour.Add(-time.Hour), To: hour.Add(time.Hour), Limit: 100})
	require.NoError(t, err)
	require.Len(t, page.Events, len(rows))
	for _, e := range page.Events {
		require.Equal(t, "A", e.Labels["alertname"])
		require.Contains(t, e.Labels, "empty")
		require.Len(t, e.Labels, 3)
		require.LessOrEqual(t, len(e.Annotations), 1)
	}
	require.Equal(t, uint64(len(rows)/2), count(t, s, "SELECT count() FROM {db}.events WHERE empty(annotation_names) AND empty(annotation_values)"))
	require.Equal(t, uint64(len(rows)/2), count(t, s, "SELECT count() FROM {db}.events WHERE annotation_values = ['s']"))
}
