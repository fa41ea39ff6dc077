package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/alecthomas/units"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestHistoryDefaultsOff(t *testing.T) {
	h := Default().History.ClickHouse
	require.False(t, h.Enabled())
	require.Equal(t, "sift", h.Database)
	require.Equal(t, 200000, h.BatchMaxRows)
	require.Equal(t, 1000000, h.QueueMaxRows)
	require.Equal(t, Duration(time.Second), h.BatchMaxWait)
	require.Equal(t, Bytes(units.GiB), h.SpoolMaxSize)
	require.Equal(t, Duration(90*24*time.Hour), h.Retention.Events)
	require.Equal(t, Duration(730*24*time.Hour), h.Retention.Problems)
}

func TestHistoryLoad(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "siftd.yml")
	require.NoError(t, os.WriteFile(file, []byte(`
history:
  clickhouse:
    addresses: [ch1:9000, "[::1]:9440"]
    database: hist
    password_file: secrets/ch
    tls: {enabled: true, ca_file: /etc/ca.pem}
    batch_max_rows: 1000
    spool_max_size: 64MiB
    retention: {events: 30d, notifications: 0}
`), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "secrets"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secrets", "ch"), []byte("s3cret\n"), 0o600))
	c, err := Load(file)
	require.NoError(t, err)
	h := c.History.ClickHouse
	require.True(t, h.Enabled())
	require.Equal(t, []string{"ch1:9000", "[::1]:9440"}, h.Addresses)
	require.Equal(t, filepath.Join(dir, "secrets", "ch"), h.PasswordFile, "relative to the config file")
	require.Equal(t, "/etc/ca.pem", h.TLS.CAFile)
	require.Equal(t, Duration(30*24*time.Hour), h.Retention.Events)
	require.Zero(t, h.Retention.Notifications)
	require.Equal(t, Duration(730*24*time.Hour), h.Retention.AlertStates, "omitted keys keep their default")
	pw, err := h.HistoryPassword(os.ReadFile)
	require.NoError(t, err)
	require.Equal(t, "s3cret", pw)
}

func TestHistoryInvalid(t *testing.T) {
	_, err := Parse([]byte(`
history:
  clickhouse:
    addresses: [nohost]
    password: a
    password_file: b
    tls: {cert_file: c}
    batch_max_rows: 0
    batch_max_wait: 1ms
    spool_max_size: 1KiB
    retention: {events: 36h}
`))
	require.Error(t, err)
	for _, w := range []string{
		`history.clickhouse.addresses: "nohost" is not host:port`,
		"history.clickhouse.password_file: set password or password_file, not both",
		"history.clickhouse.tls: cert_file and key_file go together",
		"history.clickhouse.batch_max_rows",
		"history.clickhouse.batch_max_wait",
		"history.clickhouse.spool_max_size",
		"history.clickhouse.retention.events: must be whole days",
	} {
		require.Contains(t, err.Error(), w)
	}
}

func TestHistoryPasswordNeverPrints(t *testing.T) {
	c := Default()
	c.History.ClickHouse.Password = "hunter2"
	b, err := yaml.Marshal(c)
	require.NoError(t, err)
	require.NotContains(t, string(b), "hunter2")
	require.Contains(t, string(b), "<secret>")
}
