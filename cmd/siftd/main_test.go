package main

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// buildSiftd builds the binary into a temporary directory, which the
// test may use for its files too; binary tests skip under -short.
func buildSiftd(t *testing.T) (dir, bin string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir = t.TempDir()
	bin = filepath.Join(dir, "siftd")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	return dir, bin
}

// TestBinarySignals runs the real siftd binary, as Alertmanager's
// acceptance tests do: SIGHUP reloads the config (a bad file is refused
// and the old one kept), SIGTERM shuts down cleanly with exit code 0.
func TestBinarySignals(t *testing.T) {
	dir, bin := buildSiftd(t)

	cfg := filepath.Join(dir, "sift.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("engine:\n  resolve_timeout: 5m\n"), 0o644))
	addr := freeAddr(t)
	cmd := exec.Command(bin, "--config.file="+cfg, "--web.listen-address="+addr, "--storage.path="+filepath.Join(dir, "data"), "--log.format=logfmt")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOGC=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	base := "http://" + addr
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond, "siftd did not become ready:\n%s", logs)

	resp, err := http.Post(base+"/api/v2/alerts", "application/json", strings.NewReader(`[{"labels":{"alertname":"A"}}]`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	metric := func(name string) string {
		resp, err := http.Get(base + "/metrics")
		require.NoError(t, err)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), name+" ") {
				return strings.TrimPrefix(sc.Text(), name+" ")
			}
		}
		return ""
	}
	hash := metric("sift_config_hash")
	require.Equal(t, "50", metric("go_gc_gogc_percent"), "siftd's own GOGC default")

	require.NoError(t, os.WriteFile(cfg, []byte("engine:\n  resolve_timeout: 7m\n"), 0o644))
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	require.Eventually(t, func() bool { return metric("sift_config_hash") != hash }, 5*time.Second, 20*time.Millisecond)
	require.Equal(t, "1", metric("sift_config_last_reload_successful"))

	require.NoError(t, os.WriteFile(cfg, []byte("engine:\n  resolve_timeout: [\n"), 0o644))
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	require.Eventually(t, func() bool { return metric("sift_config_last_reload_successful") == "0" }, 5*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "config reload failed") }, 5*time.Second, 20*time.Millisecond)

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err, "exit code 0 after SIGTERM:\n%s", logs)
	case <-time.After(15 * time.Second):
		t.Fatalf("siftd did not exit after SIGTERM:\n%s", logs)
	}
	out := logs.String()
	for _, want := range []string{"stopping intake", "draining the engine queue", "shutdown complete"} {
		require.Contains(t, out, want)
	}
	require.Less(t, strings.Index(out, "stopping intake"), strings.Index(out, "draining the engine queue"), "intake stops before the drain")
}

func TestBadFlagsAndConfigExitNonZero(t *testing.T) {
	require.Equal(t, 2, run([]string{"--no-such-flag"}))
	cfg := filepath.Join(t.TempDir(), "bad.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("nope: 1\n"), 0o644))
	require.Equal(t, 1, run([]string{"--config.file=" + cfg, "--web.listen-address=127.0.0.1:0", "--storage.path=" + t.TempDir(), "--log.level=error"}))
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
