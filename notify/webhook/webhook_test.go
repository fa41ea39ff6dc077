package webhook

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/notify"
	"github.com/sift-itsm/sift/notify/notifytest"
)

func TestWebhookRequest(t *testing.T) {
	var sig, body string
	srv := notifytest.NewServer(t, func(r *http.Request, b []byte) notifytest.Answer {
		sig, body = r.Header.Get(HeaderSignature), string(b)
		return notifytest.Answer{Status: http.StatusNoContent}
	})
	w := &Webhook{URL: srv.URL + "/hooks/sift", Secret: "s3cret", Client: srv.Client()}
	for _, ev := range []notify.Event{notify.EventOpened, notify.EventAcknowledged} {
		ticket, err := w.Notify(context.Background(), notifytest.Event(t, ev, "noc/webhook"))
		require.NoError(t, err)
		require.Empty(t, ticket)
	}
	reqs := srv.Requests()
	notifytest.Golden(t, "opened.golden", reqs[0])
	notifytest.Golden(t, "acknowledged.golden", reqs[1])
	// The signature is the receiver's to check: HMAC-SHA256 of the body.
	require.Equal(t, Sign("s3cret", []byte(body)), sig)
	require.True(t, strings.HasPrefix(sig, "sha256="))
}

func TestWebhookErrors(t *testing.T) {
	status := http.StatusServiceUnavailable
	srv := notifytest.NewServer(t, func(*http.Request, []byte) notifytest.Answer {
		return notifytest.Answer{Status: status, Body: `{"error":"busy"}`}
	})
	w := &Webhook{URL: srv.URL + "/hooks/T0K3N", Client: srv.Client()}
	m := notifytest.Event(t, notify.EventOpened, "noc/webhook")
	_, err := w.Notify(context.Background(), m)
	require.Error(t, err)
	require.True(t, notify.Retryable(err), "5xx is retried")
	require.NotContains(t, err.Error(), "T0K3N", "the URL's path is a secret")
	require.Contains(t, err.Error(), "503")
	status = http.StatusBadRequest
	_, err = w.Notify(context.Background(), m)
	require.False(t, notify.Retryable(err), "4xx is not")
	status = http.StatusTooManyRequests
	_, err = w.Notify(context.Background(), m)
	require.True(t, notify.Retryable(err), "429 is")

	srv.Close()
	_, err = w.Notify(context.Background(), m)
	require.Error(t, err)
	require.True(t, notify.Retryable(err))
	require.NotContains(t, err.Error(), "T0K3N")
}
