package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/notify"
)

// Version of the payload format.
const Version = "1"

// Headers set on every request.
const (
	HeaderSignature = "X-Sift-Signature-256"
	HeaderEvent     = "X-Sift-Event"
	// HeaderID identifies the notification (incident/event/occurrence):
	// the same id is the same notification, for receivers that dedupe.
	HeaderID = "X-Sift-Notification-Id"
)

// Payload is the body of a webhook request.
type Payload struct {
	Version string `json:"version"`
	// Receiver is the integration ("noc/webhook").
	Receiver   string `json:"receiver"`
	Event      string `json:"event"`
	Occurrence uint64 `json:"occurrence"`
	// Incident is the incident as the API shows it, without timeline.
	Incident incident.JSON `json:"incident"`
	// Change is the timeline entry of the event.
	Change Change `json:"change"`
	// Alerts are the incident's alerts (Alertmanager's template form).
	Alerts template.Alerts `json:"alerts"`
	// Labels are the labels the routes matched on.
	Labels map[string]string `json:"labels"`
	// URL links to the incident when notify.external_url is set.
	URL string `json:"url,omitempty"`
}

// Change is the timeline entry behind the event.
type Change struct {
	At    time.Time `json:"at"`
	Actor string    `json:"actor"`
	Text  string    `json:"text,omitempty"`
	From  string    `json:"from,omitempty"`
	To    string    `json:"to,omitempty"`
}

// Webhook posts notifications to a URL.
type Webhook struct {
	URL string
	// Secret signs the body when set.
	Secret string
	Client *http.Client
}

// Notify implements notify.Integration.
func (w *Webhook) Notify(ctx context.Context, m *notify.Message) (string, error) {
	d := m.Render().Data
	p := Payload{
		Version: Version, Receiver: m.Receiver, Event: m.Event.String(), Occurrence: m.Occurrence.Occurrence,
		Incident: d.Incident, Alerts: d.Alerts, Labels: m.Labels, URL: d.URL,
		Change: Change{At: m.Occurrence.At.UTC(), Actor: m.Occurrence.Actor, Text: m.Occurrence.Text, From: m.Occurrence.From, To: m.Occurrence.To},
	}
	body, err := notify.EncodeJSON(p)
	if err != nil {
		return "", notify.Permanent(fmt.Errorf("encoding payload: %w", err))
	}
	h := http.Header{}
	h.Set(HeaderEvent, p.Event)
	h.Set(HeaderID, fmt.Sprintf("%s/%s/%d", p.Incident.ID, p.Event, p.Occurrence))
	if w.Secret != "" {
		h.Set(HeaderSignature, Sign(w.Secret, body))
	}
	_, err = notify.Do(ctx, w.Client, notify.Request{Method: http.MethodPost, URL: w.URL, SecretURL: true, Header: h, Body: body, ContentType: "application/json"})
	return "", err
}

// Sign returns the signature header value of body: "sha256=" and the
// hex HMAC-SHA256 of body keyed with secret.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
