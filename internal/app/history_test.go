package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/incident/history"
)

func getJSON(t *testing.T, u string, v any) int {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
	return resp.StatusCode
}

// historyDB is the test ClickHouse's address and a database name of the
// test's own, dropped at the end. Without a server the test is skipped,
// or fails under CI.
func historyDB(t *testing.T) (addr, db string) {
	t.Helper()
	addr = os.Getenv("SIFT_CLICKHOUSE_ADDR")
	if addr == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but SIFT_CLICKHOUSE_ADDR is not: run ./scripts/test, which starts ClickHouse")
		}
		t.Skip("no ClickHouse: run ./scripts/test (it starts one), or set SIFT_CLICKHOUSE_ADDR=host:port")
	}
	db = fmt.Sprintf("sift_test_app_%d", time.Now().UnixNano()%1e9)
	t.Cleanup(func() {
		c, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}})
		if err == nil {
			_ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
			_ = c.Close()
		}
	})
	return addr, db
}

func TestHistoryOffAnswers503(t *testing.T) {
	d := start(t, "")
	var body map[string]any
	require.Equal(t, http.StatusServiceUnavailable, getJSON(t, d.url+"/api/v1/history/events", &body))
	require.Contains(t, body["message"], "history is off")
}

// siftd with history on: events posted to a receiver come back from the
// history API.
func TestHistoryEndToEnd(t *testing.T) {
	addr, db := historyDB(t)
	cfg := filepath.Join(t.TempDir(), "siftd.yml")
	writeFile(t, cfg, fmt.Sprintf("history:\n  clickhouse:\n    addresses: [%q]\n    database: %s\n    batch_max_wait: 10ms\n", addr, db))
	d := start(t, cfg)
	code, body := d.post(t, "/api/v2/alerts", "["+promAlert("Down", "h1")+","+promAlert("Down", "h2")+","+promAlert("Up", "h3")+"]")
	require.Equal(t, http.StatusOK, code, body)
	require.NoError(t, d.app.Engine().Flush(context.Background()))

	var page history.EventPage
	require.Eventually(t, func() bool {
		page = history.EventPage{}
		code := getJSON(t, d.url+"/api/v1/history/events?filter="+url.QueryEscape(`{alertname="Down"}`), &page)
		return code == http.StatusOK && len(page.Events) == 2
	}, 20*time.Second, 20*time.Millisecond)
	require.Equal(t, "Down", page.Events[0].Labels["alertname"])

	// Alert states go in after the events of the same batch.
	var h history.AlertHistory
	fp := page.Events[0].Fingerprint
	require.Eventually(t, func() bool {
		h = history.AlertHistory{}
		return getJSON(t, d.url+"/api/v1/history/alerts/"+fp, &h) == http.StatusOK && len(h.States) == 1
	}, 20*time.Second, 20*time.Millisecond)
	require.Equal(t, "opened", h.States[0].Change)
	require.Equal(t, 3.0, gaugeWith(t, d.reg, "sift_history_rows_written_total", "table", "events"))
}
