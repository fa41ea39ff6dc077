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
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/internal/httpapi"
)

type daemon struct {
	app  *App
	url  string
	reg  *prometheus.Registry
	stop context.CancelFunc
	done chan error
}

// start runs a daemon in-process; setup runs before it starts serving.
func start(t testing.TB, configFile string, setup ...func(*App)) *daemon {
	t.Helper()
	reg := prometheus.NewRegistry()
	a, err := New(Options{ConfigFile: configFile, ListenAddress: "127.0.0.1:0", StoragePath: filepath.Join(t.TempDir(), "data"), Registry: reg})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{app: a, url: "http://" + ln.Addr().String(), reg: reg, stop: cancel, done: make(chan error, 1)}
	for _, f := range setup {
		f(a)
	}
	go func() { d.done <- a.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-d.done
	})
	return d
}

func (d *daemon) post(t *testing.T, path, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(d.url+path, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (d *daemon) alerts(t *testing.T) correlate.AlertPage {
	t.Helper()
	require.NoError(t, d.app.Engine().Flush(context.Background()))
	resp, err := http.Get(d.url + "/api/v1/alerts?limit=10000")
	require.NoError(t, err)
	defer resp.Body.Close()
	var p correlate.AlertPage
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&p))
	return p
}

func promAlert(name, instance string) string {
	return fmt.Sprintf(`{"labels":{"alertname":%q,"instance":%q,"severity":"critical"},"annotations":{"summary":"down"},"startsAt":"2026-11-24T12:00:00Z"}`, name, instance)
}

func TestEndToEndAllFormats(t *testing.T) {
	d := start(t, "")
	code, body := d.post(t, "/api/v2/alerts", "["+promAlert("Down", "h1")+","+promAlert("Down", "h1")+","+promAlert("Down", "h2")+"]")
	require.Equal(t, http.StatusOK, code, body)
	require.Empty(t, body)
	code, body = d.post(t, "/api/v1/alertmanager", `{"version":"4","status":"firing","receiver":"sift","groupKey":"{}:{}","alerts":[{"status":"firing","labels":{"alertname":"Down","instance":"h1","severity":"critical"},"annotations":{"summary":"down"},"startsAt":"2026-11-24T12:00:00Z"}]}`)
	require.Equal(t, http.StatusOK, code, body)
	code, body = d.post(t, "/v2/enqueue", `{"routing_key":"r","event_action":"trigger","dedup_key":"disk-1","payload":{"summary":"disk full","source":"db1","severity":"error"}}`)
	require.Equal(t, http.StatusAccepted, code, body)
	require.JSONEq(t, `{"status":"success","message":"Event processed","dedup_key":"disk-1"}`, body)
	code, body = d.post(t, "/api/v1/events", `[{"labels":{"alertname":"Queue","service":"billing"},"severity":"major"},{"labels":{"alertname":"Queue","service":"billing"},"severity":"major"}]`)
	require.Equal(t, http.StatusAccepted, code, body)
	require.JSONEq(t, `{"status":"success","accepted":2}`, body)

	p := d.alerts(t)
	byName := map[string]correlate.AlertJSON{}
	for _, a := range p.Alerts {
		byName[a.Labels["alertname"]+"/"+a.Labels["instance"]+a.Labels["dedup_key"]] = a
	}
	require.Len(t, byName, 4)
	// The Alertmanager webhook alert has the same labels as the Prometheus
	// one, so the same fingerprint: one alert seen three times.
	require.Equal(t, uint64(3), byName["Down/h1"].Count)
	require.Equal(t, uint64(1), byName["Down/h2"].Count)
	require.Equal(t, "major", byName["/disk-1"].Severity)
	require.Equal(t, uint64(2), byName["Queue/"].Count)

	require.Equal(t, 3.0, gaugeWith(t, d.reg, "sift_engine_deduplicated_events_total", "", ""))
	require.Equal(t, 2.0, gaugeWith(t, d.reg, "sift_alerts_active", "severity", "critical"))
	require.Equal(t, 2.0, gaugeWith(t, d.reg, "sift_alerts_active", "severity", "major"))

	resp, err := http.Get(d.url + "/metrics")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"sift_build_info", "sift_http_request_duration_seconds_bucket{handler=\"POST /api/v2/alerts\"", "sift_engine_batch_size_events", "sift_engine_queue_length_events", "sift_ingest_events_received_total{result=\"accepted\",source=\"prometheus\"} 3"} {
		require.Contains(t, string(b), m)
	}
	for _, p := range []string{"/-/healthy", "/-/ready"} {
		resp, err := http.Get(d.url + p)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, p)
	}
}

