package rules

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestMaintenanceOneOff(t *testing.T) {
	s := mustParse(t, `
maintenance_windows:
  - name: migration
    cis: [db-1, db-2]
    start: 2026-11-28T22:00:00Z
    end: 2026-11-29T02:00:00+01:00
  - name: billing
    match: ['service="billing"']
    start: 2026-11-28T00:00:00Z
    end: 2026-11-30T00:00:00Z
  - name: both
    cis: [db-3]
    match: ['alertname="DiskFull"']
    start: 2026-11-28T00:00:00Z
    end: 2026-11-30T00:00:00Z
`)
	f := func(at, ci string, ls string, want string) {
		t.Helper()
		var l = lbls()
		if ls != "" {
			l = lbls("service", ls, "alertname", "DiskFull")
		}
		w, ok := s.InMaintenance(utc(at), ci, l)
		require.Equal(t, want != "", ok, "%s %s %s", at, ci, ls)
		require.Equal(t, want, w)
	}
	f("2026-11-28T21:59:59Z", "db-1", "", "")          // before start
	f("2026-11-28T22:00:00Z", "db-1", "", "migration") // start is inclusive
	f("2026-11-29T00:59:59Z", "db-2", "", "migration") // end is 01:00Z, written in +01:00
	f("2026-11-29T01:00:00Z", "db-2", "", "")          // end is exclusive
	f("2026-11-28T23:00:00Z", "db-9", "", "")          // another CI
	f("2026-11-28T23:00:00Z", "", "", "")              // no CI
	f("2026-11-28T23:00:00Z", "", "billing", "billing")
	f("2026-11-28T23:00:00Z", "db-1", "billing", "migration") // first window in file order
	f("2026-11-29T12:00:00Z", "db-1", "billing", "billing")
	f("2026-11-29T12:00:00Z", "db-3", "", "")        // cis and match must both hold
	f("2026-11-29T12:00:00Z", "db-3", "web", "both") // (lbls adds alertname=DiskFull)
	f("2026-11-29T12:00:00Z", "db-4", "web", "")

	// The time's location does not matter, only the instant.
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	w, ok := s.InMaintenance(utc("2026-11-28T22:00:00Z").In(ny), "db-1", lbls())
	require.True(t, ok)
	require.Equal(t, "migration", w)
}

func TestMaintenanceRecurringDST(t *testing.T) {
	s := mustParse(t, `
maintenance_windows:
  - name: sunday-patching
    cis: [host-1]
    time_intervals:
      - weekdays: [sunday]
        times: [{start_time: '02:00', end_time: '04:00'}]
        location: Europe/Berlin
  - name: utc-nightly
    cis: [host-2]
    start: 2026-06-01T00:00:00Z
    time_intervals:
      - times: [{start_time: '23:00', end_time: '24:00'}]
`)
	f := func(at, ci string, want bool) {
		t.Helper()
		_, ok := s.InMaintenance(utc(at), ci, lbls())
		require.Equal(t, want, ok, "%s %s", at, ci)
	}
	// An ordinary winter Sunday, CET (UTC+1): 01:00Z to 03:00Z.
	f("2026-03-22T00:59:59Z", "host-1", false)
	f("2026-03-22T01:00:00Z", "host-1", true)
	f("2026-03-22T02:59:59Z", "host-1", true)
	f("2026-03-22T03:00:00Z", "host-1", false)
	f("2026-03-23T01:30:00Z", "host-1", false) // Monday
	// Spring forward, 29 March 2026: 02:00 CET becomes 03:00 CEST, so
	// only 03:00-04:00 CEST happens: 01:00Z to 02:00Z.
	f("2026-03-29T00:59:59Z", "host-1", false)
	f("2026-03-29T01:00:00Z", "host-1", true)
	f("2026-03-29T01:59:59Z", "host-1", true)
	f("2026-03-29T02:00:00Z", "host-1", false)
	// A summer Sunday, CEST (UTC+2): 00:00Z to 02:00Z.
	f("2026-07-05T00:00:00Z", "host-1", true)
	f("2026-07-05T02:00:00Z", "host-1", false)
	// Fall back, 25 October 2026: 02:00-03:00 happens twice (CEST, then
	// CET), then 03:00-04:00 CET: 00:00Z to 03:00Z, three hours.
	f("2026-10-24T23:59:59Z", "host-1", false)
	f("2026-10-25T00:00:00Z", "host-1", true)
	f("2026-10-25T01:30:00Z", "host-1", true)
	f("2026-10-25T02:59:59Z", "host-1", true)
	f("2026-10-25T03:00:00Z", "host-1", false)

	// Without a location the interval is in UTC, whatever the location
	// of the time passed in; start bounds the recurrence.
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	_, ok := s.InMaintenance(utc("2026-06-10T23:30:00Z").In(berlin), "host-2", lbls())
	require.True(t, ok)
	f("2026-06-10T22:59:59Z", "host-2", false)
	f("2026-05-31T23:30:00Z", "host-2", false) // before start
	f("2026-06-01T23:30:00Z", "host-2", true)
}
