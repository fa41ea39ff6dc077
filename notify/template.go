package notify

import (
	_ "embed"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/sift-itsm/sift/incident"
)

//go:embed default.tmpl
var defaultTemplates string

// Template renders notification texts with Alertmanager's template
// package and functions. Alertmanager's default templates are defined,
// sift's (default.tmpl) over them, and the operator's files over both.
// Safe for concurrent use: every execution works on a clone.
type Template struct {
	t           *template.Template
	externalURL string
}

// NewTemplate loads the default templates and then the files matching
// globs (notify.templates), and links to incidents under externalURL.
func NewTemplate(globs []string, externalURL string) (*Template, error) {
	t, err := template.FromGlobs(nil)
	if err != nil {
		return nil, fmt.Errorf("alertmanager default templates: %w", err)
	}
	if err := t.Parse(strings.NewReader(defaultTemplates)); err != nil {
		return nil, fmt.Errorf("sift default templates: %w", err)
	}
	for _, g := range globs {
		if err := t.FromGlob(g); err != nil {
			return nil, fmt.Errorf("notify.templates %q: %w", g, err)
		}
	}
	u, err := url.Parse(externalURL)
	if err != nil {
		return nil, fmt.Errorf("notify.external_url: %w", err)
	}
	t.ExternalURL = u
	return &Template{t: t, externalURL: strings.TrimRight(externalURL, "/")}, nil
}

// Text renders a text template.
func (t *Template) Text(text string, d *Data) (string, error) {
	return t.t.ExecuteTextString(text, d)
}

// HTML renders an HTML template (values escaped).
func (t *Template) HTML(text string, d *Data) (string, error) {
	return t.t.ExecuteHTMLString(text, d)
}

// Data is what notification templates see. It embeds Alertmanager's
// template data, so .Receiver, .Status ("firing" while the incident is
// open, "resolved" after), .Alerts, .CommonLabels, .CommonAnnotations,
// .GroupLabels ({incident: id}) and .ExternalURL work as in Alertmanager
// templates; the rest is the incident's.
type Data struct {
	*template.Data
	// Event is the event's name ("opened", ...).
	Event string
	// Incident is the incident as the API shows it, without timeline.
	Incident incident.JSON
	// State and Priority are the incident's, as strings for comparisons
	// ({{ if eq .State "resolved" }}).
	State    string
	Priority string
	// Change is the timeline entry the event comes from.
	Change Change
	// URL links to the incident in siftd's API; empty without
	// notify.external_url.
	URL string
	// Labels are the labels the routes matched on.
	Labels template.KV
	// Ticket is the integration's ticket for the incident, if it has one.
	Ticket string
}

// Change is the timeline entry behind an event.
type Change struct {
	At    time.Time
	Actor string
	Text  string
	From  string
	To    string
}

// data builds the template data of a message.
func (t *Template) data(m *Message) *Data {
	inc := m.Incident
	status := "firing"
	if !inc.State.Open() {
		status = "resolved"
	}
	ad := &template.Data{
		Receiver:          m.Receiver,
		Status:            status,
		Alerts:            m.Alerts,
		GroupLabels:       template.KV{"incident": inc.ID()},
		CommonLabels:      common(m.Alerts, func(a template.Alert) template.KV { return a.Labels }),
		CommonAnnotations: common(m.Alerts, func(a template.Alert) template.KV { return a.Annotations }),
		RouteLabels:       template.KV{},
		ExternalURL:       t.externalURL,
	}
	if ad.Alerts == nil {
		ad.Alerts = template.Alerts{}
	}
	d := &Data{
		Data:     ad,
		Event:    m.Event.String(),
		Incident: inc.ToJSON(false),
		State:    inc.State.String(),
		Priority: inc.Priority.String(),
		Change:   Change{At: m.Occurrence.At, Actor: m.Occurrence.Actor, Text: m.Occurrence.Text, From: m.Occurrence.From, To: m.Occurrence.To},
		Labels:   template.KV(m.Labels),
		Ticket:   m.Ticket,
	}
	if t.externalURL != "" {
		d.URL = t.externalURL + "/api/v1/incidents/" + inc.ID()
	}
	return d
}

// Renderer renders a message's texts and keeps the first error, so that
// an integration renders all its fields and checks once (as
// Alertmanager's notify.TmplText).
type Renderer struct {
	t    *Template
	Data *Data
	err  error
}

// Text renders a text template, "" after an error.
func (r *Renderer) Text(text string) string { return r.render(r.t.Text, text) }

// HTML renders an HTML template, "" after an error.
func (r *Renderer) HTML(text string) string { return r.render(r.t.HTML, text) }

func (r *Renderer) render(exec func(string, *Data) (string, error), text string) string {
	if r.err != nil {
		return ""
	}
	s, err := exec(text, r.Data)
	if err != nil {
		r.err = fmt.Errorf("template %q: %w", truncate(text, 80), err)
	}
	return s
}

// Fields renders a field mapping: every string in it is a template
// (maps and lists are walked), and a rendered string that is an integer
// or true/false becomes one, so that a template can fill a numeric field.
// Fields that render empty are left out.
func (r *Renderer) Fields(fields map[string]any) map[string]any {
	out := map[string]any{}
	if r.err != nil {
		return out
	}
	for k, v := range fields {
		x := r.value(v)
		if s, ok := x.(string); (ok && s == "") || x == nil {
			continue
		}
		out[k] = x
	}
	return out
}

func (r *Renderer) value(v any) any {
	switch x := v.(type) {
	case string:
		s := r.Text(x)
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && s == strconv.FormatInt(n, 10) {
			return n
		}
		switch s {
		case "true":
			return true
		case "false":
			return false
		}
		return s
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = r.value(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = r.value(e)
		}
		return l
	}
	return v
}

// Err is the first rendering error.
func (r *Renderer) Err() error { return r.err }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
