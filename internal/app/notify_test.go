package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/notify"
)

// platform is a local stand-in for a webhook receiver and ServiceNow.
type platform struct {
	mu   sync.Mutex
	reqs []string
}

func (p *platform) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.reqs = append(p.reqs, r.Method+" "+r.URL.Path+" "+r.Header.Get("X-Sift-Event"))
	p.mu.Unlock()
	if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/api/now/table/") {
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"result":{"sys_id":"6816f79cc0a8016401c5a33be04be441","number":"INC0010001"}}`)
		return
	}
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, `{}`)
}

func (p *platform) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.reqs...)
}

const notifyConfig = `
notify:
  external_url: http://sift.test
  route:
    receiver: chat
    routes:
      - matchers: ['priority=~"P1|P2|P3"']
        receiver: itsm
        continue: true
      - receiver: chat
  receivers:
    - name: chat
      webhook_configs:
        - url_file: hook-url
          hmac_secret: s3cret
    - name: itsm
      servicenow_configs:
        - url: %s
          username: sift
          password_file: snow-password
`

func TestNotificationsEndToEnd(t *testing.T) {
	p := &platform{}
	srv := httptest.NewServer(p)
	defer srv.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "hook-url"), srv.URL+"/hook\n")
	writeFile(t, filepath.Join(dir, "snow-password"), "hunter2\n")
	cfg := filepath.Join(dir, "sift.yml")
	writeFile(t, cfg, fmt.Sprintf(notifyConfig, srv.URL))
	var batches []*correlate.Batch
	var mu sync.Mutex
	d := start(t, cfg, func(a *App) {
		a.Engine().Subscribe(correlate.SinkFunc(func(b *correlate.Batch) {
			mu.Lock()
			batches = append(batches, b)
			mu.Unlock()
		}))
	})

	code, body := d.post(t, "/api/v2/alerts", "["+promAlert("Down", "h1")+"]")
	require.Equal(t, http.StatusOK, code, body)
	waitFor := func(want ...string) {
		t.Helper()
		require.Eventually(t, func() bool {
			got := p.requests()
			for _, w := range want {
				if !slices.Contains(got, w) {
					return false
				}
			}
			return true
		}, 10*time.Second, 5*time.Millisecond, "want %v, got %v", want, p.requests())
	}
	waitFor("POST /hook opened", "POST /api/now/table/incident ")

	code, body = d.post(t, "/api/v1/incidents/INC0000001/ack", `{"actor":"alice","text":"looking"}`)
	require.Equal(t, http.StatusOK, code, body)
	waitFor("POST /hook acknowledged", "PATCH /api/now/table/incident/6816f79cc0a8016401c5a33be04be441 ")

	// The ticket is on the incident, and the timeline says who heard of
	// what.
	require.Eventually(t, func() bool { return notified(t, d) == 4 }, 10*time.Second, 5*time.Millisecond)
	var inc incident.JSON
	d.getJSON(t, "/api/v1/incidents/INC0000001", &inc)
	require.Equal(t, map[string]string{"itsm/servicenow": "6816f79cc0a8016401c5a33be04be441"}, inc.Tickets)

	// Every batch once more to a new notifier, as after a restart that
	// replays the WAL: the notification log in the engine state says all
	// was sent, and nothing goes out twice.
	sent := len(p.requests())
	mu.Lock()
	again := append([]*correlate.Batch(nil), batches...)
	mu.Unlock()
	c := d.app.Config()
	plan, err := NotifyPlan(&c.Notify)
	require.NoError(t, err)
	receivers, err := NotifyReceivers(&c.Notify, os.ReadFile, time.Now)
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	n, err := notify.New(notify.Options{Plan: plan, Receivers: receivers, Log: d.app.Engine(), Registerer: reg})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.Run(ctx, context.Background()) }()
	for _, b := range again {
		n.Consume(b)
	}
	require.Eventually(t, func() bool { return sumWith(t, reg, "sift_notify_notifications_total", "result", "deduplicated") == 4 }, 10*time.Second, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.Len(t, p.requests(), sent, "nothing sent twice: %v", p.requests())
	require.Equal(t, 0.0, sumWith(t, reg, "sift_notify_notifications_total", "result", "sent"))
	require.Equal(t, 4.0, sumWith(t, d.reg, "sift_notify_notifications_total", "result", "sent"))
}

func TestNotifyReload(t *testing.T) {
	p := &platform{}
	srv := httptest.NewServer(p)
	defer srv.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "hook-url"), srv.URL+"/hook")
	writeFile(t, filepath.Join(dir, "snow-password"), "x")
	cfg := filepath.Join(dir, "sift.yml")
	writeFile(t, cfg, fmt.Sprintf(notifyConfig, srv.URL))
	d := start(t, cfg)

	// Routes reload: everything to chat now.
	writeFile(t, cfg, strings.Replace(fmt.Sprintf(notifyConfig, srv.URL), "receiver: itsm\n", "receiver: chat\n", 1))
	require.NoError(t, d.app.Reload())
	code, body := d.post(t, "/api/v2/alerts", "["+promAlert("Down", "h1")+"]")
	require.Equal(t, http.StatusOK, code, body)
	require.Eventually(t, func() bool { return len(p.requests()) == 1 }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, "POST /hook opened", p.requests()[0])

	// A route naming an unknown receiver fails the reload.
	writeFile(t, cfg, strings.Replace(fmt.Sprintf(notifyConfig, srv.URL), "receiver: itsm\n", "receiver: nobody\n", 1))
	require.ErrorContains(t, d.app.Reload(), `no receiver named "nobody"`)
	// A template that does not parse too.
	writeFile(t, filepath.Join(dir, "bad.tmpl"), `{{ define "x" }}`)
	writeFile(t, cfg, fmt.Sprintf(notifyConfig, srv.URL)+"  templates: [bad.tmpl]\n")
	err := d.app.Reload()
	require.ErrorContains(t, err, "notify.templates")
	require.Equal(t, 0.0, gaugeWith(t, d.reg, "sift_config_last_reload_successful", "", ""))
}

func TestNotifyOffWithoutRoute(t *testing.T) {
	d := start(t, "")
	require.Nil(t, d.app.notify)
}

func TestNotifyReceiversReadSecretFiles(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "sift.yml")
	writeFile(t, cfgPath, fmt.Sprintf(notifyConfig, "https://acme.service-now.com"))
	_, err := New(Options{ConfigFile: cfgPath, ListenAddress: "127.0.0.1:0", StoragePath: filepath.Join(dir, "data")})
	require.ErrorContains(t, err, "notify.receivers[0].webhook_configs[0].url_file")
	require.ErrorIs(t, err, os.ErrNotExist)
}

// sumWith adds up the counter's series with label=value.
func sumWith(t testing.TB, g prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}
