package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

const routesConfig = `
rules:
  files: [rules.yml]
cmdb:
  files: [cmdb.yml]
notify:
  route:
    receiver: chat
    routes:
      - matchers: ['priority=~"P1|P2"', 'event=~"opened|reopened|acknowledged|resolved"']
        receiver: pager
        continue: true
        repeat_interval: 30m
      - matchers: [support_group=dba]
        receiver: itsm
      - matchers: [ci_class=load_balancer]
        receiver: network
      - receiver: chat
  receivers: [{name: chat}, {name: pager}, {name: itsm}, {name: network}]
`

const routesRules = `
inhibit_rules:
  - name: site-down
    source_match: ['alertname="SiteDown"']
    target_match: ['severity!="critical"']
    equal: [site]
maintenance_windows:
  - name: checkout-migration
    match: ['service="checkout"']
    start: 2026-11-28T22:00:00Z
    end: 2026-11-29T02:00:00Z
`

const routesCMDB = `
cis:
  - {id: db1, name: db1, class: database, criticality: 1, support_group: dba}
  - {id: lb1, name: lb1, class: load_balancer, criticality: 2, support_group: net}
`

func TestRoutesTest(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "siftd.yml")
	require.NoError(t, os.WriteFile(cfg, []byte(routesConfig), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.yml"), []byte(routesRules), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cmdb.yml"), []byte(routesCMDB), 0o644))
	f := func(code int, want string, args ...string) {
		t.Helper()
		var out, errOut bytes.Buffer
		require.Equal(t, code, run(append([]string{"routes", "test", "--config", cfg}, args...), &out, &errOut), errOut.String())
		require.Equal(t, want, out.String())
	}
	f(0, "receivers: chat\n  chat via route.routes[3]\n", "priority=P3")
	f(0, "receivers: pager, chat\n  pager via route.routes[0], repeated every 30m while unacknowledged\n  chat via route.routes[3]\n", "priority=P1")
	// The CMDB binds the alert to db1: its support group is dba.
	f(0, "receivers: pager, itsm\n  pager via route.routes[0], repeated every 30m while unacknowledged\n  itsm via route.routes[1]\n", "priority=P2", "instance=db1")
	f(0, "receivers: itsm\n  itsm via route.routes[1]\n", "--event", "priority_changed", "priority=P2", "ci=db1")
	f(0, "receivers: network\n  network via route.routes[2]\n", "priority=P4", "instance=lb1")
	f(0, "suppressed: in maintenance window checkout-migration at 2026-11-28T23:00:00Z: no incident, no notification\n",
		"--at", "2026-11-28T23:00:00Z", "service=checkout", "priority=P1")
	f(0, "suppressed: inhibited by rule site-down (source --firing \"alertname=SiteDown,site=fra\"): no incident, no notification\n",
		"--firing", "alertname=SiteDown,site=fra", "site=fra", "severity=warning", "priority=P3")
	f(0, "receivers: chat\n  chat via route.routes[3]\n", "--firing", "alertname=SiteDown,site=ams", "site=fra", "severity=warning", "priority=P3")
	f(0, "receivers: pager, chat\n  pager via route.routes[0], repeated every 30m while unacknowledged\n  chat via route.routes[3]\n", "--verify-receivers", "chat,pager", "priority=P1")
	f(1, "receivers: chat\n  chat via route.routes[3]\nFAILED: want receivers pager\n", "--verify-receivers", "pager", "priority=P3")

	var out, errOut bytes.Buffer
	require.Equal(t, 1, run([]string{"routes", "test", "--config", cfg, "nolabel"}, &out, &errOut))
	require.Contains(t, errOut.String(), `label "nolabel": want name=value`)
	require.Equal(t, 2, run([]string{"routes", "test", "--config", cfg, "--event", "exploded"}, &out, &errOut))

	out.Reset()
	require.Equal(t, 0, run([]string{"routes", "show", "--config", cfg}, &out, &errOut), errOut.String())
	require.Equal(t, `route receiver=chat
  route.routes[0] receiver=pager matchers={priority=~"P1|P2",event=~"opened|reopened|acknowledged|resolved"} continue repeat_interval=30m0s
  route.routes[1] receiver=itsm matchers={support_group="dba"}
  route.routes[2] receiver=network matchers={ci_class="load_balancer"}
  route.routes[3] receiver=chat
`, out.String())
}

func TestCheckConfigParsesNotifyTemplates(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "siftd.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("notify:\n  templates: [t/*.tmpl]\n  route: {receiver: a}\n  receivers: [{name: a}]\n"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "t"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "t", "x.tmpl"), []byte(`{{ define "x" }}{{ .Incident.ID }}{{ end }}`), 0o644))
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"check", "config", cfg}, &out, &errOut), errOut.String())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "t", "x.tmpl"), []byte(`{{ define "x" }}{{ .Incident.ID }}`), 0o644))
	require.Equal(t, 1, run([]string{"check", "config", cfg}, &out, &errOut))
	require.Contains(t, errOut.String(), "notify.templates")
}
