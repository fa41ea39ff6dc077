package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBinaryCrashRecovery accepts events over HTTP, kills siftd with
// SIGKILL (no drain, no shutdown), restarts it on the same storage path
// and requires the alerts API to show exactly the acknowledged events,
// counts included; twice, the second time with requests in flight.
func TestBinaryCrashRecovery(t *testing.T) {
	dir, bin := buildSiftd(t)
	storage := filepath.Join(dir, "data")

	// acked counts the acknowledged events by instance.
	acked := map[string]uint64{}
	s := startSiftd(t, bin, storage)
	for round := range 20 {
		var b strings.Builder
		b.WriteString("[")
		for i := range 10 {
			if i > 0 {
				b.WriteString(",")
			}
			// 10 series, each sent 1 to 3 times a round.
			inst := fmt.Sprintf("h%d", (round*i+i)%10)
			fmt.Fprintf(&b, `{"labels":{"alertname":"Down","instance":%q},"startsAt":"2026-11-24T12:00:00Z"}`, inst)
			acked[inst]++
		}
		b.WriteString("]")
		require.Equal(t, http.StatusOK, s.post(t, "/api/v2/alerts", b.String()))
	}
	for i := range 5 {
		require.Equal(t, http.StatusAccepted, s.post(t, "/api/v1/events", fmt.Sprintf(`{"labels":{"alertname":"Generic","instance":"g%d"}}`, i%2)))
		acked[fmt.Sprintf("g%d", i%2)]++
	}
	s.kill(t)

	s = startSiftd(t, bin, storage)
	require.Equal(t, acked, s.counts(t, "Down", "Generic"))
	require.Contains(t, s.logs.String(), "recovered from the write-ahead log")

	// Second crash, with requests in flight: each in-flight request is
	// either acknowledged (and must survive) or not (and may survive,
	// since it may be logged and the answer lost): between the two.
	var sent, ok atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				sent.Add(1)
				body := fmt.Sprintf(`[{"labels":{"alertname":"Inflight","instance":"w%d"}}]`, w)
				resp, err := http.Post(s.url+"/api/v2/alerts", "application/json", strings.NewReader(body))
				if err != nil {
					return // killed
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ok.Add(1)
				}
			}
		})
	}
	require.Eventually(t, func() bool { return ok.Load() >= 200 }, 20*time.Second, time.Millisecond)
	s.kill(t)
	close(stop)
	wg.Wait()

	s = startSiftd(t, bin, storage)
	require.Equal(t, acked, s.counts(t, "Down", "Generic"), "the first run's events, once")
	var inflight uint64
	for _, c := range s.counts(t, "Inflight") {
		inflight += c
	}
	t.Logf("in flight: %d sent, %d acknowledged, %d recovered", sent.Load(), ok.Load(), inflight)
	require.GreaterOrEqual(t, inflight, uint64(ok.Load()), "every acknowledged event recovered")
	require.LessOrEqual(t, inflight, uint64(sent.Load()))
	s.kill(t)
}

type siftd struct {
	cmd    *exec.Cmd
	url    string
	logs   *syncBuffer
	exited chan error
	// lastAccepted is what waitAccepted saw last.
	lastAccepted int64
}

func startSiftd(t *testing.T, bin, storage string) *siftd {
	t.Helper()
	s := spawnSiftd(t, bin, freeAddr(t), storage)
	s.waitReady(t)
	return s
}

// spawnSiftd starts siftd listening on addr, without waiting for it to
// be ready.
func spawnSiftd(t *testing.T, bin, addr, storage string, args ...string) *siftd {
	t.Helper()
	s := &siftd{url: "http://" + addr, logs: &syncBuffer{}, exited: make(chan error, 1)}
	s.cmd = exec.Command(bin, append([]string{"--web.listen-address=" + addr, "--storage.path=" + storage, "--log.format=logfmt"}, args...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	require.NoError(t, s.cmd.Start())
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(func() { _ = s.cmd.Process.Kill() })
	return s
}

func (s *siftd) waitReady(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		resp, err := http.Get(s.url + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 10*time.Millisecond, "siftd did not become ready:\n%s", s.logs)
}

func (s *siftd) post(t *testing.T, path, body string) int {
	t.Helper()
	resp, err := http.Post(s.url+path, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// kill sends SIGKILL: no drain, no shutdown, no chance to flush.
func (s *siftd) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, s.cmd.Process.Kill())
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("siftd did not die")
	}
}

// counts are the alerts' counts by instance, for the alertnames given,
// once the engine has applied what was queued.
func (s *siftd) counts(t *testing.T, names ...string) map[string]uint64 {
	t.Helper()
	var page struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			Count  uint64            `json:"count"`
		} `json:"alerts"`
	}
	resp, err := http.Get(s.url + "/api/v1/alerts?limit=1000")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
	out := map[string]uint64{}
	for _, a := range page.Alerts {
		for _, n := range names {
			if a.Labels["alertname"] == n {
				out[a.Labels["instance"]] += a.Count
			}
		}
	}
	return out
}
