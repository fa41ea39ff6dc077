package config

import (
	"net"
	"time"

	"github.com/alecthomas/units"
)

// HistoryConfig configures history in ClickHouse (package
// incident/history). Changes take effect at restart.
type HistoryConfig struct {
	ClickHouse ClickHouseConfig `yaml:"clickhouse"`
}

// ClickHouseConfig is history.clickhouse. History is off while Addresses
// is empty.
type ClickHouseConfig struct {
	// Addresses are host:port of ClickHouse's native protocol.
	Addresses []string `yaml:"addresses"`
	// Database is created if missing.
	Database     string    `yaml:"database"`
	Username     string    `yaml:"username"`
	Password     Secret    `yaml:"password"`
	PasswordFile string    `yaml:"password_file"`
	TLS          TLSConfig `yaml:"tls"`
	DialTimeout  Duration  `yaml:"dial_timeout"`
	ReadTimeout  Duration  `yaml:"read_timeout"`
	// Compression of what is sent: lz4, zstd or none.
	Compression string `yaml:"compression"`
	// A batch is sent at BatchMaxRows rows or when BatchMaxWait old.
	BatchMaxRows int      `yaml:"batch_max_rows"`
	BatchMaxWait Duration `yaml:"batch_max_wait"`
	// QueueMaxRows bounds rows in memory; past it batches spool to disk.
	QueueMaxRows int `yaml:"queue_max_rows"`
	// SpoolMaxSize bounds the spool under the storage path.
	SpoolMaxSize Bytes           `yaml:"spool_max_size"`
	Retention    RetentionConfig `yaml:"retention"`
}

// Enabled reports whether history is on.
func (c *ClickHouseConfig) Enabled() bool { return len(c.Addresses) > 0 }

// TLSConfig configures TLS to a server. Paths are relative to the config
// file.
type TLSConfig struct {
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

func (t *TLSConfig) validate(key string, check checkFunc) {
	check((t.CertFile == "") == (t.KeyFile == ""), key, "cert_file and key_file go together")
}

// resolvePaths makes the file paths relative to dir absolute.
func (t *TLSConfig) resolvePaths(dir string) {
	resolvePaths(dir, &t.CAFile, &t.CertFile, &t.KeyFile)
}

// RetentionConfig is how long each history table keeps rows; 0 keeps
// them forever. Whole days.
type RetentionConfig struct {
	Events           Duration `yaml:"events"`
	AlertStates      Duration `yaml:"alert_states"`
	Incidents        Duration `yaml:"incidents"`
	IncidentTimeline Duration `yaml:"incident_timeline"`
	Problems         Duration `yaml:"problems"`
	Notifications    Duration `yaml:"notifications"`
}

func defaultHistory() HistoryConfig {
	twoYears := Duration(2 * 365 * 24 * time.Hour)
	return HistoryConfig{ClickHouse: ClickHouseConfig{
		Database:     "sift",
		Username:     "default",
		DialTimeout:  Duration(5 * time.Second),
		ReadTimeout:  Duration(30 * time.Second),
		Compression:  "lz4",
		BatchMaxRows: 200000,
		BatchMaxWait: Duration(time.Second),
		QueueMaxRows: 1000000,
		SpoolMaxSize: Bytes(units.GiB),
		Retention: RetentionConfig{
			Events:           Duration(90 * 24 * time.Hour),
			AlertStates:      twoYears,
			Incidents:        twoYears,
			IncidentTimeline: twoYears,
			Problems:         twoYears,
			Notifications:    twoYears,
		},
	}}
}

// resolvePaths makes file paths relative to the config file's directory.
func (h *HistoryConfig) resolvePaths(dir string) {
	c := &h.ClickHouse
	resolvePaths(dir, &c.PasswordFile)
	c.TLS.resolvePaths(dir)
}

func (h *HistoryConfig) validate(check checkFunc) {
	const p = "history.clickhouse."
	c := &h.ClickHouse
	for _, a := range c.Addresses {
		_, port, err := net.SplitHostPort(a)
		check(err == nil && port != "", p+"addresses", "%q is not host:port", a)
	}
	check(c.Database != "", p+"database", "must not be empty")
	check(c.Password == "" || c.PasswordFile == "", p+"password_file", "set password or password_file, not both")
	c.TLS.validate(p+"tls", check)
	check(c.DialTimeout > 0, p+"dial_timeout", "must be over 0, got %s", c.DialTimeout)
	check(c.ReadTimeout > 0, p+"read_timeout", "must be over 0, got %s", c.ReadTimeout)
	check(c.Compression == "lz4" || c.Compression == "zstd" || c.Compression == "none", p+"compression", "must be lz4, zstd or none, got %q", c.Compression)
	check(c.BatchMaxRows >= 1 && c.BatchMaxRows <= 1000000, p+"batch_max_rows", "must be from 1 to 1000000, got %d", c.BatchMaxRows)
	check(c.BatchMaxWait >= Duration(10*time.Millisecond) && c.BatchMaxWait <= Duration(time.Minute), p+"batch_max_wait", "must be from 10ms to 1m, got %s", c.BatchMaxWait)
	check(c.QueueMaxRows >= c.BatchMaxRows && c.QueueMaxRows <= 1<<26, p+"queue_max_rows", "must be from batch_max_rows (%d) to %d, got %d", c.BatchMaxRows, 1<<26, c.QueueMaxRows)
	check(c.SpoolMaxSize >= Bytes(units.MiB), p+"spool_max_size", "must be at least 1MiB, got %s", c.SpoolMaxSize)
	r := &c.Retention
	for _, d := range []struct {
		key string
		v   Duration
	}{{"events", r.Events}, {"alert_states", r.AlertStates}, {"incidents", r.Incidents},
		{"incident_timeline", r.IncidentTimeline}, {"problems", r.Problems}, {"notifications", r.Notifications}} {
		check(d.v >= 0 && time.Duration(d.v)%(24*time.Hour) == 0, p+"retention."+d.key, "must be whole days (e.g. 90d, 2y) or 0 for forever, got %s", d.v)
	}
}

// HistoryPassword returns the ClickHouse password, reading password_file
// when set.
func (c *ClickHouseConfig) HistoryPassword(read func(string) ([]byte, error)) (string, error) {
	return ReadSecret("history.clickhouse.password", c.Password, c.PasswordFile, read)
}
