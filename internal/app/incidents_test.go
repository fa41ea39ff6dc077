package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/internal/httpapi"
)

func (d *daemon) getJSON(t testing.TB, path string, v any) int {
	t.Helper()
	require.NoError(t, d.app.Engine().Flush(context.Background()))
	resp, err := http.Get(d.url + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
	return resp.StatusCode
}

func TestIncidentAPI(t *testing.T) {
	d := start(t, "")
	code, body := d.post(t, "/api/v2/alerts", "["+promAlert("Down", "h1")+","+promAlert("Down", "h2")+"]")
	require.Equal(t, http.StatusOK, code, body)

	var page incident.Page
	require.Equal(t, http.StatusOK, d.getJSON(t, "/api/v1/incidents?state=open", &page))
	require.Len(t, page.Incidents, 1, "two alerts named Down with no CI and no service: one incident")
	inc := page.Incidents[0]
	require.Equal(t, "INC0000001", inc.ID)
	require.Equal(t, incident.StateNew, inc.State)
	require.Equal(t, incident.Priority(3), inc.Priority, "critical with no CI: impact 3, urgency 1")
	require.Len(t, inc.Alerts, 2)

	require.Equal(t, 1.0, gaugeWith(t, d.reg, "sift_incidents_open", "", ""))
	require.Equal(t, 1.0, gaugeWith(t, d.reg, "sift_engine_incident_changes_total", "kind", "opened"))

	var detail incident.JSON
	require.Equal(t, http.StatusOK, d.getJSON(t, "/api/v1/incidents/INC0000001", &detail))
	require.Len(t, detail.AlertDetails, 2)
	require.NotEmpty(t, detail.Timeline)

	code, body = d.post(t, "/api/v1/incidents/INC0000001/ack", `{"actor":"alice","text":"looking"}`)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"state":"acknowledged"`)

	var e httpapi.Error
	code, body = d.post(t, "/api/v1/incidents/INC0000001/ack", `{"actor":"alice"}`)
	require.Equal(t, http.StatusConflict, code, body)
	require.NoError(t, json.Unmarshal([]byte(body), &e))
	require.Equal(t, "acknowledged", e.State, "a refused transition names the current state")

	code, body = d.post(t, "/api/v1/incidents/INC0000001/close", `{}`)
	require.Equal(t, http.StatusConflict, code, body)
	code, body = d.post(t, "/api/v1/incidents/INC0000001/notes", `{"actor":"bob","text":"switch port flapping"}`)
	require.Equal(t, http.StatusOK, code, body)
	code, body = d.post(t, "/api/v1/incidents/INC0000001/notes", `{"actor":"bob"}`)
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, `"field":"text"`)
	code, body = d.post(t, "/api/v1/incidents/INC0000001/resolve", ``)
	require.Equal(t, http.StatusOK, code, body)
	code, body = d.post(t, "/api/v1/incidents/INC0000001/close", ``)
	require.Equal(t, http.StatusOK, code, body)

	require.Equal(t, http.StatusOK, d.getJSON(t, "/api/v1/incidents/INC0000001", &detail))
	require.Equal(t, incident.StateClosed, detail.State)
	var actors []string
	for _, en := range detail.Timeline {
		if en.Kind == incident.EntryState || en.Kind == incident.EntryNote {
			actors = append(actors, en.Actor+":"+en.To+en.Text)
		}
	}
	require.Equal(t, []string{"alice:acknowledgedlooking", "bob:switch port flapping", "api:resolvedacknowledged -> resolved", "api:closedresolved -> closed"}, actors)

	require.Equal(t, http.StatusOK, d.getJSON(t, "/api/v1/incidents?state=open", &page))
	require.Empty(t, page.Incidents)
	require.Equal(t, 0.0, gaugeWith(t, d.reg, "sift_incidents_open", "", ""))
	require.Equal(t, 1.0, gaugeWith(t, d.reg, "sift_incidents_in_memory", "", ""), "closed, within retention")

	for path, want := range map[string]int{
		"/api/v1/incidents/INC0000009":          http.StatusNotFound,
		"/api/v1/incidents/nope":                http.StatusBadRequest,
		"/api/v1/incidents?state=sleeping":      http.StatusBadRequest,
		"/api/v1/incidents?priority=P9":         http.StatusBadRequest,
		"/api/v1/incidents?since=yesterday":     http.StatusBadRequest,
		"/api/v1/incidents?limit=0":             http.StatusBadRequest,
		"/api/v1/incidents?since=1h&priority=3": http.StatusOK,
	} {
		var raw json.RawMessage
		require.Equal(t, want, d.getJSON(t, path, &raw), path)
	}
	code, _ = d.post(t, "/api/v1/incidents/INC0000009/ack", `{}`)
	require.Equal(t, http.StatusNotFound, code)
	code, _ = d.post(t, "/api/v1/incidents/INC0000001/frobnicate", `{}`)
	require.Equal(t, http.StatusNotFound, code)
	code, _ = d.post(t, "/api/v1/incidents/INC0000001/notes", `{"actor":"a","text":"x","extra":1}`)
	require.Equal(t, http.StatusBadRequest, code, "unknown body fields are refused")
}

func TestSilenceAPI(t *testing.T) {
	d := start(t, "")
	code, body := d.post(t, "/api/v1/silences", `{"matchers":["instance=\"h1\""],"duration":"1h","created_by":"alice","comment":"maintenance"}`)
	require.Equal(t, http.StatusCreated, code, body)
	var sil struct {
		ID, State string
		Matchers  []string
	}
	require.NoError(t, json.Unmarshal([]byte(body), &sil))
	require.Equal(t, "SIL0000001", sil.ID)
	require.Equal(t, "active", sil.State)
	require.Equal(t, []string{`instance="h1"`}, sil.Matchers)

	code, body = d.post(t, "/api/v2/alerts", "["+promAlert("Down", "h1")+","+promAlert("Down", "h2")+"]")
	require.Equal(t, http.StatusOK, code, body)
	page := d.alerts(t)
	require.Len(t, page.Alerts, 2)
	for _, a := range page.Alerts {
		if a.Labels["instance"] == "h1" {
			require.Equal(t, "silence SIL0000001", a.Suppressed)
			require.Empty(t, a.IncidentID)
		} else {
			require.Empty(t, a.Suppressed)
			require.Equal(t, "INC0000001", a.IncidentID)
		}
	}

	var list struct{ Silences []json.RawMessage }
	require.Equal(t, http.StatusOK, d.getJSON(t, "/api/v1/silences", &list))
	require.Len(t, list.Silences, 1)

	for _, c := range []struct{ body, field string }{
		{`{"matchers":["instance=\"h1\""],"duration":"1h","comment":"x"}`, "created_by"},
		{`{"matchers":[],"duration":"1h","created_by":"a","comment":"x"}`, "matchers"},
		{`{"matchers":["{{"],"duration":"1h","created_by":"a","comment":"x"}`, "matchers"},
		{`{"matchers":["a=\"b\""],"created_by":"a","comment":"x"}`, "ends_at"},
		{`{"matchers":["a=\"b\""],"duration":"-1h","created_by":"a","comment":"x"}`, "duration"},
		{`{"matchers":["a=\"b\""],"duration":"1h","created_by":"a","comment":"x","extra":1}`, "body"},
	} {
		code, body := d.post(t, "/api/v1/silences", c.body)
		require.Equal(t, http.StatusBadRequest, code, c.body)
		require.Contains(t, body, `"field":"`+c.field+`"`, c.body)
	}

	req, _ := http.NewRequest(http.MethodDelete, d.url+"/api/v1/silences/SIL0000001", nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "already ended")

	// The next batch lets the muted alert correlate.
	code, _ = d.post(t, "/api/v2/alerts", "["+promAlert("Other", "h9")+"]")
	require.Equal(t, http.StatusOK, code)
	for _, a := range d.alerts(t).Alerts {
		require.Empty(t, a.Suppressed, a.Labels)
	}
}

func TestProblemAPI(t *testing.T) {
	d := start(t, "")
	// Three incidents of one group, each closed before the next opens:
	// the third opens a problem.
	for i := 1; i <= 3; i++ {
		code, body := d.post(t, "/api/v2/alerts", "["+promAlert("Down", fmt.Sprint("h", i))+"]")
		require.Equal(t, http.StatusOK, code, body)
		id := fmt.Sprintf("INC%07d", i)
		var inc incident.JSON
		require.Equal(t, http.StatusOK, d.getJSON(t, "/api/v1/incidents/"+id, &inc))
		if i < 3 {
			code, body = d.post(t, "/api/v1/incidents/"+id+"/resolve", "")
			require.Equal(t, http.StatusOK, code, body)
			code, body = d.post(t, "/api/v1/incidents/"+id+"/close", "")
			require.Equal(t, http.StatusOK, code, body)
		}
	}
	var page incident.ProblemPage
	require.Equal(t, http.StatusOK, d.getJSON(t, "/api/v1/problems?state=new", &page))
	require.Len(t, page.Problems, 1)
	p := page.Problems[0]
	require.Equal(t, "PRB0000001", p.ID)
	require.Equal(t, []string{"INC0000001", "INC0000002", "INC0000003"}, p.IncidentIDs)
	var inc incident.JSON
	require.Equal(t, http.StatusOK, d.getJSON(t, "/api/v1/incidents/INC0000003", &inc))
	require.Equal(t, "PRB0000001", inc.ProblemID)

	patch := func(body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPatch, d.url+"/api/v1/problems/PRB0000001", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := patch(`{"state":"known_error","workaround":"restart it","root_cause":"leak"}`)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"state":"known_error"`)
	code, body = patch(`{"state":"new"}`)
	require.Equal(t, http.StatusConflict, code, body)
	require.Contains(t, body, `"state":"known_error"`)
	code, _ = patch(`{"state":"sleeping"}`)
	require.Equal(t, http.StatusBadRequest, code)

	req, _ := http.NewRequest(http.MethodDelete, d.url+"/api/v1/problems/PRB0000001/incidents/INC0000002", nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var got incident.ProblemJSON
	require.Equal(t, http.StatusOK, d.getJSON(t, "/api/v1/problems/PRB0000001", &got))
	require.Equal(t, []string{"INC0000001", "INC0000003"}, got.IncidentIDs)
	code, body = d.post(t, "/api/v1/problems/PRB0000001/incidents", `{"incident_id":"INC0000002"}`)
	require.Equal(t, http.StatusOK, code, body)
	code, _ = d.post(t, "/api/v1/problems/PRB0000001/incidents", `{"incident_id":"INC0000099"}`)
	require.Equal(t, http.StatusNotFound, code)
	code, _ = d.post(t, "/api/v1/problems/PRB0000009/incidents", `{"incident_id":"INC0000001"}`)
	require.Equal(t, http.StatusNotFound, code)

	// The next incident of the signature carries the workaround.
	code, _ = d.post(t, "/api/v1/incidents/INC0000003/resolve", "")
	require.Equal(t, http.StatusOK, code)
	code, _ = d.post(t, "/api/v1/incidents/INC0000003/close", "")
	require.Equal(t, http.StatusOK, code)
	code, _ = d.post(t, "/api/v2/alerts", "["+promAlert("Down", "h4")+"]")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, http.StatusOK, d.getJSON(t, "/api/v1/incidents/INC0000004", &inc))
	require.Equal(t, "restart it", inc.Workaround)
	require.Equal(t, "PRB0000001", inc.ProblemID)
}
