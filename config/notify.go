package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
)

// NotifyEvents are the incident events notify routes ("event" label). The
// SLA and problem events come with problems and SLAs.
var NotifyEvents = []string{"opened", "priority_changed", "acknowledged", "resolved", "reopened", "closed", "repeat", "sla_breached", "problem_opened"}

// NotifyConfig is notify: incident events routed to receivers (people
// and ITSM platforms; docs/notifications.md). Off while Route is nil.
// Routes and templates reload; receivers change at restart.
type NotifyConfig struct {
	// Templates are files (globs) of template definitions, read after the
	// defaults so they can redefine them. Relative to the config file.
	Templates []string `yaml:"templates"`
	// ExternalURL is how people reach siftd: links to incidents.
	ExternalURL string `yaml:"external_url"`
	// QueueCapacity bounds the incident changes waiting to be routed;
	// more are dropped and counted rather than slow the engine.
	QueueCapacity int `yaml:"queue_capacity"`
	// FlapHold: resolved and reopened events of an incident whose alerts
	// flap wait this long; only the net change is sent.
	FlapHold  Duration         `yaml:"flap_hold"`
	Route     *NotifyRoute     `yaml:"route"`
	Receivers []NotifyReceiver `yaml:"receivers"`
}

// Enabled says whether notifications are configured.
func (n *NotifyConfig) Enabled() bool { return n.Route != nil }

// NotifyRoute is a node of the routing tree, as in Alertmanager: an event
// goes down the first child whose matchers match (all children with
// continue), and to the deepest matching node's receiver.
type NotifyRoute struct {
	Receiver string `yaml:"receiver"`
	// Matchers in Alertmanager syntax over the incident's labels (event,
	// priority, state, support_group, rule, ci, ci_class, … and the
	// labels its alerts share).
	Matchers []string `yaml:"matchers"`
	Continue bool     `yaml:"continue"`
	// RepeatInterval repeats the notification of an incident that stays
	// new (unacknowledged) this often; inherited; 0 is never.
	RepeatInterval *Duration      `yaml:"repeat_interval"`
	Routes         []*NotifyRoute `yaml:"routes"`
}

// NotifyReceiver is a named set of integrations, each with its own
// delivery queue.
type NotifyReceiver struct {
	Name string `yaml:"name"`
	// Timeout bounds one attempt (10s).
	Timeout Duration `yaml:"timeout"`
	// Retry: up to MaxAttempts attempts, backing off exponentially from
	// InitialBackoff to MaxBackoff with jitter.
	Retry NotifyRetry `yaml:"retry"`
	// RateLimit bounds the requests per second to each integration; 0 is
	// none.
	RateLimit NotifyRateLimit `yaml:"rate_limit"`
	// QueueCapacity bounds the notifications waiting for each
	// integration (1000).
	QueueCapacity int `yaml:"queue_capacity"`

	WebhookConfigs      []WebhookConfig      `yaml:"webhook_configs"`
	SlackConfigs        []SlackConfig        `yaml:"slack_configs"`
	EmailConfigs        []EmailConfig        `yaml:"email_configs"`
	PagerDutyConfigs    []PagerDutyConfig    `yaml:"pagerduty_configs"`
	ServiceNowConfigs   []ServiceNowConfig   `yaml:"servicenow_configs"`
	JiraConfigs         []JiraConfig         `yaml:"jira_configs"`
	HelixConfigs        []HelixConfig        `yaml:"helix_configs"`
	FreshserviceConfigs []FreshserviceConfig `yaml:"freshservice_configs"`
}

// NotifyRetry configures retries of one notification.
type NotifyRetry struct {
	MaxAttempts    int      `yaml:"max_attempts"`
	InitialBackoff Duration `yaml:"initial_backoff"`
	MaxBackoff     Duration `yaml:"max_backoff"`
}

// NotifyRateLimit is a token bucket: PerSecond tokens a second, Burst at
// most.
type NotifyRateLimit struct {
	PerSecond float64 `yaml:"per_second"`
	Burst     int     `yaml:"burst"`
}

