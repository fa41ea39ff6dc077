package acklog

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/ingest"
)

func TestLineRoundTrip(t *testing.T) {
	sent := time.Date(2026, 11, 24, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))
	done := sent.Add(1500 * time.Microsecond)
	var b []byte
	b = AppendLine(b, 3, "generic", sent, done, 202, 1, []byte(`[{"labels":{"alertname":"A"},"status":"resolved"}]`))
	b = append(b, "\n# a comment\n"...)
	b = AppendLine(b, 0, "pagerduty", sent, done, 0, 1, []byte(`{"routing_key":"k","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info"}}`))
	var got []*Request
	require.NoError(t, Read(bytes.NewReader(b), 1<<20, func(line int, raw []byte, r *Request) error {
		require.Equal(t, byte('{'), raw[0])
		got = append(got, r)
		return nil
	}))
	require.Len(t, got, 2)
	g := got[0]
	require.Equal(t, 3, g.Worker)
	require.True(t, g.Sent.Equal(sent), "to the nanosecond")
	require.True(t, g.Done.Equal(done))
	require.True(t, g.Acknowledged())
	require.False(t, g.InDoubt())
	evs, err := g.Parse(sent, nil)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, ingest.StatusResolved, evs[0].Status)
	require.True(t, evs[0].ReceivedAt.Equal(sent))

	require.True(t, got[1].InDoubt())
	evs, err = got[1].Parse(done, func() string { return "made-up" })
	require.NoError(t, err)
	key, _ := evs[0].Labels.Get("dedup_key")
	require.Equal(t, "made-up", key)

	_, err = (&Request{Format: "xml"}).Parse(sent, nil)
	require.ErrorContains(t, err, `unknown format "xml"`)
	err = Read(bytes.NewReader([]byte("{\"sent\":\"2026-11-24T12:00:00Z\"}\n")), 1<<20, nil)
	require.ErrorContains(t, err, "line 1: not an ack log line")
}
