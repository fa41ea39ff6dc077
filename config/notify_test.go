package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

const notifyGood = `
notify:
  external_url: https://sift.example.com
  templates: [templates/*.tmpl]
  route:
    receiver: noc
    repeat_interval: 4h
    routes:
      - matchers: ['priority=~"P1|P2"']
        receiver: pager
        continue: true
      - matchers: [support_group="dba", 'event!="repeat"']
        receiver: itsm
  receivers:
    - name: noc
      slack_configs:
        - api_url_file: secrets/slack
          channel: '#noc'
      email_configs:
        - to: noc@example.com
          from: sift@example.com
          smarthost: smtp.example.com:587
          auth_username: sift
          auth_password_file: secrets/smtp
    - name: pager
      timeout: 5s
      retry: {max_attempts: 3, initial_backoff: 2s, max_backoff: 30s}
      rate_limit: {per_second: 2, burst: 5}
      pagerduty_configs:
        - routing_key: abcdef0123456789
      webhook_configs:
        - url: https://hooks.example.com/sift
          hmac_secret_file: /run/secrets/hmac
    - name: itsm
      servicenow_configs:
        - url: https://acme.service-now.com
          username: sift
          password: hunter2
          fields:
            category: network
            urgency: '{{ .Incident.Urgency }}'
          states: {acknowledged: "2", resolved: "6"}
      jira_configs:
        - url: https://acme.atlassian.net
          username: sift@example.com
          api_token_file: jira-token
          project: OPS
          states: {resolved: Done}
      helix_configs:
        - url: https://helix.example.com:8443
          username: sift
          password_file: helix
      freshservice_configs:
        - url: https://acme.freshservice.com
          api_key: key
          email: sift@example.com
`

func TestNotifyGood(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sift.yml")
	require.NoError(t, os.WriteFile(path, []byte(notifyGood), 0o600))
	c, err := Load(path)
	require.NoError(t, err)
	n := c.Notify
	require.True(t, n.Enabled())
	require.Equal(t, []string{filepath.Join(dir, "templates/*.tmpl")}, n.Templates)
	require.Equal(t, Duration(4*time.Hour), *n.Route.RepeatInterval)
	require.Len(t, n.Route.Routes, 2)
	require.True(t, n.Route.Routes[0].Continue)
	require.Len(t, n.Receivers, 3)
	noc, pager, itsm := n.Receivers[0], n.Receivers[1], n.Receivers[2]
	require.Equal(t, filepath.Join(dir, "secrets/slack"), noc.SlackConfigs[0].APIURLFile)
	require.Equal(t, filepath.Join(dir, "secrets/smtp"), noc.EmailConfigs[0].AuthPasswordFile)
	require.True(t, *noc.EmailConfigs[0].RequireTLS, "require_tls defaults to true")
	require.Equal(t, Duration(10*time.Second), noc.Timeout)
	require.Equal(t, NotifyRetry{MaxAttempts: 5, InitialBackoff: Duration(time.Second), MaxBackoff: Duration(time.Minute)}, noc.Retry)
	require.Equal(t, NotifyRateLimit{Burst: 1}, noc.RateLimit)
	require.Equal(t, 1000, noc.QueueCapacity)
	require.Equal(t, Duration(5*time.Second), pager.Timeout)
	require.Equal(t, NotifyRetry{MaxAttempts: 3, InitialBackoff: Duration(2 * time.Second), MaxBackoff: Duration(30 * time.Second)}, pager.Retry)
	require.Equal(t, NotifyRateLimit{PerSecond: 2, Burst: 5}, pager.RateLimit)
	require.Equal(t, "https://events.pagerduty.com/v2/enqueue", pager.PagerDutyConfigs[0].URL)
	require.Equal(t, "/run/secrets/hmac", pager.WebhookConfigs[0].HMACSecretFile)
	sn := itsm.ServiceNowConfigs[0]
	require.Equal(t, "incident", sn.Table)
	require.Equal(t, map[string]any{"category": "network", "urgency": "{{ .Incident.Urgency }}"}, sn.Fields)
	require.Equal(t, map[string]string{"acknowledged": "2", "resolved": "6"}, sn.States)
	require.Equal(t, "Incident", itsm.JiraConfigs[0].IssueType)
	require.Equal(t, filepath.Join(dir, "jira-token"), itsm.JiraConfigs[0].APITokenFile)
	require.Equal(t, filepath.Join(dir, "helix"), itsm.HelixConfigs[0].PasswordFile)
}

func TestNotifyOffByDefault(t *testing.T) {
	c := Default()
	require.False(t, c.Notify.Enabled())
	require.NoError(t, c.Validate())
}

