package helix

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

// Helix's impact and urgency values for sift's 1 (highest) to 3, set on
// create and on every update.
const (
	impact  = `{{ if eq .Incident.Impact 1 }}1-Extensive/Widespread{{ else if eq .Incident.Impact 2 }}2-Significant/Large{{ else }}3-Moderate/Limited{{ end }}`
	urgency = `{{ if eq .Incident.Urgency 1 }}1-Critical{{ else if eq .Incident.Urgency 2 }}2-High{{ else }}3-Medium{{ end }}`
)

// Mapping is the default mapping; the configuration's goes over it.
// First_Name and Last_Name must name a People record of the instance
// (the customer of the incidents): set them in fields.
var Mapping = notify.TicketMapping{
	Fields: map[string]any{
		"First_Name":          "sift",
		"Last_Name":           "Monitoring",
		"Description":         `{{ template "sift.ticket.summary" . }}`,
		"Detailed_Decription": `{{ template "sift.ticket.description" . }}`,
		"Impact":              impact,
		"Urgency":             urgency,
		"Reported Source":     "Systems Management",
		"Service_Type":        "Infrastructure Event",
		"z1D_Action":          "CREATE",
	},
	UpdateFields: map[string]any{
		"Impact":        impact,
		"Urgency":       urgency,
		"Resolution":    `{{ if eq .State "resolved" }}{{ .Change.Text }}{{ end }}`,
		"Status_Reason": `{{ if eq .State "resolved" }}Automated Resolution Reported{{ end }}`,
	},
	States:  map[string]string{"new": "New", "acknowledged": "In Progress", "in_progress": "In Progress", "resolved": "Resolved", "closed": "Closed"},
	Comment: `{{ template "sift.ticket.comment" . }}`,
}

// Helix is a notify.TicketPlatform on an AR System REST endpoint.
type Helix struct {
	// URL is the REST endpoint, https://<host>:8443.
	URL                string
	Username, Password string
	Client             *http.Client
	token              string
}

const (
	formCreate = "HPD:IncidentInterface_Create"
	formUpdate = "HPD:IncidentInterface"
)

func (h *Helix) base() string { return strings.TrimRight(h.URL, "/") }

func (h *Helix) login(ctx context.Context) error {
	form := url.Values{"username": {h.Username}, "password": {h.Password}}
	body, err := notify.Do(ctx, h.Client, notify.Request{Method: http.MethodPost, URL: h.base() + "/api/jwt/login",
		Body: []byte(form.Encode()), ContentType: "application/x-www-form-urlencoded", Header: http.Header{"Accept": {"text/plain"}}})
	if err != nil {
		return fmt.Errorf("helix: login: %w", err)
	}
	h.token = strings.TrimSpace(string(body))
	return nil
}

// do calls the API with the token, logging in first and again once when
// the token is refused (expired).
func (h *Helix) do(ctx context.Context, method, u string, body any) ([]byte, error) {
	for try := 0; ; try++ {
		if h.token == "" {
			if err := h.login(ctx); err != nil {
				return nil, err
			}
		}
		out, err := notify.Do(ctx, h.Client, notify.Request{Method: method, URL: u, Header: http.Header{"Authorization": {"AR-JWT " + h.token}}, Body: body})
		var he *notify.HTTPError
		if errors.As(err, &he) && he.Status == http.StatusUnauthorized && try == 0 {
			h.token = ""
			continue
		}
		return out, err
	}
}

// Create implements notify.TicketPlatform: it returns the Incident
// Number.
func (h *Helix) Create(ctx context.Context, fields map[string]any) (string, error) {
	if d, ok := fields["Description"].(string); ok && len([]rune(d)) > 100 {
		fields["Description"] = string([]rune(d)[:100]) // the field holds 100 characters
	}
	u := h.base() + "/api/arsys/v1/entry/" + url.PathEscape(formCreate) + "?fields=" + url.QueryEscape("values(Incident Number)")
	body, err := h.do(ctx, http.MethodPost, u, map[string]any{"values": fields})
	if err != nil {
		return "", err
	}
	var out struct {
		Values map[string]any `json:"values"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return "", notify.Permanent(fmt.Errorf("helix: the answer to the create: %w", err))
	}
	n, _ := out.Values["Incident Number"].(string)
	if n == "" {
		return "", notify.Permanent(errors.New("helix: the answer to the create has no Incident Number"))
	}
	return n, nil
}

// Update implements notify.TicketPlatform: it finds the entry of the
// incident number and sets the fields, the status and a work log entry.
func (h *Helix) Update(ctx context.Context, number string, u notify.TicketUpdate) error {
	q := url.Values{"q": {fmt.Sprintf("'Incident Number'=%q", number)}, "fields": {"values(Request ID)"}}
	body, err := h.do(ctx, http.MethodGet, h.base()+"/api/arsys/v1/entry/"+url.PathEscape(formUpdate)+"?"+q.Encode(), nil)
	if err != nil {
		return fmt.Errorf("helix: finding %s: %w", number, err)
	}
	var found struct {
		Entries []struct {
			Values map[string]any `json:"values"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(body, &found); err != nil {
		return notify.Permanent(fmt.Errorf("helix: finding %s: %w", number, err))
	}
	if len(found.Entries) == 0 {
		return notify.Permanent(fmt.Errorf("helix: no incident %s", number))
	}
	id, _ := found.Entries[0].Values["Request ID"].(string)
	values := map[string]any{}
	for k, v := range u.Fields {
		values[k] = v
	}
	if u.State != "" {
		values["Status"] = u.State
	}
	if u.Comment != "" {
		values["z1D_Activity_Type"] = "General Information"
		values["z1D_Summary"] = "sift " + u.Event.String()
		values["z1D_WorklogDetails"] = u.Comment
	}
	_, err = h.do(ctx, http.MethodPut, h.base()+"/api/arsys/v1/entry/"+url.PathEscape(formUpdate)+"/"+url.PathEscape(id), map[string]any{"values": values})
	if err != nil {
		return fmt.Errorf("helix: updating %s: %w", number, err)
	}
	return nil
}
