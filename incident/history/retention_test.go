package history

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/correlate"
)

func TestRetentionOnServer(t *testing.T) {
	now := time.Now()
	s := testStore(t, clickhouseAddr(t), func(o *Options) {
		o.Retention = Retention{TableAlertStates: 30 * 24 * time.Hour, TableNotifications: 0}
		o.Now = func() time.Time { return now }
	})
	ctx := context.Background()
	require.NoError(t, s.Prepare(ctx))
	if s.Features().TTL {
		// The server keeps the TTL: read it back.
		for table, want := range map[string]string{
			TableEvents:      "TTL received_at + toIntervalDay(90)",
			TableAlertStates: "TTL changed_at + toIntervalDay(30)",
			TableIncidents:   "TTL opened_at + toIntervalDay(730)",
		} {
			var engine string
			require.NoError(t, s.conn.QueryRow(ctx, "SELECT engine_full FROM system.tables WHERE database = ? AND name = ?", s.Database(), table).Scan(&engine))
			require.Contains(t, engine, want, table)
		}
		return
	}
	// 18.16 has no TTL: retention drops whole months past it. An event
	// of a year ago and an alert change of 40 days before this month go;
	// this month's stay.
	t.Logf("ClickHouse %s has no table TTL; checking partition-drop retention", s.ServerVersion())
	old := now.AddDate(-1, 0, 0).UnixNano()
	monthStart := time.Date(now.Year(), now.Month(), 1, 12, 0, 0, 0, time.UTC)
	rows := &Rows{
		Events: []EventRow{{ID: EventID{Run: 1, Seq: 1}, ReceivedNs: old}, {ID: EventID{Run: 1, Seq: 2}, ReceivedNs: now.UnixNano()}},
		AlertStates: []AlertStateRow{{Run: 1, Seq: 1, Version: 1, Kind: correlate.AlertOpened, ChangedNs: monthStart.AddDate(0, 0, -40).UnixNano()},
			{Run: 1, Seq: 2, Version: 1, Kind: correlate.AlertOpened, ChangedNs: now.UnixNano()}},
		Notifications: []NotificationRow{{ID: "kept forever", AtNs: old}},
	}
	for _, table := range Tables {
		require.NoError(t, s.Insert(ctx, table, rows))
	}
	dropped, err := s.EnforceRetention(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, dropped)
	require.Equal(t, uint64(1), count(t, s, "SELECT count() FROM {db}.events"))
	require.Equal(t, uint64(now.UnixNano()), count(t, s, "SELECT toUInt64(received_ns) FROM {db}.events"))
	require.Equal(t, uint64(1), count(t, s, "SELECT count() FROM {db}.alert_states"))
	require.Equal(t, uint64(1), count(t, s, "SELECT count() FROM {db}.notifications"))
	// Nothing more to drop.
	dropped, err = s.EnforceRetention(ctx)
	require.NoError(t, err)
	require.Zero(t, dropped)
}