// WebhookConfig posts the notification as JSON.
type WebhookConfig struct {
	URL     Secret `yaml:"url"`
	URLFile string `yaml:"url_file"`
	// HMACSecret, when set, signs the body: header
	// X-Sift-Signature-256: sha256=<hex HMAC-SHA256 of the body>.
	HMACSecret     Secret `yaml:"hmac_secret"`
	HMACSecretFile string `yaml:"hmac_secret_file"`
}

// SlackConfig posts to a Slack incoming webhook.
type SlackConfig struct {
	APIURL     Secret `yaml:"api_url"`
	APIURLFile string `yaml:"api_url_file"`
	Channel    string `yaml:"channel"`
	Username   string `yaml:"username"`
	IconEmoji  string `yaml:"icon_emoji"`
	// Title and Text are templates; the defaults when empty.
	Title string `yaml:"title"`
	Text  string `yaml:"text"`
}

// EmailConfig sends mail over SMTP.
type EmailConfig struct {
	To   string `yaml:"to"`
	From string `yaml:"from"`
	// Smarthost is host:port of the SMTP server.
	Smarthost        string `yaml:"smarthost"`
	Hello            string `yaml:"hello"`
	AuthUsername     string `yaml:"auth_username"`
	AuthPassword     Secret `yaml:"auth_password"`
	AuthPasswordFile string `yaml:"auth_password_file"`
	AuthIdentity     string `yaml:"auth_identity"`
	// RequireTLS refuses a server without STARTTLS (default true);
	// port 465 speaks TLS from the start.
	RequireTLS *bool     `yaml:"require_tls"`
	TLS        TLSConfig `yaml:"tls"`
	// Subject, Text and HTML are templates; the defaults when empty.
	Subject string            `yaml:"subject"`
	Text    string            `yaml:"text"`
	HTML    string            `yaml:"html"`
	Headers map[string]string `yaml:"headers"`
}

// PagerDutyConfig sends PagerDuty Events API v2 events mirroring the
// incident (dedup_key is the incident id).
type PagerDutyConfig struct {
	RoutingKey     Secret `yaml:"routing_key"`
	RoutingKeyFile string `yaml:"routing_key_file"`
	// URL is the events endpoint (https://events.pagerduty.com/v2/enqueue).
	URL       string `yaml:"url"`
	Client    string `yaml:"client"`
	ClientURL string `yaml:"client_url"`
	// Templates; defaults when empty. Severity must render to critical,
	// error, warning or info (default: from the priority).
	Summary   string `yaml:"summary"`
	Source    string `yaml:"source"`
	Severity  string `yaml:"severity"`
	Component string `yaml:"component"`
	Group     string `yaml:"group"`
	Class     string `yaml:"class"`
}

// TicketConfig is what every ticketing integration shares: the field
// mapping and the state mapping. Field values are YAML values whose
// strings are templates; a rendered string that reads as a number,
// boolean or structure becomes one (as Alertmanager's Jira fields).
type TicketConfig struct {
	// Fields are set when the ticket is created, over the defaults.
	Fields map[string]any `yaml:"fields"`
	// UpdateFields are set on every later event, over the defaults.
	UpdateFields map[string]any `yaml:"update_fields"`
	// States maps sift incident states to the platform's (a state value,
	// or for Jira a transition name), over the defaults; an empty value
	// leaves the ticket's state alone.
	States map[string]string `yaml:"states"`
}

// ServiceNowConfig files incidents through the Table API.
type ServiceNowConfig struct {
	// URL is the instance, https://<instance>.service-now.com.
	URL          string `yaml:"url"`
	Username     string `yaml:"username"`
	Password     Secret `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// Table is "incident" unless the instance uses another.
	Table        string `yaml:"table"`
	TicketConfig `yaml:",inline"`
}

// JiraConfig files issues in Jira Service Management (REST API v2).
type JiraConfig struct {
	// URL is the site, https://<site>.atlassian.net.
	URL string `yaml:"url"`
	// Username and APIToken authenticate (basic); APIToken alone is a
	// bearer personal access token (Data Center).
	Username     string `yaml:"username"`
	APIToken     Secret `yaml:"api_token"`
	APITokenFile string `yaml:"api_token_file"`
	Project      string `yaml:"project"`
	IssueType    string `yaml:"issue_type"`
	TicketConfig `yaml:",inline"`
}

// HelixConfig files incidents in BMC Helix ITSM (REST, AR-JWT).
type HelixConfig struct {
	// URL is the AR server's REST endpoint, https://<host>:8443.
	URL          string `yaml:"url"`
	Username     string `yaml:"username"`
	Password     Secret `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	TicketConfig `yaml:",inline"`
}

