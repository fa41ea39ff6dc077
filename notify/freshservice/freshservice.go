package freshservice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/sift-itsm/sift/notify"
)

// Freshservice's scales: priority 1 low … 4 urgent; urgency and impact
// 1 low … 3 high (sift's 1 is high); status 2 open, 3 pending, 4
// resolved, 5 closed.
const (
	priority = `{{ if eq .Priority "P1" }}4{{ else if eq .Priority "P2" }}3{{ else if eq .Priority "P3" }}2{{ else }}1{{ end }}`
	urgency  = `{{ if eq .Incident.Urgency 1 }}3{{ else if eq .Incident.Urgency 2 }}2{{ else }}1{{ end }}`
	impact   = `{{ if eq .Incident.Impact 1 }}3{{ else if eq .Incident.Impact 2 }}2{{ else }}1{{ end }}`
)

// Mapping is the default mapping for tickets requested by email; the
// configuration's goes over it.
func Mapping(email string) notify.TicketMapping {
	return notify.TicketMapping{
		Fields: map[string]any{
			"subject":     `{{ template "sift.ticket.summary" . }}`,
			"description": `{{ template "sift.ticket.description.html" . }}`,
			"email":       email,
			"priority":    priority,
			"urgency":     urgency,
			"impact":      impact,
			"status":      "2",
			"source":      "2",
			"tags":        []any{"sift"},
		},
		UpdateFields: map[string]any{"priority": priority, "urgency": urgency, "impact": impact},
		States:       map[string]string{"new": "2", "acknowledged": "2", "in_progress": "2", "on_hold": "3", "resolved": "4", "closed": "5"},
		Comment:      `{{ template "sift.ticket.comment" . }}`,
	}
}

// Freshservice is a notify.TicketPlatform on a helpdesk.
type Freshservice struct {
	// URL is the helpdesk, https://<domain>.freshservice.com.
	URL    string
	APIKey string
	Client *http.Client
}

func (f *Freshservice) do(ctx context.Context, method, path string, body any) ([]byte, error) {
	return notify.Do(ctx, f.Client, notify.Request{Method: method, URL: strings.TrimRight(f.URL, "/") + "/api/v2/" + path,
		Header: notify.BasicAuth(f.APIKey, "X"), Body: body})
}

// Create implements notify.TicketPlatform: it returns the ticket id.
func (f *Freshservice) Create(ctx context.Context, fields map[string]any) (string, error) {
	body, err := f.do(ctx, http.MethodPost, "tickets", fields)
	if err != nil {
		return "", err
	}
	var out struct {
		Ticket struct {
			ID int64 `json:"id"`
		} `json:"ticket"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Ticket.ID == 0 {
		return "", notify.Permanent(errors.Join(errors.New("freshservice: the answer to the create has no ticket.id"), err))
	}
	return strconv.FormatInt(out.Ticket.ID, 10), nil
}

// Update implements notify.TicketPlatform: the fields and status, then
// the comment as a private note.
func (f *Freshservice) Update(ctx context.Context, ticket string, u notify.TicketUpdate) error {
	if _, err := strconv.ParseInt(ticket, 10, 64); err != nil {
		return notify.Permanent(fmt.Errorf("freshservice: ticket id %q is not a number", ticket))
	}
	fields := map[string]any{}
	for k, v := range u.Fields {
		fields[k] = v
	}
	if u.State != "" {
		s, err := strconv.Atoi(u.State)
		if err != nil {
			return notify.Permanent(fmt.Errorf("freshservice: status %q is not a number", u.State))
		}
		fields["status"] = s
	}
	if len(fields) > 0 {
		if _, err := f.do(ctx, http.MethodPut, "tickets/"+ticket, fields); err != nil {
			return fmt.Errorf("freshservice: updating ticket %s: %w", ticket, err)
		}
	}
	if u.Comment != "" {
		if _, err := f.do(ctx, http.MethodPost, "tickets/"+ticket+"/notes", map[string]any{"body": u.Comment, "private": true}); err != nil {
			return fmt.Errorf("freshservice: noting on ticket %s: %w", ticket, err)
		}
	}
	return nil
}
