package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/correlate"
)

// startOn runs a daemon in-process on the given storage path; setup
// adjusts its options.
func startOn(t *testing.T, storage, config string, setup ...func(*Options)) *daemon {
	t.Helper()
	cfg := ""
	if config != "" {
		cfg = filepath.Join(t.TempDir(), "sift.yml")
		require.NoError(t, os.WriteFile(cfg, []byte(config), 0o644))
	}
	reg := prometheus.NewRegistry()
	o := Options{ConfigFile: cfg, ListenAddress: "127.0.0.1:0", StoragePath: storage, Registry: reg}
	for _, f := range setup {
		f(&o)
	}
	a, err := New(o)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{app: a, url: "http://" + ln.Addr().String(), reg: reg, stop: cancel, done: make(chan error, 1)}
	go func() { d.done <- a.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-d.done
	})
	return d
}

func (d *daemon) shutdown(t *testing.T) {
	t.Helper()
	d.stop()
	require.NoError(t, <-d.done)
	d.done <- nil // for the cleanup
}

// TestRestartRecoversFromTheLog: events of every format accepted, a
// restart on the same storage path, and the alerts are back, counts,
// times and incidents included.
func TestRestartRecoversFromTheLog(t *testing.T) {
	storage := filepath.Join(t.TempDir(), "data")
	d := startOn(t, storage, "")
	for range 3 {
		code, body := d.post(t, "/api/v2/alerts", "["+promAlert("Down", "h1")+","+promAlert("Down", "h2")+"]")
		require.Equal(t, http.StatusOK, code, body)
	}
	code, body := d.post(t, "/api/v1/events", `{"labels":{"alertname":"QueueBacklog","service":"billing"},"severity":"major"}`)
	require.Equal(t, http.StatusAccepted, code, body)
	code, body = d.post(t, "/v2/enqueue", `{"routing_key":"x","event_action":"trigger","dedup_key":"db1-disk","payload":{"summary":"disk 91% full","source":"db1","severity":"error"}}`)
	require.Equal(t, http.StatusAccepted, code, body)
	code, body = d.post(t, "/api/v1/alertmanager", `{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"AM","job":"j"},"annotations":{},"startsAt":"2026-11-24T12:00:00Z","endsAt":"0001-01-01T00:00:00Z"}]}`)
	require.Equal(t, http.StatusOK, code, body)
	before := d.alerts(t)
	require.Len(t, before.Alerts, 5)
	require.Equal(t, uint64(3), before.Alerts[indexOf(t, before, "h1")].Count)
	incidents := incidentsSansVersion(t, d.url)
	require.Len(t, incidents, 4)
	require.Equal(t, float64(6), gaugeWith(t, d.reg, "sift_wal_appends_total", "", ""), "one append per request")
	d.shutdown(t)

	d = startOn(t, storage, "")
	after := d.alerts(t)
	require.Equal(t, before, after)
	require.Equal(t, incidents, incidentsSansVersion(t, d.url))

	// And new events land on top.
	code, _ = d.post(t, "/api/v2/alerts", "["+promAlert("Down", "h1")+"]")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, uint64(4), d.alerts(t).Alerts[indexOf(t, before, "h1")].Count)
}

func indexOf(t *testing.T, p correlate.AlertPage, instance string) int {
	t.Helper()
	for i, a := range p.Alerts {
		if a.Labels["instance"] == instance {
			return i
		}
	}
	t.Fatalf("no alert with instance %q", instance)
	return -1
}

// incidentsSansVersion lists the incidents without their versions: a
// version counts the engine batches that changed the incident, and
// recovery batches differently from the live engine (docs/durability.md,
// "Batch boundaries").
func incidentsSansVersion(t *testing.T, url string) []map[string]any {
	t.Helper()
	var page struct {
		Incidents []map[string]any `json:"incidents"`
	}
	require.NoError(t, json.Unmarshal([]byte(get(t, url+"/api/v1/incidents")), &page))
	for _, inc := range page.Incidents {
		require.Contains(t, inc, "version")
		delete(inc, "version")
	}
	return page.Incidents
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	var b strings.Builder
	_, err = io.Copy(&b, resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, b.String())
	return b.String()
}

func TestWALOff(t *testing.T) {
	storage := filepath.Join(t.TempDir(), "data")
	d := startOn(t, storage, "storage:\n  wal:\n    enabled: false\n")
	code, _ := d.post(t, "/api/v2/alerts", "["+promAlert("Down", "h1")+"]")
	require.Equal(t, http.StatusOK, code)
	require.Len(t, d.alerts(t).Alerts, 1)
	require.NoDirExists(t, filepath.Join(storage, "wal"))
	d.shutdown(t)
	d = startOn(t, storage, "storage:\n  wal:\n    enabled: false\n")
	require.Empty(t, d.alerts(t).Alerts, "without the log a restart forgets")
}