// FreshserviceConfig files tickets through /api/v2/tickets.
type FreshserviceConfig struct {
	// URL is the helpdesk, https://<domain>.freshservice.com.
	URL        string `yaml:"url"`
	APIKey     Secret `yaml:"api_key"`
	APIKeyFile string `yaml:"api_key_file"`
	// Email is the requester of the tickets.
	Email        string `yaml:"email"`
	TicketConfig `yaml:",inline"`
}

func defaultNotify() NotifyConfig {
	return NotifyConfig{QueueCapacity: 10000, FlapHold: Duration(10 * time.Minute)}
}

// Receiver defaults, for what a list item cannot take from Default.
const (
	defaultNotifyTimeout       = 10 * time.Second
	defaultNotifyAttempts      = 5
	defaultNotifyBackoff       = time.Second
	defaultNotifyMaxBackoff    = time.Minute
	defaultNotifyQueueCapacity = 1000
)

// notifyDefaults fills in the receivers' zero values.
func (c *Config) notifyDefaults() {
	for i := range c.Notify.Receivers {
		r := &c.Notify.Receivers[i]
		if r.Timeout == 0 {
			r.Timeout = Duration(defaultNotifyTimeout)
		}
		if r.Retry.MaxAttempts == 0 {
			r.Retry.MaxAttempts = defaultNotifyAttempts
		}
		if r.Retry.InitialBackoff == 0 {
			r.Retry.InitialBackoff = Duration(defaultNotifyBackoff)
		}
		if r.Retry.MaxBackoff == 0 {
			r.Retry.MaxBackoff = Duration(defaultNotifyMaxBackoff)
		}
		if r.RateLimit.Burst == 0 {
			r.RateLimit.Burst = 1
		}
		if r.QueueCapacity == 0 {
			r.QueueCapacity = defaultNotifyQueueCapacity
		}
		for j := range r.EmailConfigs {
			if r.EmailConfigs[j].RequireTLS == nil {
				t := true
				r.EmailConfigs[j].RequireTLS = &t
			}
		}
		for j := range r.ServiceNowConfigs {
			if r.ServiceNowConfigs[j].Table == "" {
				r.ServiceNowConfigs[j].Table = "incident"
			}
		}
		for j := range r.JiraConfigs {
			if r.JiraConfigs[j].IssueType == "" {
				r.JiraConfigs[j].IssueType = "Incident"
			}
		}
		for j := range r.PagerDutyConfigs {
			if r.PagerDutyConfigs[j].URL == "" {
				r.PagerDutyConfigs[j].URL = "https://events.pagerduty.com/v2/enqueue"
			}
		}
	}
}

// IncidentStates are the incident states a TicketConfig.States may map.
var IncidentStates = []string{"new", "acknowledged", "in_progress", "on_hold", "resolved", "closed"}

func (n *NotifyConfig) validate(check checkFunc) {
	const p = "notify."
	check(n.QueueCapacity >= 1 && n.QueueCapacity <= 1<<20, p+"queue_capacity", "must be from 1 to %d, got %d", 1<<20, n.QueueCapacity)
	check(n.FlapHold >= 0, p+"flap_hold", "must not be negative, got %s", n.FlapHold)
	for i, t := range n.Templates {
		check(t != "", fmt.Sprintf("%stemplates[%d]", p, i), "must not be empty")
	}
	if n.ExternalURL != "" {
		u, err := url.Parse(n.ExternalURL)
		check(err == nil && u.Scheme != "" && u.Host != "", p+"external_url", "must be an absolute URL, got %q", n.ExternalURL)
	}
	names := map[string]bool{}
	for i := range n.Receivers {
		r := &n.Receivers[i]
		key := fmt.Sprintf("%sreceivers[%d]", p, i)
		check(r.Name != "", key+".name", "must be set")
		check(!names[r.Name], key+".name", "receiver %q is defined twice", r.Name)
		names[r.Name] = true
		r.validate(key, check)
	}
	if n.Route == nil {
		check(len(n.Receivers) == 0, p+"route", "must be set when receivers are")
		return
	}
	check(n.Route.Receiver != "", p+"route.receiver", "the root route must name a receiver")
	check(len(n.Route.Matchers) == 0, p+"route.matchers", "the root route matches everything: it takes no matchers")
	check(!n.Route.Continue, p+"route.continue", "the root route cannot continue")
	n.Route.validate(p+"route", names, check)
}

