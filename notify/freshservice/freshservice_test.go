package freshservice

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/notify"
	"github.com/sift-itsm/sift/notify/notifytest"
)

func TestFreshserviceCreateThenUpdateTheSameTicket(t *testing.T) {
	srv := notifytest.NewServer(t, func(r *http.Request, _ []byte) notifytest.Answer {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/api/v2/tickets":
			return notifytest.Answer{Status: http.StatusCreated, Body: `{"ticket":{"id":1234,"subject":"x","status":2,"priority":3}}`}
		case strings.HasSuffix(r.URL.Path, "/notes"):
			return notifytest.Answer{Status: http.StatusCreated, Body: `{"conversation":{"id":9}}`}
		}
		return notifytest.Answer{Status: http.StatusOK, Body: `{"ticket":{"id":1234}}`}
	})
	f := &notify.Ticketing{Platform: &Freshservice{URL: srv.URL, APIKey: "k3y", Client: srv.Client()}, Mapping: Mapping("sift@example.com")}
	id, err := f.Notify(context.Background(), notifytest.Event(t, notify.EventOpened, "itsm/freshservice"))
	require.NoError(t, err)
	require.Equal(t, "1234", id)
	for _, ev := range []notify.Event{notify.EventPriorityChanged, notify.EventResolved} {
		m := notifytest.Event(t, ev, "itsm/freshservice")
		m.Ticket = id
		_, err := f.Notify(context.Background(), m)
		require.NoError(t, err)
	}
	reqs := srv.Requests()
	require.Len(t, reqs, 5)
	notifytest.Golden(t, "create.golden", reqs[0])
	notifytest.Golden(t, "priority.golden", strings.Join(reqs[1:3], "---\n"))
	notifytest.Golden(t, "resolved.golden", strings.Join(reqs[3:5], "---\n"))
}
