package app

import (
	"encoding/json"
	"github.com/sift-itsm/sift/internal/httpapi"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/ingest"
)

func TestCMDBLoadedAtStartAndReload(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sift.yml")
	writeFile(t, cfg, "cmdb:\n  files: [cmdb.yml]\n") // relative to the config file
	cmdbFile := filepath.Join(dir, "cmdb.yml")
	writeFile(t, cmdbFile, "cis: [{id: h1, class: host}, {id: app, class: application}]\nrelations: [{from: app, type: runs_on, to: h1}]\n")
	d := start(t, cfg)

	resp, err := http.Get(d.url + "/api/v1/cis/app")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	c, ok := d.app.CMDB().Graph().Bind(ingest.NewLabels(ingest.Label{Name: "instance", Value: "h1:9100"}))
	require.True(t, ok)
	require.Equal(t, "h1", c.ID)
	require.Equal(t, 2.0, gaugeWith(t, d.reg, "sift_cmdb_cis", "", ""))
	require.Equal(t, 1.0, gaugeWith(t, d.reg, "sift_cmdb_relations", "", ""))

	// A bad CMDB fails the reload and keeps the CMDB in force.
	writeFile(t, cmdbFile, "cis: [{id: h1}]\nrelations: [{from: app, type: runs_on, to: h1}]\n")
	code, body := d.post(t, "/-/reload", "")
	require.Equal(t, http.StatusBadRequest, code)
	var e httpapi.Error
	require.NoError(t, json.Unmarshal([]byte(body), &e))
	require.Contains(t, e.Message, `cmdb.yml:2: relations[0].from: relation to unknown CI "app"`)
	require.Equal(t, 2, d.app.CMDB().Graph().Len())
	require.Equal(t, 0.0, gaugeWith(t, d.reg, "sift_config_last_reload_successful", "", ""))
	require.Equal(t, 1.0, gaugeWith(t, d.reg, "sift_cmdb_imports_total", "result", "failure"))

	writeFile(t, cmdbFile, "cis: [{id: h1}, {id: h2}, {id: h3}]\n")
	code, body = d.post(t, "/-/reload", "")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, 3, d.app.CMDB().Graph().Len())
	require.Equal(t, 2.0, gaugeWith(t, d.reg, "sift_cmdb_imports_total", "result", "success"))
	require.NotZero(t, gaugeWith(t, d.reg, "sift_cmdb_last_import_timestamp_seconds", "", ""))
}

func TestStartFailsOnBadCMDB(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sift.yml")
	writeFile(t, cfg, "cmdb:\n  files: [cmdb.csv]\n")
	writeFile(t, filepath.Join(dir, "cmdb.csv"), "id,criticality\nh1,7\n")
	_, err := New(Options{ConfigFile: cfg, ListenAddress: ":0", StoragePath: t.TempDir()})
	require.ErrorContains(t, err, "cmdb.csv:2: criticality")
}