func (r *NotifyRoute) validate(key string, receivers map[string]bool, check checkFunc) {
	check(r.Receiver == "" || receivers[r.Receiver], key+".receiver", "no receiver named %q", r.Receiver)
	for i, m := range r.Matchers {
		_, err := labels.ParseMatchers(m)
		check(err == nil, fmt.Sprintf("%s.matchers[%d]", key, i), "%v", err)
	}
	if r.RepeatInterval != nil {
		check(*r.RepeatInterval == 0 || *r.RepeatInterval >= Duration(time.Minute), key+".repeat_interval", "must be 0 (never) or at least 1m, got %s", *r.RepeatInterval)
	}
	for i, c := range r.Routes {
		if c == nil {
			check(false, fmt.Sprintf("%s.routes[%d]", key, i), "must not be empty")
			continue
		}
		c.validate(fmt.Sprintf("%s.routes[%d]", key, i), receivers, check)
	}
}

func (r *NotifyReceiver) validate(key string, check checkFunc) {
	check(r.Timeout > 0 && r.Timeout <= Duration(5*time.Minute), key+".timeout", "must be over 0 and at most 5m, got %s", r.Timeout)
	check(r.Retry.MaxAttempts >= 1 && r.Retry.MaxAttempts <= 100, key+".retry.max_attempts", "must be from 1 to 100, got %d", r.Retry.MaxAttempts)
	check(r.Retry.InitialBackoff > 0, key+".retry.initial_backoff", "must be over 0, got %s", r.Retry.InitialBackoff)
	check(r.Retry.MaxBackoff >= r.Retry.InitialBackoff, key+".retry.max_backoff", "must be at least initial_backoff (%s), got %s", r.Retry.InitialBackoff, r.Retry.MaxBackoff)
	check(r.RateLimit.PerSecond >= 0, key+".rate_limit.per_second", "must not be negative, got %g", r.RateLimit.PerSecond)
	check(r.RateLimit.Burst >= 1, key+".rate_limit.burst", "must be at least 1, got %d", r.RateLimit.Burst)
	check(r.QueueCapacity >= 1 && r.QueueCapacity <= 1<<20, key+".queue_capacity", "must be from 1 to %d, got %d", 1<<20, r.QueueCapacity)
	secret := func(k string, v Secret, file string, required bool) {
		check(v == "" || file == "", k, "set %s or %s_file, not both", lastKey(k), lastKey(k))
		check(!required || v != "" || file != "", k, "must be set (or %s_file)", lastKey(k))
	}
	httpURL := func(k, v string, required bool) {
		if v == "" {
			check(!required, k, "must be set")
			return
		}
		u, err := url.Parse(v)
		check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "", k, "must be an http(s) URL, got %q", v)
	}
	for i, c := range r.WebhookConfigs {
		k := fmt.Sprintf("%s.webhook_configs[%d]", key, i)
		secret(k+".url", c.URL, c.URLFile, true)
		if c.URL != "" {
			httpURL(k+".url", string(c.URL), true)
		}
		secret(k+".hmac_secret", c.HMACSecret, c.HMACSecretFile, false)
	}
	for i, c := range r.SlackConfigs {
		k := fmt.Sprintf("%s.slack_configs[%d]", key, i)
		secret(k+".api_url", c.APIURL, c.APIURLFile, true)
		if c.APIURL != "" {
			httpURL(k+".api_url", string(c.APIURL), true)
		}
	}
	for i, c := range r.EmailConfigs {
		k := fmt.Sprintf("%s.email_configs[%d]", key, i)
		check(c.To != "", k+".to", "must be set")
		check(c.From != "", k+".from", "must be set")
		_, port, err := net.SplitHostPort(c.Smarthost)
		check(err == nil && port != "", k+".smarthost", "must be host:port, got %q", c.Smarthost)
		secret(k+".auth_password", c.AuthPassword, c.AuthPasswordFile, false)
		check(c.AuthUsername != "" || (c.AuthPassword == "" && c.AuthPasswordFile == ""), k+".auth_username", "must be set with a password")
		c.TLS.validate(k+".tls", check)
	}
	for i, c := range r.PagerDutyConfigs {
		k := fmt.Sprintf("%s.pagerduty_configs[%d]", key, i)
		secret(k+".routing_key", c.RoutingKey, c.RoutingKeyFile, true)
		httpURL(k+".url", c.URL, true)
	}
	ticket := func(k string, t *TicketConfig) {
		for s := range t.States {
			check(slices.Contains(IncidentStates, s), k+".states", "unknown incident state %q (known: %v)", s, IncidentStates)
		}
	}
	for i, c := range r.ServiceNowConfigs {
		k := fmt.Sprintf("%s.servicenow_configs[%d]", key, i)
		httpURL(k+".url", c.URL, true)
		check(c.Username != "", k+".username", "must be set")
		secret(k+".password", c.Password, c.PasswordFile, true)
		ticket(k, &c.TicketConfig)
	}
	for i, c := range r.JiraConfigs {
		k := fmt.Sprintf("%s.jira_configs[%d]", key, i)
		httpURL(k+".url", c.URL, true)
		secret(k+".api_token", c.APIToken, c.APITokenFile, true)
		check(c.Project != "", k+".project", "must be set")
		ticket(k, &c.TicketConfig)
	}
	for i, c := range r.HelixConfigs {
		k := fmt.Sprintf("%s.helix_configs[%d]", key, i)
		httpURL(k+".url", c.URL, true)
		check(c.Username != "", k+".username", "must be set")
		secret(k+".password", c.Password, c.PasswordFile, true)
		ticket(k, &c.TicketConfig)
	}
	for i, c := range r.FreshserviceConfigs {
		k := fmt.Sprintf("%s.freshservice_configs[%d]", key, i)
		httpURL(k+".url", c.URL, true)
		secret(k+".api_key", c.APIKey, c.APIKeyFile, true)
		check(c.Email != "", k+".email", "must be set (the tickets' requester)")
		ticket(k, &c.TicketConfig)
	}
}

