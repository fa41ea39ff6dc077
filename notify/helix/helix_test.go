package helix

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

func TestHelixCreateThenUpdateTheSameIncident(t *testing.T) {
	logins := 0
	srv := notifytest.NewServer(t, func(r *http.Request, _ []byte) notifytest.Answer {
		switch {
		case r.URL.Path == "/api/jwt/login":
			logins++
			return notifytest.Answer{Status: http.StatusOK, Body: "eyJhbGciOi.token" + strings.Repeat("x", logins-1), Header: http.Header{"Content-Type": {"text/plain"}}}
		case r.Header.Get("Authorization") == "AR-JWT eyJhbGciOi.token" && logins == 1 && r.Method == http.MethodGet:
			// The first token has expired by the first update.
			return notifytest.Answer{Status: http.StatusUnauthorized, Body: `[{"messageType":"ERROR","messageText":"Authentication failed"}]`}
		case r.Method == http.MethodPost:
			return notifytest.Answer{Status: http.StatusCreated, Body: `{"values":{"Incident Number":"INC000000000101"}}`}
		case r.Method == http.MethodGet:
			return notifytest.Answer{Status: http.StatusOK, Body: `{"entries":[{"values":{"Request ID":"INC000000000101|INC000000000101"}}]}`}
		}
		return notifytest.Answer{Status: http.StatusNoContent, Body: ""}
	})
	h := &notify.Ticketing{
		Platform: &Helix{URL: srv.URL, Username: "sift", Password: "hunter2", Client: srv.Client()},
		Mapping:  Mapping.With(config.TicketConfig{Fields: map[string]any{"First_Name": "Noc", "Last_Name": "Bot"}}),
	}
	n, err := h.Notify(context.Background(), notifytest.Event(t, notify.EventOpened, "itsm/helix"))
	require.NoError(t, err)
	require.Equal(t, "INC000000000101", n)
	m := notifytest.Event(t, notify.EventResolved, "itsm/helix")
	m.Ticket = n
	got, err := h.Notify(context.Background(), m)
	require.NoError(t, err)
	require.Equal(t, n, got)
	require.Equal(t, 2, logins, "logged in again when the token was refused")
	reqs := srv.Requests()
	require.Len(t, reqs, 6, "login, create; find (refused), login, find, update")
	notifytest.Golden(t, "create.golden", strings.Join(reqs[0:2], "---\n"))
	notifytest.Golden(t, "resolved.golden", strings.Join(reqs[2:6], "---\n"))
}
