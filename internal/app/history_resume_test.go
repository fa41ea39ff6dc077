package app

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/stretchr/testify/require"
)

// TestHistoryAfterACrash: history resumes from what the log and its
// snapshot hold. The batches it had not sent when siftd crashed are sent
// by the restarted siftd (no gap); those it sends twice (here the crashed
// process, still running, sends its own copy afterwards) are the same
// rows, which collapse (no visible duplicate).
func TestHistoryAfterACrash(t *testing.T) {
	addr, db := historyDB(t)
	// A batch goes to ClickHouse when a minute old: what is not sent
	// explicitly is held.
	cfg := fmt.Sprintf("history:\n  clickhouse:\n    addresses: [%q]\n    database: %s\n    batch_max_wait: 1m\n", addr, db)
	storage := filepath.Join(t.TempDir(), "data")
	d := startOn(t, storage, cfg)
	ctx := context.Background()
	posted := 0
	post := func(alerts ...string) {
		t.Helper()
		code, body := d.post(t, "/api/v2/alerts", "["+strings.Join(alerts, ",")+"]")
		require.Equal(t, http.StatusOK, code, body)
		posted += len(alerts)
	}

	// Wave 1: sent, and covered by a snapshot (which waits for history
	// to confirm it).
	for i := range 5 {
		post(promAlert("Down", fmt.Sprint("h", i%3)), promAlert("Disk", fmt.Sprint("db", i%2)))
	}
	code, body := d.post(t, "/api/v1/incidents/INC0000001/ack", `{"actor":"alice","text":"looking"}`)
	require.Equal(t, http.StatusOK, code, body)
	// Refused: a marked batch that changes nothing reaches no sink, and
	// the snapshot must not wait for history to confirm it.
	code, body = d.post(t, "/api/v1/incidents/INC0000001/ack", `{"actor":"alice"}`)
	require.Equal(t, http.StatusConflict, code, body)
	d.app.periodicSnapshot(ctx)
	require.Equal(t, 1.0, gaugeWith(t, d.reg, "sift_snapshot_writes_total", "result", "success"))
	// Confirmed may mean spooled (a fresh server takes the schema
	// first): wait until it is inserted, so that no copy of wave 1 is in
	// the spool the crash copies.
	require.Eventually(t, func() bool {
		return gaugeWith(t, d.reg, "sift_history_rows_written_total", "table", "events") == float64(posted)
	}, 30*time.Second, 5*time.Millisecond)
	sentBefore := float64(posted)

	// Wave 2: in the log with its marks, held by history.
	for i := range 6 {
		post(promAlert("Down", fmt.Sprint("h", i)), strings.Replace(promAlert("Disk", "db0"), `"severity":"critical"`, `"severity":"warning"`, 1))
	}
	code, body = d.post(t, "/api/v1/incidents/INC0000002/ack", `{"actor":"bob"}`)
	require.Equal(t, http.StatusOK, code, body)
	require.NoError(t, d.app.Engine().Flush(ctx))
	w := d.app.history.writer
	require.Eventually(t, func() bool { return d.app.marks.Durable() >= w.Consumed() }, 10*time.Second, time.Millisecond)
	require.Less(t, w.Confirmed(), w.Consumed(), "wave 2 is held")
	require.Equal(t, sentBefore, gaugeWith(t, d.reg, "sift_history_rows_written_total", "table", "events"))
	crashed := crash(t, storage)

	// The restart replays wave 2 from the log and sends it: every event
	// once, none of wave 1 again.
	d2 := startOn(t, crashed, cfg)
	require.Eventually(t, d2.app.ready.Load, 10*time.Second, time.Millisecond)
	require.Zero(t, gaugeWith(t, d2.reg, "sift_wal_replayed_batches_total", "how", "mismatched"))
	require.NotZero(t, gaugeWith(t, d2.reg, "sift_wal_replayed_batches_total", "how", "marked"))
	d2.shutdown(t) // sends what it holds
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}})
	require.NoError(t, err)
	defer conn.Close()
	count := func(query string) uint64 {
		t.Helper()
		var n uint64
		require.NoError(t, conn.QueryRow(ctx, strings.ReplaceAll(query, "{db}", db)).Scan(&n))
		return n
	}
	require.Equal(t, uint64(posted), count("SELECT count() FROM {db}.events"), "no gap, nothing twice")
	tables := []string{"events", "alert_states", "incidents", "incident_timeline"}
	final := map[string]uint64{}
	for _, tb := range tables {
		final[tb] = count("SELECT count() FROM {db}." + tb + " FINAL")
		require.NotZero(t, final[tb], tb)
	}
	require.Equal(t, uint64(2), count("SELECT count() FROM {db}.incidents FINAL WHERE state = 'acknowledged'"))

	// The crashed process sends wave 2 as it made it live: the rows are
	// those the restart sent.
	d.shutdown(t)
	require.Equal(t, 2*uint64(posted)-uint64(sentBefore), count("SELECT count() FROM {db}.events"), "wave 2 twice on disk")
	for _, tb := range tables {
		require.Equal(t, final[tb], count("SELECT count() FROM {db}."+tb+" FINAL"), tb)
	}
	require.Zero(t, count("SELECT count() FROM (SELECT fingerprint, version FROM {db}.alert_states FINAL GROUP BY fingerprint, version HAVING count() > 1)"))
}
