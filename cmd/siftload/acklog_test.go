package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/ingest"
	"github.com/sift-itsm/sift/internal/acklog"
)

func readAckLines(t *testing.T, path string) []*acklog.Request {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var lines []*acklog.Request
	require.NoError(t, acklog.Read(f, 16<<20, func(_ int, _ []byte, r *acklog.Request) error {
		lines = append(lines, r)
		return nil
	}))
	return lines
}

// The ack log holds every acknowledged request, as sent: replaying its
// lines' events gives siftd's alert counts exactly. With --partition a
// series belongs to one worker, and --resolve-at-end leaves every alert
// resolved.
func TestAckLogPartitionResolveAtEnd(t *testing.T) {
	d := startSiftd(t)
	o := testOptions(d.srv.URL, "mixed")
	o.Series, o.Batch, o.Requests, o.ResolveRatio = 64, 10, 300, 0.3
	o.Partition, o.ResolveAtEnd = true, true
	o.AckLog = filepath.Join(t.TempDir(), "ack.jsonl")
	res, err := run(context.Background(), o)
	require.NoError(t, err)
	require.Equal(t, res.Requests, res.OKRequests)
	e := res.EndResolves
	require.Positive(t, e.Requests)
	require.Equal(t, e.Requests, e.OKRequests)
	require.Equal(t, d.accepted(t), res.EventsAccepted+e.EventsAccepted)

	lines := readAckLines(t, o.AckLog)
	require.Len(t, lines, int(res.OKRequests+e.OKRequests))
	counts := map[model.Fingerprint]uint64{}
	owner := map[model.Fingerprint]int{}
	last := map[int]time.Time{}
	var events int64
	for _, l := range lines {
		require.True(t, l.Status == http.StatusOK || l.Status == http.StatusAccepted, "status %d", l.Status)
		require.False(t, l.Done.Before(l.Sent))
		require.False(t, l.Sent.Before(last[l.Worker]), "a worker's requests in order, one at a time")
		last[l.Worker] = l.Done
		evs, err := l.Parse(l.Sent, func() string { panic("no dedup_key") })
		require.NoError(t, err)
		require.Len(t, evs, l.Events)
		events += int64(len(evs))
		for _, ev := range evs {
			if w, ok := owner[ev.Fingerprint]; ok {
				require.Equal(t, w, l.Worker, "series of one worker only")
			}
			owner[ev.Fingerprint] = l.Worker
			// siftd counts the events of an alert it holds: from the
			// first firing one on.
			if counts[ev.Fingerprint] > 0 || ev.Status == ingest.StatusFiring {
				counts[ev.Fingerprint]++
			}
		}
	}
	require.Equal(t, res.EventsAccepted+e.EventsAccepted, events)

	require.NoError(t, d.app.Engine().Flush(context.Background()))
	got := map[model.Fingerprint]uint64{}
	page := d.app.Engine().ListAlerts(&correlate.AlertFilter{}, 0, 10000)
	require.Empty(t, page.NextPageToken)
	for _, a := range page.Alerts {
		require.Equal(t, "resolved", a.Status, "resolved at the end: %v", a.Labels)
		fp, err := model.ParseFingerprint(a.Fingerprint)
		require.NoError(t, err)
		got[fp] = a.Count
	}
	for fp, n := range counts {
		if n == 0 {
			delete(counts, fp)
		}
	}
	require.Equal(t, counts, got, "alert counts from the ack log")
}

// A request that got a connection but no answer is in doubt (status 0);
// refused requests are not written, nor are those never sent.
func TestAckLogInDoubt(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1: // read it all, then die without answering
			_, _ = io.Copy(io.Discard, r.Body)
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				c.Close()
			}
		case 2:
			http.Error(w, "no", http.StatusBadRequest)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer srv.Close()
	o := testOptions(srv.URL, "prometheus")
	o.Requests, o.Concurrency, o.Batch = 3, 1, 5
	o.AckLog = filepath.Join(t.TempDir(), "ack.jsonl")
	res, err := run(context.Background(), o)
	require.NoError(t, err)
	require.Equal(t, int64(1), res.OKRequests)
	lines := readAckLines(t, o.AckLog)
	require.Len(t, lines, 2)
	require.Equal(t, 0, lines[0].Status, "no answer: in doubt")
	require.Equal(t, http.StatusOK, lines[1].Status)
	for _, l := range lines {
		require.Equal(t, "prometheus", l.Format)
		require.Equal(t, 5, l.Events)
		require.True(t, json.Valid(l.Body))
	}
}

func TestWorkerShares(t *testing.T) {
	seen := map[int]int{}
	for w := range 3 {
		s := workerShare(10, w, 3)
		for i := range s.count {
			n := s.nth(i)
			require.Equal(t, w, n%3)
			seen[n]++
		}
	}
	require.Len(t, seen, 10, "every series, once")
	for _, c := range seen {
		require.Equal(t, 1, c)
	}

	o := testOptions("http://x", "prometheus")
	o.Partition, o.Series, o.Concurrency = true, 2, 3
	_, _, err := o.validate()
	require.ErrorContains(t, err, "--partition needs at least as many --series as --concurrency")
}