func TestNotifySecretsNeverPrint(t *testing.T) {
	c, err := Parse([]byte(notifyGood))
	require.NoError(t, err)
	out, err := yaml.Marshal(c.Notify)
	require.NoError(t, err)
	for _, s := range []string{"hunter2", "abcdef0123456789", "key"} {
		require.NotContains(t, string(out), ": "+s+"\n")
	}
	require.Contains(t, string(out), "<secret>")
	require.NotContains(t, fmt.Sprintf("%v %+v", c.Notify.Receivers[2].ServiceNowConfigs[0].Password, c.Notify.Receivers[2]), "hunter2")
}

func TestNotifyBad(t *testing.T) {
	f := func(yml string, want ...string) {
		t.Helper()
		_, err := Parse([]byte(yml))
		require.Error(t, err)
		for _, w := range want {
			require.Contains(t, err.Error(), w)
		}
	}
	f("notify:\n  receivers: [{name: a}]\n", "notify.route: must be set when receivers are")
	f("notify:\n  route: {}\n", "notify.route.receiver: the root route must name a receiver")
	f("notify:\n  route: {receiver: a, matchers: [a=b]}\n  receivers: [{name: a}]\n", "notify.route.matchers: the root route matches everything")
	f("notify:\n  route: {receiver: nope}\n", `notify.route.receiver: no receiver named "nope"`)
	f("notify:\n  route: {receiver: a, routes: [{receiver: b}]}\n  receivers: [{name: a}]\n", `notify.route.routes[0].receiver: no receiver named "b"`)
	f("notify:\n  route: {receiver: a, routes: [{matchers: ['priority=~(']}]}\n  receivers: [{name: a}]\n", "notify.route.routes[0].matchers[0]")
	f("notify:\n  route: {receiver: a, repeat_interval: 10s}\n  receivers: [{name: a}]\n", "notify.route.repeat_interval: must be 0 (never) or at least 1m")
	f("notify:\n  route: {receiver: a}\n  receivers: [{name: a}, {name: a}]\n", `notify.receivers[1].name: receiver "a" is defined twice`)
	f("notify:\n  route: {receiver: a}\n  receivers: [{name: a, webhook_configs: [{}]}]\n", "notify.receivers[0].webhook_configs[0].url: must be set (or url_file)")
	f("notify:\n  route: {receiver: a}\n  receivers: [{name: a, webhook_configs: [{url: x, url_file: y}]}]\n", "notify.receivers[0].webhook_configs[0].url: set url or url_file, not both")
	f("notify:\n  route: {receiver: a}\n  receivers: [{name: a, webhook_configs: [{url: 'ftp://x'}]}]\n", "notify.receivers[0].webhook_configs[0].url: must be an http(s) URL")
	f("notify:\n  route: {receiver: a}\n  receivers: [{name: a, email_configs: [{to: x}]}]\n", "email_configs[0].from: must be set", "email_configs[0].smarthost: must be host:port")
	f("notify:\n  route: {receiver: a}\n  receivers: [{name: a, servicenow_configs: [{url: 'https://x', username: u, password: p, states: {done: '6'}}]}]\n", `servicenow_configs[0].states: unknown incident state "done"`)
	f("notify:\n  route: {receiver: a}\n  receivers: [{name: a, jira_configs: [{url: 'https://x', api_token: t}]}]\n", "jira_configs[0].project: must be set")
	f("notify:\n  route: {receiver: a}\n  receivers: [{name: a, freshservice_configs: [{url: 'https://x', api_key: k}]}]\n", "freshservice_configs[0].email: must be set")
	f("notify:\n  route: {receiver: a}\n  receivers: [{name: a, retry: {max_attempts: 200, initial_backoff: 2s, max_backoff: 1s}}]\n",
		"notify.receivers[0].retry.max_attempts: must be from 1 to 100", "notify.receivers[0].retry.max_backoff: must be at least initial_backoff (2s)")
	f("notify:\n  route: {receiver: a}\n  receivers: [{name: a, slack_configs: [{api_url: 'https://x', colour: red}]}]\n", "colour")
	f("notify:\n  queue_capacity: -1\n", "notify.queue_capacity")
}

func TestReadSecret(t *testing.T) {
	read := func(p string) ([]byte, error) {
		if p == "/ok" {
			return []byte("s3cret\n"), nil
		}
		return nil, errors.New("open " + p + ": no such file")
	}
	v, err := ReadSecret("x.password", "inline", "", read)
	require.NoError(t, err)
	require.Equal(t, "inline", v)
	v, err = ReadSecret("x.password", "", "/ok", read)
	require.NoError(t, err)
	require.Equal(t, "s3cret", v)
	_, err = ReadSecret("x.password", "", "/missing", read)
	require.ErrorContains(t, err, "x.password_file: open /missing")
	require.False(t, strings.Contains(err.Error(), "s3cret"))
}