// TestFullQueueWritesNothing: a request the engine queue cannot take is
// refused with 503 before anything reaches the log.
func TestFullQueueWritesNothing(t *testing.T) {
	storage := filepath.Join(t.TempDir(), "data")
	d := startOn(t, storage, "engine:\n  queue_capacity: 2\n")
	code, body := d.post(t, "/api/v2/alerts", "["+promAlert("Down", "h1")+","+promAlert("Down", "h2")+","+promAlert("Down", "h3")+"]")
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	require.Contains(t, body, "queue is full")
	require.Zero(t, gaugeWith(t, d.reg, "sift_wal_appends_total", "", ""))
	code, _ = d.post(t, "/api/v2/alerts", "["+promAlert("Down", "h1")+"]")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, float64(1), gaugeWith(t, d.reg, "sift_wal_appends_total", "", ""))
}

// TestSnapshotAtShutdown: a clean stop writes a snapshot covering the whole
// log and deletes the segments before it, so the state comes back from it
// (versions included: nothing is re-batched); a crash after more events
// comes back from the snapshot plus the log after it.
func TestSnapshotAtShutdown(t *testing.T) {
	storage := filepath.Join(t.TempDir(), "data")
	d := startOn(t, storage, "")
	for _, host := range []string{"h1", "h2", "h1"} {
		code, body := d.post(t, "/api/v2/alerts", "["+promAlert("Down", host)+","+promAlert("Slow", host)+"]")
		require.Equal(t, http.StatusOK, code, body)
	}
	before := d.alerts(t)
	require.Len(t, before.Alerts, 4)
	incidents := get(t, d.url+"/api/v1/incidents")
	d.shutdown(t)

	snaps, err := os.ReadDir(filepath.Join(storage, "snapshots"))
	require.NoError(t, err)
	require.Len(t, snaps, 1)
	segs, err := os.ReadDir(filepath.Join(storage, "wal"))
	require.NoError(t, err)
	require.Len(t, segs, 1, "the segments before the snapshot are gone")
	require.Contains(t, snaps[0].Name(), "snapshot-"+segs[0].Name()+"-")

	d = startOn(t, storage, "")
	require.Equal(t, before, d.alerts(t), "alerts from the snapshot")
	require.Equal(t, incidents, get(t, d.url+"/api/v1/incidents"), "incidents from the snapshot, versions included")

	// More events, then a crash: a copy of the storage as it is on disk.
	code, body := d.post(t, "/api/v2/alerts", "["+promAlert("Down", "h3")+","+promAlert("Down", "h1")+"]")
	require.Equal(t, http.StatusOK, code, body)
	live := d.alerts(t)
	require.Len(t, live.Alerts, 5)
	crashed := filepath.Join(t.TempDir(), "crashed")
	require.NoError(t, os.CopyFS(crashed, os.DirFS(storage)))

	d2 := startOn(t, crashed, "")
	require.Equal(t, live, d2.alerts(t), "snapshot plus the log after it")
}

// TestPeriodicSnapshotUnderLoad takes a snapshot while requests are in
// flight: its log position must cover exactly what the state holds, so a
// crash afterwards (a copy of the storage as it is on disk) comes back
// with every count exact, neither lost nor applied twice.
func TestPeriodicSnapshotUnderLoad(t *testing.T) {
	storage := filepath.Join(t.TempDir(), "data")
	d := startOn(t, storage, "storage:\n  wal:\n    segment_size: 64KiB\n")
	progress := make(chan struct{}, 100)
	post := func(n int) {
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := range n {
					code, body := d.post(t, "/api/v2/alerts", "["+promAlert("Down", fmt.Sprint("h", w, "-", i%7))+"]")
					require.Equal(t, http.StatusOK, code, body)
					if w == 0 && i%40 == 39 {
						progress <- struct{}{}
					}
				}
			})
		}
		wg.Wait()
	}
	done := make(chan struct{})
	go func() { defer close(done); post(150) }()
	for range 3 { // while the others post
		<-progress
		d.app.periodicSnapshot(context.Background())
	}
	<-done
	post(20)
	live := d.alerts(t)
	require.Len(t, live.Alerts, 28)
	snaps, err := os.ReadDir(filepath.Join(storage, "snapshots"))
	require.NoError(t, err)
	require.NotEmpty(t, snaps)
	require.Equal(t, 3.0, gaugeWith(t, d.reg, "sift_snapshot_writes_total", "result", "success"))
	segs, err := os.ReadDir(filepath.Join(storage, "wal"))
	require.NoError(t, err)
	newest := snaps[len(snaps)-1].Name() // snapshot-<segment>-<offset>
	for _, seg := range segs {
		if seg.Name() != "prealloc.tmp" {
			require.GreaterOrEqual(t, seg.Name(), newest[len("snapshot-"):len("snapshot-")+8], "the log before the snapshot is gone")
		}
	}

	crashed := filepath.Join(t.TempDir(), "crashed")
	require.NoError(t, os.CopyFS(crashed, os.DirFS(storage)))
	d2 := startOn(t, crashed, "storage:\n  wal:\n    segment_size: 64KiB\n")
	require.Equal(t, live, d2.alerts(t))
}
