package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/internal/app"
)

// daemon runs siftd in-process for the client commands.
func daemon(t *testing.T) string {
	t.Helper()
	a, err := app.New(app.Options{ListenAddress: "127.0.0.1:0", StoragePath: filepath.Join(t.TempDir(), "data")})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	url := "http://" + ln.Addr().String()
	resp, err := http.Post(url+"/api/v2/alerts", "application/json", strings.NewReader(
		`[{"labels":{"alertname":"Down","service":"api","severity":"critical"}}]`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, err = http.Post(url+"/api/v1/changes", "application/json", strings.NewReader(
		`{"id":"CHG-7","ci":"api","summary":"deploy","start":"`+time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)+`"}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.NoError(t, a.Engine().Flush(context.Background()))
	return url
}

func siftctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestClientCommands(t *testing.T) {
	url := daemon(t)
	code, out, errOut := siftctl(t, "incidents", "list", "--url", url)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "ID")
	require.Contains(t, out, "INC0000001")
	require.Contains(t, out, "P3")

	code, out, errOut = siftctl(t, "incidents", "list", "--url", url, "-o", "json")
	require.Equal(t, 0, code, errOut)
	var page struct{ Incidents []struct{ ID, State string } }
	require.NoError(t, json.Unmarshal([]byte(out), &page))
	require.Equal(t, "new", page.Incidents[0].State)

	code, out, errOut = siftctl(t, "incidents", "ack", "INC0000001", "--url", url, "--actor", "alice")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "acknowledged")
	code, _, errOut = siftctl(t, "incidents", "ack", "INC0000001", "--url", url)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "409", "a refused transition says why")
	code, out, errOut = siftctl(t, "incidents", "show", "INC0000001", "--url", url)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "alice")
	code, out, errOut = siftctl(t, "incidents", "resolve", "INC0000001", "--url", url)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "resolved")

	code, out, errOut = siftctl(t, "problems", "list", "--url", url)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "SIGNATURE")
	code, _, errOut = siftctl(t, "problems", "show", "PRB0000001", "--url", url)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "404")

	code, out, errOut = siftctl(t, "changes", "list", "--url", url)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "CHG-7")

	code, _, errOut = siftctl(t, "incidents", "list", "--url", "http://127.0.0.1:1")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "siftctl:")
}
