package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sift-itsm/sift/config"
	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/ingest"
	"github.com/sift-itsm/sift/notify"
	"github.com/sift-itsm/sift/notify/email"
	"github.com/sift-itsm/sift/notify/freshservice"
	"github.com/sift-itsm/sift/notify/helix"
	"github.com/sift-itsm/sift/notify/jira"
	"github.com/sift-itsm/sift/notify/pagerduty"
	"github.com/sift-itsm/sift/notify/servicenow"
	"github.com/sift-itsm/sift/notify/slack"
	"github.com/sift-itsm/sift/notify/webhook"
)

// maxTemplateAlerts bounds the alerts a notification lists.
const maxTemplateAlerts = 100

// notifyParts is the running notifier; nil when notify is off. Its
// receivers are fixed at start; a reload swaps routes and templates.
type notifyParts struct {
	logger   *slog.Logger
	engine   *correlate.Engine
	cfg      config.NotifyConfig
	notifier *notify.Notifier

	cancel, cancelDrain context.CancelFunc
	done                chan struct{}
}

func newNotify(cfg *config.Config, o *Options, reg prometheus.Registerer, engine *correlate.Engine) (*notifyParts, error) {
	logger := o.Logger.With("component", "notify")
	if !cfg.Notify.Enabled() {
		logger.Info("notifications are off: no notify.route configured")
		return nil, nil
	}
	plan, err := NotifyPlan(&cfg.Notify)
	if err != nil {
		return nil, err
	}
	receivers, err := NotifyReceivers(&cfg.Notify, os.ReadFile, o.Now)
	if err != nil {
		return nil, err
	}
	p := &notifyParts{logger: logger, engine: engine, cfg: cfg.Notify}
	p.notifier, err = notify.New(notify.Options{
		Plan:          plan,
		Receivers:     receivers,
		Log:           engine,
		Alerts:        func(inc *incident.Incident) template.Alerts { return templateAlerts(engine.DB().Txn(false), inc) },
		CIAttr:        func(ci, name string) (string, bool) { return ciAttr(engine, ci, name) },
		Incident:      func(id string) *incident.Incident { inc, _ := incident.Get(engine.DB().Txn(false), id); return inc },
		QueueCapacity: cfg.Notify.QueueCapacity,
		FlapHold:      cfg.Notify.FlapHold.Std(),
		Logger:        logger,
		Registerer:    reg,
		Now:           o.Now,
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// resume hands the notifier the incidents of the recovered state, then
// subscribes it to the engine's batches from now on. It is called after
// recovery, before the engine runs: the notification log is then the one
// from before the stop (it is engine state, in snapshots and the
// write-ahead log), so what it records as sent is not sent again, and
// what an incident's timeline holds that it does not record (due when
// siftd stopped, in flight, or before a snapshot and never touched
// again) is sent once notify starts (docs/durability.md, "Sinks
// resume").
func (n *notifyParts) resume(engine *correlate.Engine) error {
	if n == nil {
		return nil
	}
	var incs []*incident.Incident
	it, err := engine.DB().Txn(false).Get(incident.Table, "id")
	if err != nil {
		return fmt.Errorf("notify: reading the incidents: %w", err)
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		incs = append(incs, raw.(*incident.Incident))
	}
	if k := n.notifier.Resume(incs); k > 0 {
		n.logger.Info("resuming notifications: incident events to check against the notification log", "incidents", len(incs), "events", k)
	}
	engine.Subscribe(n.notifier)
	return nil
}

func ciAttr(engine *correlate.Engine, ci, name string) (string, bool) {
	t := engine.Topology()
	if t == nil {
		return "", false
	}
	return t.Attr(ci, name)
}

// templateAlerts are an incident's alerts as templates see them, at most
// maxTemplateAlerts, from a read transaction.
func templateAlerts(txn *memdb.Txn, inc *incident.Incident) template.Alerts {
	var out template.Alerts
	for _, fp := range inc.Alerts {
		if len(out) == maxTemplateAlerts {
			break
		}
		a, ok := correlate.AlertIn(txn, fp)
		if !ok {
			continue
		}
		ta := template.Alert{
			Status: "firing", Labels: template.KV(a.Labels.Map()), Annotations: template.KV(a.Annotations.Map()),
			StartsAt: a.StartsAt(), GeneratorURL: a.GeneratorURL(), Fingerprint: fp.String(),
		}
		if a.Status == ingest.StatusResolved {
			ta.Status, ta.EndsAt = "resolved", a.ResolvedAt()
		}
		out = append(out, ta)
	}
	return out
}

// NotifyPlan compiles the routes and templates of a notify config
// (siftctl uses it too).
func NotifyPlan(c *config.NotifyConfig) (notify.Plan, error) {
	route, err := notify.NewRoute(c.Route)
	if err != nil {
		return notify.Plan{}, fmt.Errorf("notify.%w", err)
	}
	tmpl, err := notify.NewTemplate(c.Templates, c.ExternalURL)
	if err != nil {
		return notify.Plan{}, err
	}
	return notify.Plan{Route: route, Template: tmpl}, nil
}

// NotifyReceivers builds the receivers and their integrations, reading
// the secrets' files with read.
func NotifyReceivers(c *config.NotifyConfig, read func(string) ([]byte, error), now func() time.Time) ([]notify.Receiver, error) {
	var out []notify.Receiver
	for i := range c.Receivers {
		rc := &c.Receivers[i]
		r := notify.Receiver{
			Name: rc.Name, Timeout: rc.Timeout.Std(), MaxAttempts: rc.Retry.MaxAttempts,
			InitialBackoff: rc.Retry.InitialBackoff.Std(), MaxBackoff: rc.Retry.MaxBackoff.Std(),
			RatePerSecond: rc.RateLimit.PerSecond, Burst: rc.RateLimit.Burst, QueueCapacity: rc.QueueCapacity,
		}
		key := func(kind string, j int, field string) string {
			return fmt.Sprintf("notify.receivers[%d].%s[%d].%s", i, kind, j, field)
		}
		add := func(typ string, in notify.Integration) {
			r.Integrations = append(r.Integrations, notify.NamedIntegration{Type: typ, Integration: in})
		}
		client := func() *http.Client { return &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()} }
		for j, w := range rc.WebhookConfigs {
			u, err := config.ReadSecret(key("webhook_configs", j, "url"), w.URL, w.URLFile, read)
			if err != nil {
				return nil, err
			}
			s, err := config.ReadSecret(key("webhook_configs", j, "hmac_secret"), w.HMACSecret, w.HMACSecretFile, read)
			if err != nil {
				return nil, err
			}
			add("webhook", &webhook.Webhook{URL: u, Secret: s, Client: client()})
		}
		for j, s := range rc.SlackConfigs {
			u, err := config.ReadSecret(key("slack_configs", j, "api_url"), s.APIURL, s.APIURLFile, read)
			if err != nil {
				return nil, err
			}
			add("slack", &slack.Slack{URL: u, Channel: s.Channel, Username: s.Username, IconEmoji: s.IconEmoji, Title: s.Title, Text: s.Text, Client: client()})
		}
		for j, e := range rc.EmailConfigs {
			pw, err := config.ReadSecret(key("email_configs", j, "auth_password"), e.AuthPassword, e.AuthPasswordFile, read)
			if err != nil {
				return nil, err
			}
			tc, err := clientTLS(&e.TLS, read)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key("email_configs", j, "tls"), err)
			}
			add("email", &email.Email{To: e.To, From: e.From, Smarthost: e.Smarthost, Hello: e.Hello, Username: e.AuthUsername, Password: pw,
				Identity: e.AuthIdentity, RequireTLS: *e.RequireTLS, TLS: tc, Subject: e.Subject, Text: e.Text, HTML: e.HTML, Headers: e.Headers, Now: now})
		}
		for j, p := range rc.PagerDutyConfigs {
			k, err := config.ReadSecret(key("pagerduty_configs", j, "routing_key"), p.RoutingKey, p.RoutingKeyFile, read)
			if err != nil {
				return nil, err
			}
			add("pagerduty", &pagerduty.PagerDuty{URL: p.URL, RoutingKey: k, Client: p.Client, ClientURL: p.ClientURL, Summary: p.Summary,
				Source: p.Source, Severity: p.Severity, Component: p.Component, Group: p.Group, Class: p.Class, HTTP: client()})
		}
		for j, s := range rc.ServiceNowConfigs {
			pw, err := config.ReadSecret(key("servicenow_configs", j, "password"), s.Password, s.PasswordFile, read)
			if err != nil {
				return nil, err
			}
			add("servicenow", &notify.Ticketing{Platform: &servicenow.ServiceNow{URL: s.URL, Username: s.Username, Password: pw, Table: s.Table, Client: client()},
				Mapping: servicenow.Mapping.With(s.TicketConfig)})
		}
		for j, s := range rc.JiraConfigs {
			tok, err := config.ReadSecret(key("jira_configs", j, "api_token"), s.APIToken, s.APITokenFile, read)
			if err != nil {
				return nil, err
			}
			add("jira", &notify.Ticketing{Platform: &jira.Jira{URL: s.URL, Username: s.Username, Token: tok, Client: client()},
				Mapping: jira.Mapping(s.Project, s.IssueType).With(s.TicketConfig)})
		}
		for j, s := range rc.HelixConfigs {
			pw, err := config.ReadSecret(key("helix_configs", j, "password"), s.Password, s.PasswordFile, read)
			if err != nil {
				return nil, err
			}
			add("helix", &notify.Ticketing{Platform: &helix.Helix{URL: s.URL, Username: s.Username, Password: pw, Client: client()},
				Mapping: helix.Mapping.With(s.TicketConfig)})
		}
		for j, s := range rc.FreshserviceConfigs {
			k, err := config.ReadSecret(key("freshservice_configs", j, "api_key"), s.APIKey, s.APIKeyFile, read)
			if err != nil {
				return nil, err
			}
			add("freshservice", &notify.Ticketing{Platform: &freshservice.Freshservice{URL: s.URL, APIKey: k, Client: client()},
				Mapping: freshservice.Mapping(s.Email).With(s.TicketConfig)})
		}
		out = append(out, r)
	}
	return out, nil
}

