package app

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/incident/cmdb"
)

// The scenario on the example CMDB, through HTTP: a core switch
// fails, the 40 hosts behind it and the apps on them alert within two
// minutes; a disk fills up at the other site at the same time.
func TestCoreSwitchScenarioOnExampleCMDB(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sift.yml")
	example, err := filepath.Abs("../../deploy/examples/cmdb.yml")
	require.NoError(t, err)
	writeFile(t, cfg, "cmdb:\n  files: ["+example+"]\n")
	d := start(t, cfg)
	g := d.app.CMDB().Graph()

	const sw = "core-sw-fra-1"
	var alerts []string
	at := func(sec int) string { return fmt.Sprintf("2026-11-24T12:%02d:%02dZ", sec/60, sec%60) }
	alert := func(sec int, labels string) {
		alerts = append(alerts, fmt.Sprintf(`{"labels":{%s},"startsAt":%q}`, labels, at(sec)))
	}
	var hosts int
	for _, r := range g.Downstream(sw, 1, cmdb.RelTypes(cmdb.ConnectedTo)) {
		if r.CI.Class != "host" {
			continue
		}
		hosts++
		alert(hosts, fmt.Sprintf(`"alertname":"NodeDown","instance":"%s:9100","job":"node","severity":"critical"`, r.CI.ID))
		for _, app := range g.Downstream(r.CI.ID, 1, cmdb.RelTypes(cmdb.RunsOn)) {
			alert(60+hosts, fmt.Sprintf(`"alertname":"HighErrorRate","ci":%q,"severity":"major"`, app.CI.ID))
		}
	}
	require.Equal(t, 40, hosts)
	alert(45, `"alertname":"SwitchDown","ci":"`+sw+`","severity":"critical"`)
	var farHost string
	for _, h := range g.ByClass("host") {
		if !strings.Contains(h.ID, "fra") {
			farHost = h.ID
			break
		}
	}
	require.NotEmpty(t, farHost)
	alert(50, `"alertname":"DiskFull","instance":"`+farHost+`:9100","severity":"warning"`)

	code, body := d.post(t, "/api/v2/alerts", "["+strings.Join(alerts, ",")+"]")
	require.Equal(t, http.StatusOK, code, body)

	var page incident.Page
	require.Equal(t, http.StatusOK, d.getJSON(t, "/api/v1/incidents", &page))
	require.Len(t, page.Incidents, 2, "the switch failure and the unrelated disk")
	var sw1, disk incident.JSON
	for _, inc := range page.Incidents {
		if inc.ProbableCause == sw {
			sw1 = inc
		} else {
			disk = inc
		}
	}
	require.Equal(t, sw, sw1.ProbableCause)
	require.Len(t, sw1.Alerts, len(alerts)-1)
	require.Contains(t, []incident.Priority{1, 2}, sw1.Priority)
	require.Equal(t, farHost, disk.ProbableCause)
	require.Len(t, disk.Alerts, 1)

	// The switch's impact lists its incident, and the hosts behind it.
	var impact struct {
		Incidents []string
		Impacted  []struct {
			ID        string
			Incidents []string
		}
	}
	require.Equal(t, http.StatusOK, d.getJSON(t, "/api/v1/cis/"+sw+"/impact?hops=1", &impact))
	require.Equal(t, []string{sw1.ID}, impact.Incidents)
	var withIncident int
	for _, c := range impact.Impacted {
		if len(c.Incidents) > 0 {
			require.Equal(t, []string{sw1.ID}, c.Incidents, c.ID)
			withIncident++
		}
	}
	require.Equal(t, 40, withIncident, "the hosts that alerted")
}

func TestChangesAPIAndProbableChange(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sift.yml")
	example, err := filepath.Abs("../../deploy/examples/cmdb.yml")
	require.NoError(t, err)
	writeFile(t, cfg, "cmdb:\n  files: ["+example+"]\n")
	d := start(t, cfg)

	now := time.Now().UTC()
	deploy := fmt.Sprintf(`[{"id":"CHG-1","ci":"checkout-fra","summary":"deploy checkout 4.2","start":%q,"source":"argo"},
		{"id":"CHG-2","ci":"ams-r01-h01","summary":"kernel patch","start":%q}]`, now.Add(-10*time.Minute).Format(time.RFC3339), now.Add(-5*time.Minute).Format(time.RFC3339))
	code, body := d.post(t, "/api/v1/changes", deploy)
	require.Equal(t, http.StatusAccepted, code, body)
	code, body = d.post(t, "/api/v1/changes", `{"id":"CHG-3","summary":"x","start":"2026-11-24T12:00:00Z"}`)
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, `"field":"[0].ci"`)

	var list struct{ Changes []struct{ ID string } }
	require.Equal(t, http.StatusOK, d.getJSON(t, "/api/v1/changes", &list))
	require.Len(t, list.Changes, 2)
	require.Equal(t, "CHG-2", list.Changes[0].ID, "the latest first")

	code, body = d.post(t, "/api/v2/alerts", `[{"labels":{"alertname":"SLOBurn","service":"checkout","site":"fra","severity":"critical"}}]`)
	require.Equal(t, http.StatusOK, code, body)
	var inc incident.JSON
	require.Equal(t, http.StatusOK, d.getJSON(t, "/api/v1/incidents/INC0000001", &inc))
	require.Equal(t, []string{"checkout-fra"}, inc.CIs)
	require.Len(t, inc.ProbableChanges, 1, "the unrelated host's patch is not listed")
	require.Equal(t, "CHG-1", inc.ProbableChanges[0].ID)
}