// gaugeWith reads the sample of name whose label has value (any sample
// when label is empty).
func gaugeWith(t testing.TB, g prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := label == ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					ok = true
				}
			}
			if !ok {
				continue
			}
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no sample %s{%s=%q}", name, label, value)
	return 0
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

func TestReloadGoodAndBad(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "sift.yml")
	writeFile(t, cfg, "engine:\n  resolve_timeout: 5m\ningest:\n  max_body_size: 64KiB\n")
	d := start(t, cfg)
	require.Equal(t, 5*time.Minute, d.app.Engine().Settings().ResolveTimeout)
	hash := gaugeWith(t, d.reg, "sift_config_hash", "", "")

	writeFile(t, cfg, "engine:\n  resolve_timeout: 9m\ningest:\n  max_body_size: 2KiB\n")
	code, body := d.post(t, "/-/reload", "")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, 9*time.Minute, d.app.Engine().Settings().ResolveTimeout)
	require.Equal(t, 1.0, gaugeWith(t, d.reg, "sift_config_last_reload_successful", "", ""))
	require.NotEqual(t, hash, gaugeWith(t, d.reg, "sift_config_hash", "", ""))
	// The new body limit is in force.
	big := "[" + strings.Repeat(promAlert("Big", "h")+",", 30) + promAlert("Big", "h") + "]"
	code, _ = d.post(t, "/api/v2/alerts", big)
	require.Equal(t, http.StatusRequestEntityTooLarge, code)

	writeFile(t, cfg, "engine:\n  resolve_timeout: 1m\n  bogus_key: 1\n")
	code, body = d.post(t, "/-/reload", "")
	require.Equal(t, http.StatusBadRequest, code)
	var e httpapi.Error
	require.NoError(t, json.Unmarshal([]byte(body), &e))
	require.Contains(t, e.Message, "bogus_key")
	require.Equal(t, 9*time.Minute, d.app.Engine().Settings().ResolveTimeout, "a bad reload changes nothing")
	require.Equal(t, 0.0, gaugeWith(t, d.reg, "sift_config_last_reload_successful", "", ""))

	writeFile(t, cfg, "engine:\n  resolve_timeout: 2m\n")
	require.NoError(t, d.app.Reload(), "SIGHUP's path")
	require.Equal(t, 2*time.Minute, d.app.Engine().Settings().ResolveTimeout)
	require.Equal(t, 1.0, gaugeWith(t, d.reg, "sift_config_last_reload_successful", "", ""))
}

func TestStartFailsOnBadConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "sift.yml")
	writeFile(t, cfg, "engine:\n  batch_max_events: -1\n")
	_, err := New(Options{ConfigFile: cfg, ListenAddress: ":0", StoragePath: t.TempDir()})
	require.ErrorContains(t, err, "engine.batch_max_events")
}

func TestQueueFullAnswers503(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "sift.yml")
	writeFile(t, cfg, "engine:\n  queue_capacity: 2\n")
	d := start(t, cfg)
	req, err := http.NewRequest(http.MethodPost, d.url+"/api/v2/alerts", strings.NewReader("["+promAlert("A", "1")+","+promAlert("A", "2")+","+promAlert("A", "3")+"]"))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	require.Contains(t, string(body), "queue is full")
	require.Empty(t, d.alerts(t).Alerts, "a refused request applies nothing")
	code, _ := d.post(t, "/api/v2/alerts", "["+promAlert("A", "1")+"]")
	require.Equal(t, http.StatusOK, code)
	require.Len(t, d.alerts(t).Alerts, 1)

	// Reload applies a new Retry-After.
	writeFile(t, cfg, "engine:\n  queue_capacity: 2\ningest:\n  retry_after: 7s\n")
	require.NoError(t, d.app.Reload())
	resp, err = http.Post(d.url+"/api/v2/alerts", "application/json", strings.NewReader("["+promAlert("A", "1")+","+promAlert("A", "2")+","+promAlert("A", "3")+"]"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "7", resp.Header.Get("Retry-After"))
}