func lastKey(k string) string { return k[strings.LastIndexByte(k, '.')+1:] }

// resolveNotifyPaths makes the notify file paths relative to dir absolute.
func (c *Config) resolveNotifyPaths(dir string) {
	n := &c.Notify
	for i := range n.Templates {
		resolvePaths(dir, &n.Templates[i])
	}
	for i := range n.Receivers {
		r := &n.Receivers[i]
		for j := range r.WebhookConfigs {
			resolvePaths(dir, &r.WebhookConfigs[j].URLFile, &r.WebhookConfigs[j].HMACSecretFile)
		}
		for j := range r.SlackConfigs {
			resolvePaths(dir, &r.SlackConfigs[j].APIURLFile)
		}
		for j := range r.EmailConfigs {
			e := &r.EmailConfigs[j]
			resolvePaths(dir, &e.AuthPasswordFile)
			e.TLS.resolvePaths(dir)
		}
		for j := range r.PagerDutyConfigs {
			resolvePaths(dir, &r.PagerDutyConfigs[j].RoutingKeyFile)
		}
		for j := range r.ServiceNowConfigs {
			resolvePaths(dir, &r.ServiceNowConfigs[j].PasswordFile)
		}
		for j := range r.JiraConfigs {
			resolvePaths(dir, &r.JiraConfigs[j].APITokenFile)
		}
		for j := range r.HelixConfigs {
			resolvePaths(dir, &r.HelixConfigs[j].PasswordFile)
		}
		for j := range r.FreshserviceConfigs {
			resolvePaths(dir, &r.FreshserviceConfigs[j].APIKeyFile)
		}
	}
}

// ReadSecret returns a secret given inline or, when file is set, read
// from the file (a trailing newline dropped). key names it in errors;
// the secret itself never appears in one.
func ReadSecret(key string, v Secret, file string, read func(string) ([]byte, error)) (string, error) {
	if file == "" {
		return string(v), nil
	}
	b, err := read(file)
	if err != nil {
		return "", fmt.Errorf("%s_file: %w", key, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
