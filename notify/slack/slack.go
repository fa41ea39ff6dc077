package slack

import (
	"cmp"
	"context"
	"net/http"

	"github.com/sift-itsm/sift/notify"
)

// Message is the body Slack's incoming webhooks take.
type Message struct {
	Channel     string       `json:"channel,omitempty"`
	Username    string       `json:"username,omitempty"`
	IconEmoji   string       `json:"icon_emoji,omitempty"`
	Attachments []Attachment `json:"attachments"`
}

// Attachment is a Slack message attachment.
type Attachment struct {
	Fallback  string   `json:"fallback"`
	Color     string   `json:"color"`
	Title     string   `json:"title"`
	TitleLink string   `json:"title_link,omitempty"`
	Text      string   `json:"text"`
	Fields    []Field  `json:"fields"`
	MrkdwnIn  []string `json:"mrkdwn_in"`
}

// Field is a short field of an attachment.
type Field struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

// Default templates.
const (
	DefaultTitle = `{{ template "slack.sift.title" . }}`
	DefaultText  = `{{ template "slack.sift.text" . }}`
)

// Slack posts notifications to an incoming webhook.
type Slack struct {
	// URL is the incoming webhook: a secret.
	URL       string
	Channel   string
	Username  string
	IconEmoji string
	// Title and Text are templates; the defaults when empty.
	Title, Text string
	Client      *http.Client
}

// Notify implements notify.Integration.
func (s *Slack) Notify(ctx context.Context, m *notify.Message) (string, error) {
	r := m.Render()
	title := r.Text(cmp.Or(s.Title, DefaultTitle))
	a := Attachment{
		Fallback:  title,
		Color:     r.Text(`{{ template "sift.color" . }}`),
		Title:     title,
		TitleLink: r.Data.URL,
		Text:      r.Text(cmp.Or(s.Text, DefaultText)),
		MrkdwnIn:  []string{"text"},
	}
	field := func(title, value string) {
		if value != "" {
			a.Fields = append(a.Fields, Field{Title: title, Value: value, Short: true})
		}
	}
	field("Priority", r.Data.Priority)
	field("State", r.Data.State)
	field("Support group", r.Data.Incident.SupportGroup)
	field("Probable cause", r.Data.Incident.ProbableCause)
	if err := r.Err(); err != nil {
		return "", notify.Permanent(err)
	}
	msg := Message{Channel: s.Channel, Username: s.Username, IconEmoji: s.IconEmoji, Attachments: []Attachment{a}}
	_, err := notify.Do(ctx, s.Client, notify.Request{Method: http.MethodPost, URL: s.URL, SecretURL: true, Body: msg})
	return "", err
}