// notifyPruneInterval is how often the notification log forgets the
// incidents that left memory.
const notifyPruneInterval = time.Hour

// start runs the notifier and the log pruning. The engine must be
// running.
func (p *notifyParts) start() {
	if p == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	drain, cancelDrain := context.WithCancel(context.Background())
	p.cancel, p.cancelDrain, p.done = cancel, cancelDrain, make(chan struct{})
	go func() {
		defer close(p.done)
		_ = p.notifier.Run(ctx, drain)
	}()
	go func() {
		t := time.NewTicker(notifyPruneInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if _, err := p.engine.PruneNotifications(ctx); err != nil && ctx.Err() == nil {
					p.logger.Warn("pruning the notification log", "err", err)
				}
			case <-ctx.Done():
				return
			}
		}
	}()
}

// stop routes and delivers what is queued until ctx is done. Call it
// after the engine applied its queue and before it closes, so that the
// outcomes are recorded (App.stopNotify); one that cannot be is counted
// in sift_notify_unrecorded_total, and its notification is sent again at
// the next start.
func (p *notifyParts) stop(ctx context.Context) {
	if p == nil {
		return
	}
	p.logger.Info("shutting down: delivering queued notifications")
	p.cancel()
	defer context.AfterFunc(ctx, p.cancelDrain)()
	<-p.done
	p.cancelDrain()
}

// reload swaps routes and templates (plan, built from cfg) when only
// they changed; the rest of notify changes at restart.
func (p *notifyParts) reload(logger *slog.Logger, cfg *config.Config, plan notify.Plan) {
	if (p != nil) != cfg.Notify.Enabled() {
		logger.Warn("notify turns on or off only at restart")
		return
	}
	if p == nil {
		return
	}
	if !reflect.DeepEqual(cfg.Notify.Receivers, p.cfg.Receivers) || cfg.Notify.QueueCapacity != p.cfg.QueueCapacity || cfg.Notify.FlapHold != p.cfg.FlapHold {
		logger.Warn("notify.receivers, queue_capacity and flap_hold change only at restart; the running routes and templates are kept")
		return
	}
	if err := p.notifier.SetPlan(plan); err != nil {
		logger.Warn("notify routes not reloaded", "err", err)
		return
	}
	p.cfg.Route, p.cfg.Templates, p.cfg.ExternalURL = cfg.Notify.Route, cfg.Notify.Templates, cfg.Notify.ExternalURL
	logger.Info("notify routes and templates reloaded")
}
