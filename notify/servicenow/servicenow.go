package servicenow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/sift-itsm/sift/notify"
)

// Mapping is the default field and state mapping; the configuration's
// goes over it. States are ServiceNow's incident states: 1 New, 2 In
// Progress, 3 On Hold, 6 Resolved, 7 Closed (On Hold needs a hold
// reason: unmapped by default).
var Mapping = notify.TicketMapping{
	Fields: map[string]any{
		"short_description":   `{{ template "sift.ticket.summary" . }}`,
		"description":         `{{ template "sift.ticket.description" . }}`,
		"urgency":             "{{ .Incident.Urgency }}",
		"impact":              "{{ .Incident.Impact }}",
		"correlation_id":      "{{ .Incident.ID }}",
		"correlation_display": "sift",
	},
	UpdateFields: map[string]any{
		"urgency":     "{{ .Incident.Urgency }}",
		"impact":      "{{ .Incident.Impact }}",
		"close_code":  `{{ if eq .State "resolved" }}Solution provided{{ end }}`,
		"close_notes": `{{ if eq .State "resolved" }}{{ .Change.Text }}{{ end }}`,
	},
	States:  map[string]string{"new": "1", "acknowledged": "2", "in_progress": "2", "resolved": "6", "closed": "7"},
	Comment: `{{ template "sift.ticket.comment" . }}`,
}

// ServiceNow is a notify.TicketPlatform on an instance's Table API.
type ServiceNow struct {
	// URL is the instance, https://<instance>.service-now.com.
	URL                string
	Username, Password string
	// Table is "incident" unless set.
	Table  string
	Client *http.Client
}

func (s *ServiceNow) table() string {
	t := s.Table
	if t == "" {
		t = "incident"
	}
	return strings.TrimRight(s.URL, "/") + "/api/now/table/" + url.PathEscape(t)
}

func (s *ServiceNow) header() http.Header { return notify.BasicAuth(s.Username, s.Password) }

// Create implements notify.TicketPlatform: it returns the new record's
// sys_id.
func (s *ServiceNow) Create(ctx context.Context, fields map[string]any) (string, error) {
	body, err := notify.Do(ctx, s.Client, notify.Request{Method: http.MethodPost, URL: s.table(), Header: s.header(), Body: fields})
	if err != nil {
		return "", err
	}
	var out struct {
		Result struct {
			SysID  string `json:"sys_id"`
			Number string `json:"number"`
		} `json:"result"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Result.SysID == "" {
		return "", notify.Permanent(errors.Join(errors.New("servicenow: the answer to the create has no result.sys_id"), err))
	}
	return out.Result.SysID, nil
}

// Update implements notify.TicketPlatform: one PATCH with the fields,
// the state and the comment as a work note.
func (s *ServiceNow) Update(ctx context.Context, ticket string, u notify.TicketUpdate) error {
	fields := map[string]any{}
	for k, v := range u.Fields {
		fields[k] = v
	}
	if u.State != "" {
		fields["state"] = u.State
	}
	if u.Comment != "" {
		fields["work_notes"] = u.Comment
	}
	_, err := notify.Do(ctx, s.Client, notify.Request{Method: http.MethodPatch, URL: s.table() + "/" + url.PathEscape(ticket), Header: s.header(), Body: fields})
	if err != nil {
		return fmt.Errorf("servicenow: updating %s: %w", ticket, err)
	}
	return nil
}
