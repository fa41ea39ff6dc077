package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/incident"
)

// Notify after a crash (docs/durability.md, "Sinks resume"): a crash is a
// copy of the storage directory while the daemon runs; the restart runs
// on the copy with the same clock.

const resumeConfig = `
notify:
  route:
    receiver: chat
  receivers:
    - name: chat
      webhook_configs:
        - url: %s/hook
`

// stuckHook is a webhook receiver that takes nothing: it reports each
// request on arrived and holds it until released.
func stuckHook(t *testing.T) (url string, arrived <-chan struct{}, release func()) {
	t.Helper()
	ch := make(chan struct{}, 100)
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case ch <- struct{}{}:
		default:
		}
		select {
		case <-done:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusBadRequest) // not retried
	}))
	closed := false
	release = func() {
		if !closed {
			closed = true
			close(done)
		}
	}
	t.Cleanup(srv.Close)
	t.Cleanup(release) // before the server closes
	return srv.URL, ch, release
}

// resumeSetup is a working webhook receiver, the config that sends
// every event to it, and a fixed daemon clock.
func resumeSetup(t *testing.T) (*platform, string, func(*Options)) {
	p := &platform{}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	clock := &stepClock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	return p, fmt.Sprintf(resumeConfig, srv.URL), func(o *Options) { o.Now = clock.now }
}

// notified counts the notification entries of INC0000001's timeline.
func notified(t *testing.T, d *daemon) int {
	t.Helper()
	var inc incident.JSON
	d.getJSON(t, "/api/v1/incidents/INC0000001", &inc)
	n := 0
	for _, e := range inc.Timeline {
		if e.Kind == incident.EntryNotification {
			n++
		}
	}
	return n
}

// crash copies the storage as it is on disk now.
func crash(t *testing.T, storage string) string {
	t.Helper()
	crashed := filepath.Join(t.TempDir(), "crashed")
	require.NoError(t, os.CopyFS(crashed, os.DirFS(storage)))
	return crashed
}

// TestNotifyAfterACrashSendsNothingTwice: a notification delivered and
// recorded before the crash is found in the notification log after the
// restart, and not sent again.
func TestNotifyAfterACrashSendsNothingTwice(t *testing.T) {
	p, cfg, withClock := resumeSetup(t)
	storage := filepath.Join(t.TempDir(), "data")
	d := startOn(t, storage, cfg, withClock)
	code, body := d.post(t, "/api/v2/alerts", "["+promAlert("Down", "h1")+"]")
	require.Equal(t, http.StatusOK, code, body)
	require.Eventually(t, func() bool { return notified(t, d) == 1 }, 10*time.Second, 5*time.Millisecond)

	d2 := startOn(t, crash(t, storage), cfg, withClock)
	// The restart looks at the opening and finds it sent.
	require.Eventually(t, func() bool {
		return sumWith(t, d2.reg, "sift_notify_notifications_total", "result", "deduplicated") == 1
	}, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, []string{"POST /hook opened"}, p.requests())
	require.Equal(t, 0.0, sumWith(t, d2.reg, "sift_notify_notifications_total", "result", "sent"))
	require.Equal(t, 1, notified(t, d2))
}

// TestNotifyAfterACrashSendsWhatWasDue: the incident opened (its events
// are in the write-ahead log) but the receiver had not taken the
// notification when siftd crashed, so nothing was recorded: the restart
// sends it, once.
func TestNotifyAfterACrashSendsWhatWasDue(t *testing.T) {
	testNotifyAfterACrash(t, false)
}

// TestNotifyAfterACrashSendsWhatWasDueBeforeASnapshot: the same with a
// snapshot taken after the incident opened: the restart restores it and
// replays nothing of the incident, and the notification still goes out,
// once; a second crash after that sends nothing again.
func TestNotifyAfterACrashSendsWhatWasDueBeforeASnapshot(t *testing.T) {
	testNotifyAfterACrash(t, true)
}

func testNotifyAfterACrash(t *testing.T, snapshot bool) {
	stuck, arrived, release := stuckHook(t)
	p, cfg, withClock := resumeSetup(t)
	storage := filepath.Join(t.TempDir(), "data")
	d := startOn(t, storage, fmt.Sprintf(resumeConfig, stuck), withClock)
	code, body := d.post(t, "/api/v2/alerts", "["+promAlert("Down", "h1")+"]")
	require.Equal(t, http.StatusOK, code, body)
	<-arrived // in flight: neither taken nor recorded
	if snapshot {
		d.app.periodicSnapshot(context.Background())
		require.Equal(t, 1.0, gaugeWith(t, d.reg, "sift_snapshot_writes_total", "result", "success"))
	}
	crashed := crash(t, storage)
	release()
	d.shutdown(t)
	require.Empty(t, p.requests())

	d2 := startOn(t, crashed, cfg, withClock)
	require.Eventually(t, func() bool { return notified(t, d2) == 1 }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, []string{"POST /hook opened"}, p.requests())
	require.Equal(t, 1.0, sumWith(t, d2.reg, "sift_notify_notifications_total", "result", "sent"))
	if !snapshot {
		return
	}
	d2.app.periodicSnapshot(context.Background())
	d3 := startOn(t, crash(t, crashed), cfg, withClock)
	require.Eventually(t, func() bool {
		return sumWith(t, d3.reg, "sift_notify_notifications_total", "result", "deduplicated") == 1
	}, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, []string{"POST /hook opened"}, p.requests())
	require.Equal(t, 1, notified(t, d3))
}

// TestNotifyAtShutdownIsRecorded: what notify delivers while siftd shuts
// down is recorded (the engine still runs then), so the next start sends
// nothing again.
func TestNotifyAtShutdownIsRecorded(t *testing.T) {
	p, cfg, withClock := resumeSetup(t)
	storage := filepath.Join(t.TempDir(), "data")
	d := startOn(t, storage, cfg, withClock)
	code, body := d.post(t, "/api/v2/alerts", "["+promAlert("Down", "h1")+"]")
	require.Equal(t, http.StatusOK, code, body)
	d.shutdown(t) // at once: the notification goes out during the shutdown
	require.Equal(t, []string{"POST /hook opened"}, p.requests())
	require.Equal(t, 0.0, gaugeWith(t, d.reg, "sift_notify_unrecorded_total", "", ""))

	d2 := startOn(t, storage, cfg, withClock)
	require.Equal(t, 1, notified(t, d2))
	require.Eventually(t, func() bool {
		return sumWith(t, d2.reg, "sift_notify_notifications_total", "result", "deduplicated") == 1
	}, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, []string{"POST /hook opened"}, p.requests())
}
