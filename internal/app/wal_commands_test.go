package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/incident"
)

// stepClock is a daemon clock that moves only when the test says.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) step() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(10 * time.Second)
}

func (d *daemon) do(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, d.url+path, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// state is what the API shows of everything commands change: incidents
// and problems (without their versions, which count engine batches:
// docs/durability.md, "Batch boundaries"), silences, changes and alerts.
func (d *daemon) state(t *testing.T) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, path := range []string{"/api/v1/incidents", "/api/v1/problems", "/api/v1/silences", "/api/v1/changes", "/api/v1/alerts"} {
		var v map[string]any
		require.Equal(t, http.StatusOK, d.getJSON(t, path, &v), path)
		for _, list := range v {
			rows, _ := list.([]any)
			for _, r := range rows {
				delete(r.(map[string]any), "version")
			}
		}
		out[path] = v
	}
	return out
}

// TestRestartRecoversCommands: incident actions, a problem update,
// silences (added, expired) and change events are logged with the events
// around them; after a restart the API shows the same incidents,
// problems, silences, changes and alerts, and an action refused before
// is refused again.
func TestRestartRecoversCommands(t *testing.T) {
	storage := filepath.Join(t.TempDir(), "data")
	clock := &stepClock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	withClock := func(o *Options) { o.Now = clock.now }
	d := startOn(t, storage, "", withClock)
	ok := func(code int, body string) {
		t.Helper()
		require.Less(t, code, 300, body)
		// Applied before the clock moves: the live batch then has the
		// clock replay gives it, the latest receive time (batch clocks
		// are the part replay does not reproduce: docs/durability.md).
		require.NoError(t, d.app.Engine().Flush(t.Context()))
		clock.step()
	}
	// Three incidents of one group, each closed before the next opens:
	// the third opens a problem.
	for i := 1; i <= 3; i++ {
		ok(d.post(t, "/api/v2/alerts", "["+promAlert("Down", fmt.Sprint("h", i))+"]"))
		if i < 3 {
			id := fmt.Sprintf("INC%07d", i)
			ok(d.post(t, "/api/v1/incidents/"+id+"/resolve", `{"actor":"ann"}`))
			ok(d.post(t, "/api/v1/incidents/"+id+"/close", `{"actor":"ann"}`))
		}
	}
	ok(d.post(t, "/api/v1/incidents/INC0000003/ack", `{"actor":"ann","text":"mine"}`))
	code, body := d.post(t, "/api/v1/incidents/INC0000003/ack", `{"actor":"bob"}`)
	require.Equal(t, http.StatusConflict, code, body)
	ok(d.post(t, "/api/v1/incidents/INC0000003/assign", `{"actor":"ann","assignee":"cy","support_group":"dba"}`))
	ok(d.do(t, http.MethodPatch, "/api/v1/problems/PRB0000001", `{"state":"known_error","workaround":"restart it","root_cause":"leak"}`))
	ok(d.do(t, http.MethodDelete, "/api/v1/problems/PRB0000001/incidents/INC0000002", ""))

	ok(d.post(t, "/api/v1/silences", `{"matchers":["instance=\"h9\""],"duration":"1h","created_by":"ann","comment":"maintenance"}`))
	ok(d.post(t, "/api/v1/silences", `{"matchers":["instance=\"h8\""],"duration":"1h","created_by":"ann","comment":"short"}`))
	ok(d.post(t, "/api/v2/alerts", "["+promAlert("Other", "h9")+","+promAlert("Other", "h8")+"]"))
	ok(d.do(t, http.MethodDelete, "/api/v1/silences/SIL0000002", ""))
	ok(d.post(t, "/api/v1/changes", `{"id":"CHG1","ci":"h3","summary":"upgrade","start":"2026-11-24T11:59:00Z"}`))
	ok(d.post(t, "/api/v2/alerts", "["+promAlert("Other", "h7")+"]"))

	before := d.state(t)
	js, err := json.Marshal(before)
	require.NoError(t, err)
	for _, want := range []string{`"state":"known_error"`, `"assignee":"cy"`, `"state":"in_progress"`, `"suppressed":"silence SIL0000001"`, `"state":"expired"`, `"CHG1"`} {
		require.Contains(t, string(js), want)
	}
	d.shutdown(t)

	d = startOn(t, storage, "", withClock)
	require.Equal(t, before, d.state(t))
	code, body = d.post(t, "/api/v1/incidents/INC0000003/ack", `{"actor":"bob"}`)
	require.Equal(t, http.StatusConflict, code, body)
	code, body = d.do(t, http.MethodDelete, "/api/v1/silences/SIL0000002", "")
	require.Equal(t, http.StatusNotFound, code, body)
	// The silence sequence goes on where it was.
	code, body = d.post(t, "/api/v1/silences", `{"matchers":["instance=\"h6\""],"duration":"1h","created_by":"ann","comment":"next"}`)
	require.Equal(t, http.StatusCreated, code, body)
	require.Contains(t, body, `"SIL0000003"`)
}

// TestRestartKeepsTheNotificationLog: what notify sent, and the ticket
// ServiceNow gave the incident, are in the write-ahead log: after a
// restart the incident keeps its ticket and its notification entries,
// and its next change updates that ticket instead of opening another.
func TestRestartKeepsTheNotificationLog(t *testing.T) {
	p := &platform{}
	srv := httptest.NewServer(p)
	defer srv.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "hook-url"), srv.URL+"/hook\n")
	writeFile(t, filepath.Join(dir, "snow-password"), "hunter2\n")
	cfg := fmt.Sprintf(notifyConfig, srv.URL)
	cfg = strings.Replace(cfg, "url_file: hook-url", "url_file: "+filepath.Join(dir, "hook-url"), 1)
	cfg = strings.Replace(cfg, "password_file: snow-password", "password_file: "+filepath.Join(dir, "snow-password"), 1)
	storage := filepath.Join(dir, "data")
	d := startOn(t, storage, cfg)

	code, body := d.post(t, "/api/v2/alerts", "["+promAlert("Down", "h1")+"]")
	require.Equal(t, http.StatusOK, code, body)
	var inc incident.JSON
	notified := func(d *daemon) int {
		d.getJSON(t, "/api/v1/incidents/INC0000001", &inc)
		n := 0
		for _, e := range inc.Timeline {
			if e.Kind == incident.EntryNotification {
				n++
			}
		}
		return n
	}
	require.Eventually(t, func() bool { return notified(d) == 2 }, 10*time.Second, 5*time.Millisecond)
	before := inc
	require.Equal(t, map[string]string{"itsm/servicenow": "6816f79cc0a8016401c5a33be04be441"}, before.Tickets)
	d.shutdown(t)

	d = startOn(t, storage, cfg)
	require.Equal(t, 2, notified(d))
	require.Equal(t, before.Tickets, inc.Tickets)
	require.Equal(t, before.Timeline, inc.Timeline)
	code, body = d.post(t, "/api/v1/incidents/INC0000001/ack", `{"actor":"alice"}`)
	require.Equal(t, http.StatusOK, code, body)
	require.Eventually(t, func() bool { return notified(d) == 4 }, 10*time.Second, 5*time.Millisecond)
	opened := 0
	for _, r := range p.requests() {
		if strings.HasPrefix(r, "POST /api/now/table/incident") {
			opened++
		}
	}
	require.Equal(t, 1, opened, "one ticket: %v", p.requests())
	require.Contains(t, p.requests(), "PATCH /api/now/table/incident/6816f79cc0a8016401c5a33be04be441 ")
}
