package slack

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/notify"
	"github.com/sift-itsm/sift/notify/notifytest"
)

func TestSlackRequest(t *testing.T) {
	srv := notifytest.NewServer(t, func(*http.Request, []byte) notifytest.Answer {
		return notifytest.Answer{Status: http.StatusOK, Body: "ok", Header: http.Header{"Content-Type": {"text/plain"}}}
	})
	s := &Slack{URL: srv.URL + "/services/T000/B000/XXXX", Channel: "#noc", Username: "sift", IconEmoji: ":rotating_light:", Client: srv.Client()}
	for _, ev := range []notify.Event{notify.EventOpened, notify.EventResolved} {
		_, err := s.Notify(context.Background(), notifytest.Event(t, ev, "noc/slack"))
		require.NoError(t, err)
	}
	reqs := srv.Requests()
	notifytest.Golden(t, "opened.golden", reqs[0])
	notifytest.Golden(t, "resolved.golden", reqs[1])
}

func TestSlackCustomTemplates(t *testing.T) {
	srv := notifytest.NewServer(t, nil)
	s := &Slack{URL: srv.URL + "/x", Title: "{{ .Incident.ID }} {{ .Event }}", Text: "{{ .CommonLabels.service }}", Client: srv.Client()}
	_, err := s.Notify(context.Background(), notifytest.Event(t, notify.EventOpened, "noc/slack"))
	require.NoError(t, err)
	require.Contains(t, srv.Requests()[0], `"title": "INC0000042 opened"`)
	require.Contains(t, srv.Requests()[0], `"text": "api"`)

	s.Text = "{{ .Nope }"
	_, err = s.Notify(context.Background(), notifytest.Event(t, notify.EventOpened, "noc/slack"))
	require.Error(t, err)
	require.False(t, notify.Retryable(err), "a broken template stays broken")
	require.Len(t, srv.Requests(), 1, "nothing sent")
}
