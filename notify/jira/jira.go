package jira

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

// Mapping is the default mapping for a project and issue type; the
// configuration's goes over it. States name transitions (or their target
// statuses) of the project's workflow.
func Mapping(project, issueType string) notify.TicketMapping {
	return notify.TicketMapping{
		Fields: map[string]any{
			"project":     map[string]any{"key": project},
			"issuetype":   map[string]any{"name": issueType},
			"summary":     `{{ template "sift.ticket.summary" . }}`,
			"description": `{{ template "sift.ticket.description" . }}`,
			"labels":      []any{"sift", "{{ .Priority }}"},
		},
		States:  map[string]string{"new": "Reopen", "acknowledged": "In Progress", "in_progress": "In Progress", "resolved": "Resolved", "closed": "Closed"},
		Comment: `{{ template "sift.ticket.comment" . }}`,
	}
}

// Jira is a notify.TicketPlatform on a Jira site.
type Jira struct {
	// URL is the site, https://<site>.atlassian.net.
	URL string
	// Username and Token authenticate (basic: an Atlassian account's
	// email and API token); Token alone is a bearer personal access token.
	Username, Token string
	Client          *http.Client
}

func (j *Jira) api(path string) string {
	return strings.TrimRight(j.URL, "/") + "/rest/api/2/" + path
}

func (j *Jira) header() http.Header {
	if j.Username == "" {
		return http.Header{"Authorization": {"Bearer " + j.Token}}
	}
	return notify.BasicAuth(j.Username, j.Token)
}

func (j *Jira) do(ctx context.Context, method, path string, body any) ([]byte, error) {
	return notify.Do(ctx, j.Client, notify.Request{Method: method, URL: j.api(path), Header: j.header(), Body: body})
}

// Create implements notify.TicketPlatform: it returns the issue key.
func (j *Jira) Create(ctx context.Context, fields map[string]any) (string, error) {
	body, err := j.do(ctx, http.MethodPost, "issue", map[string]any{"fields": fields})
	if err != nil {
		return "", err
	}
	var out struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Key == "" {
		return "", notify.Permanent(errors.Join(errors.New("jira: the answer to the create has no key"), err))
	}
	return out.Key, nil
}

// Update implements notify.TicketPlatform: the comment, the fields (if
// any), then the transition (if the issue offers it).
func (j *Jira) Update(ctx context.Context, key string, u notify.TicketUpdate) error {
	issue := "issue/" + url.PathEscape(key)
	if u.Comment != "" {
		if _, err := j.do(ctx, http.MethodPost, issue+"/comment", map[string]any{"body": u.Comment}); err != nil {
			return fmt.Errorf("jira: commenting on %s: %w", key, err)
		}
	}
	if len(u.Fields) > 0 {
		if _, err := j.do(ctx, http.MethodPut, issue, map[string]any{"fields": u.Fields}); err != nil {
			return fmt.Errorf("jira: updating %s: %w", key, err)
		}
	}
	if u.State == "" {
		return nil
	}
	body, err := j.do(ctx, http.MethodGet, issue+"/transitions", nil)
	if err != nil {
		return fmt.Errorf("jira: transitions of %s: %w", key, err)
	}
	var ts struct {
		Transitions []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
			To   struct {
				Name string `json:"name"`
			} `json:"to"`
		} `json:"transitions"`
	}
	if err := json.Unmarshal(body, &ts); err != nil {
		return notify.Permanent(fmt.Errorf("jira: transitions of %s: %w", key, err))
	}
	for _, t := range ts.Transitions {
		if strings.EqualFold(t.Name, u.State) || strings.EqualFold(t.To.Name, u.State) {
			if _, err := j.do(ctx, http.MethodPost, issue+"/transitions", map[string]any{"transition": map[string]any{"id": t.ID}}); err != nil {
				return fmt.Errorf("jira: moving %s to %q: %w", key, u.State, err)
			}
			return nil
		}
	}
	return nil // not offered from the issue's status (it may be there already)
}
