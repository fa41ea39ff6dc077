package pagerduty

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/sift-itsm/sift/notify"
)

// Event is an Events API v2 event.
type Event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"`
	DedupKey    string   `json:"dedup_key"`
	Payload     *Payload `json:"payload,omitempty"`
	Client      string   `json:"client,omitempty"`
	ClientURL   string   `json:"client_url,omitempty"`
	Links       []Link   `json:"links,omitempty"`
}

// Payload describes a triggered alert.
type Payload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// Link is a link shown with the alert.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// Default templates.
const (
	DefaultSummary  = `{{ template "pagerduty.sift.summary" . }}`
	DefaultSource   = `{{ template "pagerduty.sift.source" . }}`
	DefaultSeverity = `{{ template "pagerduty.sift.severity" . }}`
	DefaultClient   = "sift"
)

var severities = []string{"critical", "error", "warning", "info"}

// PagerDuty sends events to the Events API v2.
type PagerDuty struct {
	// URL is the enqueue endpoint.
	URL        string
	RoutingKey string
	Client     string
	ClientURL  string
	// Templates; the defaults when empty.
	Summary, Source, Severity, Component, Group, Class string
	HTTP                                               *http.Client
}

// Action is the event action for a sift event, "" for none.
func Action(ev notify.Event) string {
	switch ev {
	case notify.EventAcknowledged:
		return "acknowledge"
	case notify.EventResolved:
		return "resolve"
	case notify.EventClosed:
		return ""
	}
	return "trigger"
}

// Notify implements notify.Integration.
func (p *PagerDuty) Notify(ctx context.Context, m *notify.Message) (string, error) {
	action := Action(m.Event)
	if action == "" {
		return "", nil
	}
	e := Event{RoutingKey: p.RoutingKey, EventAction: action, DedupKey: m.Incident.ID()}
	if action == "trigger" {
		r := m.Render()
		d := r.Data
		pl := &Payload{
			Summary:   truncate(r.Text(cmp.Or(p.Summary, DefaultSummary)), 1024),
			Source:    r.Text(cmp.Or(p.Source, DefaultSource)),
			Severity:  r.Text(cmp.Or(p.Severity, DefaultSeverity)),
			Timestamp: m.Occurrence.At.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
			Component: r.Text(p.Component),
			Group:     r.Text(cmp.Or(p.Group, "{{ .Incident.SupportGroup }}")),
			Class:     r.Text(p.Class),
			CustomDetails: map[string]any{
				"incident": d.Incident.ID, "event": d.Event, "priority": d.Priority, "state": d.State,
				"cis": d.Incident.CIs, "probable_cause": d.Incident.ProbableCause, "support_group": d.Incident.SupportGroup,
				"firing_alerts": len(d.Alerts.Firing()), "change": d.Change.Text,
			},
		}
		if err := r.Err(); err != nil {
			return "", notify.Permanent(err)
		}
		if !slices.Contains(severities, pl.Severity) {
			return "", notify.Permanent(fmt.Errorf("severity %q: want one of %v", pl.Severity, severities))
		}
		e.Payload = pl
		e.Client = cmp.Or(p.Client, DefaultClient)
		e.ClientURL = cmp.Or(p.ClientURL, d.URL)
		if d.URL != "" {
			e.Links = []Link{{Href: d.URL, Text: d.Incident.ID}}
		}
	}
	_, err := notify.Do(ctx, p.HTTP, notify.Request{Method: http.MethodPost, URL: p.URL, Body: e})
	return "", err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
