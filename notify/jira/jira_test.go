package jira

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/config"
	"github.com/sift-itsm/sift/notify"
	"github.com/sift-itsm/sift/notify/notifytest"
)

const transitions = `{"expand":"transitions","transitions":[
 {"id":"11","name":"Start work","to":{"id":"3","name":"In Progress"}},
 {"id":"31","name":"Resolve this issue","to":{"id":"5","name":"Resolved"}}]}`

func TestJiraCreateCommentTransition(t *testing.T) {
	srv := notifytest.NewServer(t, func(r *http.Request, _ []byte) notifytest.Answer {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/rest/api/2/issue":
			return notifytest.Answer{Status: http.StatusCreated, Body: `{"id":"10042","key":"OPS-7","self":"https://acme.atlassian.net/rest/api/2/issue/10042"}`}
		case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/transitions"):
			return notifytest.Answer{Status: http.StatusOK, Body: transitions}
		case strings.HasSuffix(r.URL.Path, "/comment"):
			return notifytest.Answer{Status: http.StatusCreated, Body: `{"id":"100"}`}
		}
		return notifytest.Answer{Status: http.StatusNoContent}
	})
	j := &notify.Ticketing{
		Platform: &Jira{URL: srv.URL, Username: "sift@example.com", Token: "t0ken", Client: srv.Client()},
		Mapping:  Mapping("OPS", "Incident").With(config.TicketConfig{Fields: map[string]any{"priority": map[string]any{"name": `{{ if eq .Priority "P1" }}Highest{{ else }}High{{ end }}`}}}),
	}
	key, err := j.Notify(context.Background(), notifytest.Event(t, notify.EventOpened, "itsm/jira"))
	require.NoError(t, err)
	require.Equal(t, "OPS-7", key)
	for _, ev := range []notify.Event{notify.EventAcknowledged, notify.EventResolved} {
		m := notifytest.Event(t, ev, "itsm/jira")
		m.Ticket = key
		got, err := j.Notify(context.Background(), m)
		require.NoError(t, err)
		require.Equal(t, key, got)
	}
	reqs := srv.Requests()
	require.Len(t, reqs, 7, "create; comment, transitions, move; comment, transitions, move")
	notifytest.Golden(t, "create.golden", reqs[0])
	notifytest.Golden(t, "acknowledged.golden", strings.Join(reqs[1:4], "---\n"))
	notifytest.Golden(t, "resolved.golden", strings.Join(reqs[4:7], "---\n"))
}

func TestJiraSkipsTransitionsNotOffered(t *testing.T) {
	srv := notifytest.NewServer(t, func(r *http.Request, _ []byte) notifytest.Answer {
		if strings.HasSuffix(r.URL.Path, "/transitions") {
			return notifytest.Answer{Status: http.StatusOK, Body: `{"transitions":[]}`}
		}
		return notifytest.Answer{Status: http.StatusCreated, Body: `{}`}
	})
	j := &notify.Ticketing{Platform: &Jira{URL: srv.URL, Token: "pat", Client: srv.Client()}, Mapping: Mapping("OPS", "Incident")}
	m := notifytest.Event(t, notify.EventClosed, "itsm/jira")
	m.Ticket = "OPS-7"
	_, err := j.Notify(context.Background(), m)
	require.NoError(t, err)
	reqs := srv.Requests()
	require.Len(t, reqs, 2)
	require.Contains(t, reqs[0], "Authorization: Bearer pat")
}
