package servicenow

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/config"
	"github.com/sift-itsm/sift/notify"
	"github.com/sift-itsm/sift/notify/notifytest"
)

func TestServiceNowCreateThenUpdateTheSameRecord(t *testing.T) {
	srv := notifytest.NewServer(t, func(r *http.Request, _ []byte) notifytest.Answer {
		if r.Method == http.MethodPost {
			return notifytest.Answer{Status: http.StatusCreated, Body: `{"result":{"sys_id":"9d385017c611228701d22104cc95c371","number":"INC0010001","state":"1"}}`}
		}
		return notifytest.Answer{Status: http.StatusOK, Body: `{"result":{"sys_id":"9d385017c611228701d22104cc95c371","state":"6"}}`}
	})
	sn := &notify.Ticketing{
		Platform: &ServiceNow{URL: srv.URL, Username: "sift", Password: "hunter2", Client: srv.Client()},
		Mapping:  Mapping.With(config.TicketConfig{Fields: map[string]any{"category": "network", "assignment_group": "{{ .Incident.SupportGroup }}"}}),
	}
	m := notifytest.Event(t, notify.EventOpened, "itsm/servicenow")
	ticket, err := sn.Notify(context.Background(), m)
	require.NoError(t, err)
	require.Equal(t, "9d385017c611228701d22104cc95c371", ticket)

	for _, ev := range []notify.Event{notify.EventAcknowledged, notify.EventResolved} {
		m := notifytest.Event(t, ev, "itsm/servicenow")
		m.Ticket = ticket
		got, err := sn.Notify(context.Background(), m)
		require.NoError(t, err)
		require.Equal(t, ticket, got)
	}
	reqs := srv.Requests()
	require.Len(t, reqs, 3)
	notifytest.Golden(t, "create.golden", reqs[0])
	notifytest.Golden(t, "acknowledged.golden", reqs[1])
	notifytest.Golden(t, "resolved.golden", reqs[2])
}

func TestServiceNowLateReceiverFilesAndUpdates(t *testing.T) {
	// A receiver that first hears of the incident when it resolves files
	// the record and brings it up to date at once.
	srv := notifytest.NewServer(t, func(r *http.Request, _ []byte) notifytest.Answer {
		return notifytest.Answer{Status: http.StatusCreated, Body: `{"result":{"sys_id":"abc"}}`}
	})
	sn := &notify.Ticketing{Platform: &ServiceNow{URL: srv.URL, Username: "u", Password: "p", Client: srv.Client()}, Mapping: Mapping}
	ticket, err := sn.Notify(context.Background(), notifytest.Event(t, notify.EventResolved, "itsm/servicenow"))
	require.NoError(t, err)
	require.Equal(t, "abc", ticket)
	reqs := srv.Requests()
	require.Len(t, reqs, 2)
	require.Contains(t, reqs[1], "PATCH /api/now/table/incident/abc")
	require.Contains(t, reqs[1], `"state": "6"`)
}

func TestServiceNowErrors(t *testing.T) {
	srv := notifytest.NewServer(t, func(*http.Request, []byte) notifytest.Answer {
		return notifytest.Answer{Status: http.StatusUnauthorized, Body: `{"error":{"message":"User Not Authenticated"}}`}
	})
	sn := &notify.Ticketing{Platform: &ServiceNow{URL: srv.URL, Username: "u", Password: "wrong", Client: srv.Client()}, Mapping: Mapping}
	_, err := sn.Notify(context.Background(), notifytest.Event(t, notify.EventOpened, "itsm/servicenow"))
	require.ErrorContains(t, err, "401")
	require.False(t, notify.Retryable(err))
	require.NotContains(t, err.Error(), "wrong")
}
