package pagerduty

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/notify"
	"github.com/sift-itsm/sift/notify/notifytest"
)

func TestPagerDutyMirrorsTheIncident(t *testing.T) {
	srv := notifytest.NewServer(t, func(_ *http.Request, body []byte) notifytest.Answer {
		var e Event
		if json.Unmarshal(body, &e) != nil || e.RoutingKey == "" {
			return notifytest.Answer{Status: http.StatusBadRequest, Body: `{"status":"invalid event","message":"Event object is invalid","errors":["'routing_key' is missing or blank"]}`}
		}
		return notifytest.Answer{Status: http.StatusAccepted, Body: `{"status":"success","message":"Event processed","dedup_key":"` + e.DedupKey + `"}`}
	})
	p := &PagerDuty{URL: srv.URL + "/v2/enqueue", RoutingKey: "R0UT1NGK3Y", HTTP: srv.Client()}
	for _, ev := range []notify.Event{notify.EventOpened, notify.EventPriorityChanged, notify.EventAcknowledged, notify.EventResolved, notify.EventClosed} {
		_, err := p.Notify(context.Background(), notifytest.Event(t, ev, "pager/pagerduty"))
		require.NoError(t, err)
	}
	reqs := srv.Requests()
	require.Len(t, reqs, 4, "closed sends nothing")
	for i, name := range []string{"trigger", "trigger-priority", "acknowledge", "resolve"} {
		notifytest.Golden(t, name+".golden", reqs[i])
	}

	p.RoutingKey = ""
	_, err := p.Notify(context.Background(), notifytest.Event(t, notify.EventOpened, "pager/pagerduty"))
	require.ErrorContains(t, err, "400")
	require.False(t, notify.Retryable(err))
}

func TestPagerDutySeverityMustBeValid(t *testing.T) {
	srv := notifytest.NewServer(t, nil)
	p := &PagerDuty{URL: srv.URL, RoutingKey: "k", Severity: "{{ .Priority }}", HTTP: srv.Client()}
	_, err := p.Notify(context.Background(), notifytest.Event(t, notify.EventOpened, "pager/pagerduty"))
	require.ErrorContains(t, err, `severity "P2"`)
	require.Empty(t, srv.Requests())
}
