package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/incident"
)

// BenchmarkIncidentListUnderIngest is issue 4's read figure: the incident
// list (open, first page of 100) with 10k open incidents, while Prometheus
// batches arrive at --rate events/s (duplicates of the 10k alerts, as
// Prometheus resends them). It reports the list's p50 and p99 and the
// ingest rate reached.
//
//	go test ./internal/app -run '^$' -bench IncidentList -benchtime 2000x -count 3
func BenchmarkIncidentListUnderIngest(b *testing.B) {
	const series, batch, rate = 10_000, 1000, 100_000
	d := start(b, "")
	var bodies [][]byte
	for i := 0; i < series; i += batch {
		var buf bytes.Buffer
		buf.WriteByte('[')
		for j := i; j < i+batch; j++ {
			if j > i {
				buf.WriteByte(',')
			}
			// One service per alert: 10k groups, 10k incidents.
			fmt.Fprintf(&buf, `{"labels":{"alertname":"Down","service":"svc-%d","severity":"critical"},"endsAt":"2099-01-01T00:00:00Z"}`, j)
		}
		buf.WriteByte(']')
		bodies = append(bodies, buf.Bytes())
	}
	post := func(body []byte) {
		resp, err := http.Post(d.url+"/api/v2/alerts", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Error(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for _, body := range bodies {
		post(body)
	}
	require.NoError(b, d.app.Engine().Flush(context.Background()))
	require.Equal(b, float64(series), gaugeWith(b, d.reg, "sift_incidents_open", "", ""))
	var page incident.Page
	require.Equal(b, http.StatusOK, d.getJSON(b, "/api/v1/incidents?state=open", &page))
	require.Len(b, page.Incidents, 100)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var sent int
	began := time.Now()
	wg.Go(func() {
		tick := time.NewTicker(time.Second * batch / rate)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				post(bodies[i%len(bodies)])
				sent += batch
			}
		}
	})
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		t := time.Now()
		resp, err := http.Get(d.url + "/api/v1/incidents?state=open")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(t))
	}
	b.StopTimer()
	cancel()
	wg.Wait()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(sent)/time.Since(began).Seconds(), "ingest-events/s")
}
