package correlate

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/ingest"
)

func TestRecordNotification(t *testing.T) {
	now := t0.Add(time.Minute)
	e := New(Options{Now: func() time.Time { return now }})
	rec := &recorder{}
	e.Subscribe(rec)
	go func() { _ = e.Run(context.Background()) }()
	defer func() { e.Close(); <-e.Done() }()
	ctx := context.Background()
	require.NoError(t, e.Submit([]ingest.Event{ev(0, "alertname", "Down", "service", "api", "severity", "critical")}))
	require.NoError(t, e.Flush(ctx))
	inc, err := incident.Get(e.DB().Txn(false), "INC0000001")
	require.NoError(t, err)
	require.NotNil(t, inc)
	opened := inc

	key := NotificationKey{Receiver: "itsm/servicenow", Incident: "INC0000001", Event: "opened", Occurrence: 1}
	_, ok := e.Notification(key)
	require.False(t, ok)

	r, err := e.RecordNotification(ctx, NotificationRecord{NotificationKey: key, Version: 1, Result: NotificationSent, Ticket: "abc123", Attempts: 2})
	require.NoError(t, err)
	require.Equal(t, now, r.At)
	got, ok := e.Notification(key)
	require.True(t, ok)
	require.Equal(t, "abc123", got.Ticket)

	inc, err = incident.Get(e.DB().Txn(false), "INC0000001")
	require.NoError(t, err)
	require.Equal(t, opened.Version+1, inc.Version)
	require.Equal(t, map[string]string{"itsm/servicenow": "abc123"}, inc.Tickets)
	require.Nil(t, opened.Tickets, "the older version is unchanged")
	last := inc.Timeline[len(inc.Timeline)-1]
	require.Equal(t, incident.EntryNotification, last.Kind)
	require.Equal(t, "notified itsm/servicenow (opened), ticket abc123", last.Text)
	require.Equal(t, map[string]string{"itsm/servicenow": "abc123"}, inc.ToJSON(false).Tickets)

	// The same record again changes nothing: no new version.
	again, err := e.RecordNotification(ctx, NotificationRecord{NotificationKey: key, Version: 1, Result: NotificationSent, Ticket: "abc123"})
	require.NoError(t, err)
	require.Equal(t, got, again)
	inc2, _ := incident.Get(e.DB().Txn(false), "INC0000001")
	require.Equal(t, inc.Version, inc2.Version)

	// A second ticket copies the map.
	key2 := NotificationKey{Receiver: "itsm/jira", Incident: "INC0000001", Event: "opened", Occurrence: 1}
	_, err = e.RecordNotification(ctx, NotificationRecord{NotificationKey: key2, Result: NotificationSent, Ticket: "OPS-1"})
	require.NoError(t, err)
	inc3, _ := incident.Get(e.DB().Txn(false), "INC0000001")
	require.Equal(t, map[string]string{"itsm/servicenow": "abc123", "itsm/jira": "OPS-1"}, inc3.Tickets)
	require.Equal(t, map[string]string{"itsm/servicenow": "abc123"}, inc2.Tickets)

	// Held: logged, no timeline entry. Failed: an entry, and not final.
	key3 := NotificationKey{Receiver: "chat/slack", Incident: "INC0000001", Event: "resolved", Occurrence: 9}
	_, err = e.RecordNotification(ctx, NotificationRecord{NotificationKey: key3, Result: NotificationHeld})
	require.NoError(t, err)
	inc4, _ := incident.Get(e.DB().Txn(false), "INC0000001")
	require.Equal(t, inc3.Version, inc4.Version)
	key4 := NotificationKey{Receiver: "chat/slack", Incident: "INC0000001", Event: "opened", Occurrence: 1}
	r4, err := e.RecordNotification(ctx, NotificationRecord{NotificationKey: key4, Result: NotificationFailed, Error: "500 Internal Server Error", Attempts: 5})
	require.NoError(t, err)
	require.False(t, r4.Final())
	inc5, _ := incident.Get(e.DB().Txn(false), "INC0000001")
	require.Equal(t, "notification to chat/slack (opened) failed: 500 Internal Server Error", inc5.Timeline[len(inc5.Timeline)-1].Text)
	// A later success replaces the failure.
	_, err = e.RecordNotification(ctx, NotificationRecord{NotificationKey: key4, Result: NotificationSent, Attempts: 1})
	require.NoError(t, err)
	r4, _ = e.Notification(key4)
	require.True(t, r4.Final())

	require.Len(t, NotificationsOf(e.DB().Txn(false), "INC0000001"), 4)
	require.Empty(t, NotificationsOf(e.DB().Txn(false), "INC0000002"))

	// The sinks saw one incident update per recorded notification (the
	// reply comes before the sinks: flush to wait for them).
	require.NoError(t, e.Flush(ctx))
	var updates int
	for _, b := range rec.snapshot() {
		for _, c := range b.Changes {
			if c.Kind == IncidentUpdated {
				updates++
			}
		}
	}
	require.Equal(t, 4, updates) // sent, jira sent, failed, sent

	_, err = e.RecordNotification(ctx, NotificationRecord{NotificationKey: NotificationKey{Receiver: "x", Incident: "bad", Event: "opened"}, Result: NotificationSent})
	require.Error(t, err)
	_, err = e.RecordNotification(ctx, NotificationRecord{NotificationKey: key, Result: "maybe"})
	require.ErrorContains(t, err, "result")
}

func TestPruneNotifications(t *testing.T) {
	now := t0
	e := New(Options{Now: func() time.Time { return now }})
	go func() { _ = e.Run(context.Background()) }()
	defer func() { e.Close(); <-e.Done() }()
	ctx := context.Background()
	require.NoError(t, e.Submit([]ingest.Event{ev(0, "alertname", "Down", "severity", "critical")}))
	require.NoError(t, e.Flush(ctx))
	for _, id := range []string{"INC0000001", "INC0000099"} {
		_, err := e.RecordNotification(ctx, NotificationRecord{NotificationKey: NotificationKey{Receiver: "r", Incident: id, Event: "opened", Occurrence: 1}, Result: NotificationSent})
		require.NoError(t, err)
	}
	n, err := e.PruneNotifications(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n, "INC0000099 is not in memory")
	require.Len(t, NotificationsOf(e.DB().Txn(false), "INC0000001"), 1)
}