func TestGracefulShutdownDrainsAcceptedEvents(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "sift.yml")
	// A long batch wait keeps accepted events in the queue, so only the
	// shutdown drain can apply them.
	writeFile(t, cfg, "engine:\n  batch_max_events: 100000\n  batch_max_wait: 1s\n  tick_interval: 1m\n")
	var batches atomic.Int64
	d := start(t, cfg, func(a *App) {
		a.Engine().Subscribe(correlate.SinkFunc(func(b *correlate.Batch) { batches.Add(1) }))
	})
	for i := 0; i < 20; i++ {
		code, body := d.post(t, "/api/v2/alerts", "["+promAlert("A", fmt.Sprint(i))+"]")
		require.Equal(t, http.StatusOK, code, body)
	}
	require.Equal(t, 20.0, gaugeWith(t, d.reg, "sift_engine_queue_length_events", "", ""), "still queued")
	d.stop()
	require.NoError(t, <-d.done)
	d.done <- nil // for Cleanup
	require.Equal(t, 0.0, gaugeWith(t, d.reg, "sift_engine_queue_length_events", "", ""))
	require.Equal(t, 20.0, gaugeWith(t, d.reg, "sift_alerts_in_memory", "", ""))
	require.Equal(t, int64(1), batches.Load(), "one batch, applied by the drain")
	_, err := http.Get(d.url + "/-/ready")
	require.Error(t, err, "the listener is closed")
}

func TestRulesLoadAndReload(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sift.yml")
	writeFile(t, cfg, "rules:\n  files: [rules.yml]\n")
	writeFile(t, filepath.Join(dir, "rules.yml"), "correlation_rules:\n  - name: db\n    match: ['team=\"db\"']\n")
	d := start(t, cfg)
	first := d.app.Rules().Load()
	require.Equal(t, "db", first.Correlation[0].Name, "relative to the config file")
	require.Equal(t, 2.0, gaugeWith(t, d.reg, "sift_rules_loaded", "kind", "correlation"))

	writeFile(t, filepath.Join(dir, "rules.yml"), "correlation_rules:\n  - name: db\n    window: whenever\n")
	writeFile(t, cfg, "engine:\n  resolve_timeout: 7m\nrules:\n  files: [rules.yml]\n")
	code, body := d.post(t, "/-/reload", "")
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body, "rules.yml:3:")
	require.Contains(t, body, "correlation_rules[0].window")
	require.Same(t, first, d.app.Rules().Load(), "a bad rule file keeps the old rules")
	require.Equal(t, 5*time.Minute, d.app.Engine().Settings().ResolveTimeout, "and the old config")
	require.Equal(t, 1.0, gaugeWith(t, d.reg, "sift_rules_reloads_total", "result", "failure"))
	require.Equal(t, 0.0, gaugeWith(t, d.reg, "sift_config_last_reload_successful", "", ""))

	writeFile(t, filepath.Join(dir, "rules.yml"), "correlation_rules:\n  - name: net\n")
	require.NoError(t, d.app.Reload())
	require.Equal(t, "net", d.app.Rules().Load().Correlation[0].Name)
	require.Equal(t, 7*time.Minute, d.app.Engine().Settings().ResolveTimeout)
	require.Equal(t, 1.0, gaugeWith(t, d.reg, "sift_rules_reloads_total", "result", "success"))
	require.NotZero(t, gaugeWith(t, d.reg, "sift_rules_last_reload_timestamp_seconds", "", ""))

	writeFile(t, filepath.Join(dir, "rules.yml"), "correlation_rules:\n  - name: [x]\n")
	_, err := New(Options{ConfigFile: cfg, ListenAddress: ":0", StoragePath: t.TempDir()})
	require.ErrorContains(t, err, "correlation_rules[0].name", "a bad rule file stops the start")
}
