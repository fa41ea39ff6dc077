package history

import (
	"cmp"
	"context"
	"math"
	"math/rand/v2"
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

// sortEvents orders rows as a sort of all of them by the whole key does,
// with phases of the server's hours of 0 and half an hour, whether a
// group's rows arrive in order or not.
func TestSortEventsIsTheKeysOrder(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	full := func(rows []EventRow, phase int64) func(a, b uint32) int {
		return func(a, b uint32) int {
			x, y := &rows[a], &rows[b]
			hour := func(r *EventRow) int64 { return (dateTime(r.ReceivedNs) - phase) / 3600 }
			return cmp.Or(cmp.Compare(hour(x), hour(y)), cmp.Compare(x.Fingerprint, y.Fingerprint),
				cmp.Compare(x.ReceivedNs, y.ReceivedNs), cmp.Compare(x.ID.Run, y.ID.Run), cmp.Compare(x.ID.Seq, y.ID.Seq),
				cmp.Compare(x.ID.Idx, y.ID.Idx))
		}
	}
	var c eventBuffers
	for round := range 50 {
		n := 1 + rnd.IntN(3000)
		rows := make([]EventRow, n)
		inOrder := round%2 == 0
		for i := range rows {
			ns := t0.UnixNano() + rnd.Int64N(int64(3*time.Hour)) - int64(time.Hour)
			if inOrder {
				ns = t0.UnixNano() + int64(i)*int64(time.Second)
			}
			rows[i] = EventRow{ID: EventID{Run: 1 + rnd.Uint64N(2), Seq: rnd.Uint64N(5), Idx: uint32(i)},
				Fingerprint: []uint64{1, 2, math.MaxUint64, 1 << 63, rnd.Uint64()}[rnd.IntN(5)], ReceivedNs: ns}
			if inOrder {
				rows[i].ID.Run, rows[i].ID.Seq = 1, uint64(i/100)
			}
		}
		for _, phase := range []int64{0, 1800} {
			want := make([]uint32, n)
			for i := range want {
				want[i] = uint32(i)
			}
			slices.SortFunc(want, full(rows, phase))
			require.Equal(t, want, slices.Clone(c.sortEvents(rows, phase)), "round %d, phase %d", round, phase)
		}
	}
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
	for _, row := range c.sortEvents(rows, s.hourPhase) {
		want = append(want, rows[row].ID.Idx)
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
