package history

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Options configures a Store.
type Options struct {
	// Addresses are host:port of the native protocol (9000, or 9440 with
	// TLS); the driver fails over between them in order.
	Addresses []string
	// Database is created if missing.
	Database string
	Username string
	Password string
	// TLS, when set, encrypts the connections.
	TLS *tls.Config
	// DialTimeout bounds a connection attempt; ReadTimeout one read from
	// the server.
	DialTimeout time.Duration
	ReadTimeout time.Duration
	// Compression of the data sent: "lz4" (the default), "zstd" or
	// "none". On loopback or a fast LAN "none" saves both ends the CPU.
	Compression string
	// Retention per table; DefaultRetention when nil, and tables missing
	// from it keep their default.
	Retention Retention
	Logger    *slog.Logger
	// Now is the clock of retention; time.Now when nil.
	Now func() time.Time
}

func (o *Options) validate() error {
	if len(o.Addresses) == 0 {
		return errors.New("history: no ClickHouse address")
	}
	if o.Database == "" {
		o.Database = "sift"
	}
	if o.Username == "" {
		o.Username = "default"
	}
	switch o.Compression {
	case "":
		o.Compression = "lz4"
	case "lz4", "zstd", "none":
	default:
		return fmt.Errorf("history: unknown compression %q: want lz4, zstd or none", o.Compression)
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 30 * time.Second
	}
	r := DefaultRetention()
	for t, d := range o.Retention {
		if _, ok := timeColumn[t]; !ok {
			return fmt.Errorf("history: retention for unknown table %q", t)
		}
		r[t] = d
	}
	o.Retention = r
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Store is the ClickHouse side of history: connections, schema, inserts
// and queries. Safe for concurrent use.
type Store struct {
	o    Options
	conn driver.Conn

	// encMu guards enc, the column buffers of events inserts.
	encMu sync.Mutex
	enc   eventBuffers

	mu       sync.Mutex
	prepared bool
	features Features
	version  string
	// hourPhase is where the server's hours start, in seconds after the
	// UTC hour: events are sent in the order of toStartOfHour in the
	// server's time zone.
	hourPhase int64
}

// Open returns a Store. It does not connect: Prepare does, and may be
// retried while the server is away.
func Open(o Options) (*Store, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr: o.Addresses,
		// No database in the handshake: it may not exist yet, and every
		// statement names it.
		Auth:             clickhouse.Auth{Username: o.Username, Password: o.Password},
		TLS:              o.TLS,
		DialTimeout:      o.DialTimeout,
		ReadTimeout:      o.ReadTimeout,
		ConnOpenStrategy: clickhouse.ConnOpenInOrder,
		MaxOpenConns:     8,
		MaxIdleConns:     4,
		Compression:      compression(o.Compression),
		ClientInfo: clickhouse.ClientInfo{Products: []struct{ Name, Version string }{
			{Name: "siftd"},
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("history: opening ClickHouse client: %w", err)
	}
	return &Store{o: o, conn: conn}, nil
}

func compression(name string) *clickhouse.Compression {
	switch name {
	case "none":
		return nil
	case "zstd":
		return &clickhouse.Compression{Method: clickhouse.CompressionZSTD}
	}
	return &clickhouse.Compression{Method: clickhouse.CompressionLZ4}
}

// Close closes the connections.
func (s *Store) Close() error { return s.conn.Close() }

// Database is the database the tables live in.
func (s *Store) Database() string { return s.o.Database }

// Features are the server's features; valid after Prepare.
func (s *Store) Features() Features {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.features
}

// ServerVersion is the server's version string; valid after Prepare.
func (s *Store) ServerVersion() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// Prepared reports whether Prepare has succeeded.
func (s *Store) Prepared() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.prepared
}

func (s *Store) table(t string) string { return quoteIdent(s.o.Database) + "." + t }

// Prepare connects, reads the server version, creates the database,
// applies pending migrations and the retention settings. After one
// success it does nothing; after a failure the next call starts over
// (every step is idempotent).
func (s *Store) Prepare(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.prepared {
		return nil
	}
	v, err := s.conn.ServerVersion()
	if err != nil {
		return fmt.Errorf("connecting to ClickHouse: %w", err)
	}
	s.version = fmt.Sprintf("%d.%d.%d", v.Version.Major, v.Version.Minor, v.Version.Patch)
	s.features = featuresOf(v.Version.Major, v.Version.Minor)
	var hourStart uint32
	if err := s.conn.QueryRow(ctx, "SELECT toUInt32(toStartOfHour(toDateTime(1700000000)))").Scan(&hourStart); err != nil {
		return fmt.Errorf("reading the server's time zone: %w", err)
	}
	s.hourPhase = int64(hourStart % 3600)
	if err := s.conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(s.o.Database)); err != nil {
		return fmt.Errorf("creating database %q: %w", s.o.Database, err)
	}
	if err := s.migrate(ctx); err != nil {
		return err
	}
	if err := s.applyRetention(ctx); err != nil {
		return err
	}
	s.prepared = true
	s.o.Logger.Info("ClickHouse history ready", "server_version", s.version, "database", s.o.Database,
		"schema_version", schemaVersion(), "ttl", s.features.TTL)
	return nil
}

// SchemaVersion is the highest migration applied to the database.
func (s *Store) SchemaVersion(ctx context.Context) (uint32, error) {
	var v uint32
	err := s.conn.QueryRow(ctx, "SELECT max(version) FROM "+s.table(tableMigrations)).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("reading schema version: %w", err)
	}
	return v, nil
}

func (s *Store) migrate(ctx context.Context) error {
	if err := s.conn.Exec(ctx, expand(migrationsDDL, s.o.Database)); err != nil {
		return fmt.Errorf("creating %s: %w", tableMigrations, err)
	}
	cur, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if cur > schemaVersion() {
		s.o.Logger.Warn("the history schema is newer than this siftd; writing with the columns it knows",
			"database_version", cur, "siftd_version", schemaVersion())
	}
	for _, m := range migrations {
		if m.version <= cur {
			continue
		}
		for _, stmt := range m.statements {
			if err := s.conn.Exec(ctx, expand(stmt, s.o.Database)); err != nil {
				return fmt.Errorf("schema migration %d (%s): %w", m.version, m.name, err)
			}
		}
		for _, c := range m.columns {
			if err := s.addColumn(ctx, c); err != nil {
				return fmt.Errorf("schema migration %d (%s): %w", m.version, m.name, err)
			}
		}
		// An INSERT goes through PrepareBatch: 18.16 never answers an
		// INSERT ... VALUES sent with Exec.
		if err := s.record(ctx, m); err != nil {
			return fmt.Errorf("recording schema migration %d: %w", m.version, err)
		}
		s.o.Logger.Info("applied history schema migration", "version", m.version, "name", m.name)
	}
	return nil
}

// addColumn adds c unless its table has a column of that name (another
// siftd applying the same migration got there first).
func (s *Store) addColumn(ctx context.Context, c newColumn) error {
	var n uint64
	err := s.conn.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = ? AND table = ? AND name = ?",
		s.o.Database, c.table, c.name).Scan(&n)
	if err != nil {
		return fmt.Errorf("reading the columns of %s: %w", c.table, err)
	}
	if n > 0 {
		return nil
	}
	if err := s.conn.Exec(ctx, c.statement(s.o.Database)); err != nil {
		return fmt.Errorf("adding column %s to %s: %w", c.name, c.table, err)
	}
	return nil
}

func (s *Store) record(ctx context.Context, m migration) error {
	b, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.table(tableMigrations)+" (version, name, applied_at)")
	if err != nil {
		return err
	}
	defer func() { _ = b.Close() }()
	if err := b.Append(m.version, m.name, s.o.Now().UTC().Truncate(time.Second)); err != nil {
		return err
	}
	return b.Send()
}

// applyRetention puts each table's TTL in force on servers that have
// TTL; it alters only tables whose TTL differs, because a changed TTL
// makes the server rewrite the table's parts. Older servers get their
// retention from EnforceRetention.
func (s *Store) applyRetention(ctx context.Context) error {
	if !s.features.TTL {
		return nil
	}
	rows, err := s.conn.Query(ctx, "SELECT name, engine_full FROM system.tables WHERE database = ?", s.o.Database)
	if err != nil {
		return fmt.Errorf("reading table definitions: %w", err)
	}
	engines := map[string]string{}
	for rows.Next() {
		var name, engine string
		if err := rows.Scan(&name, &engine); err != nil {
			rows.Close()
			return fmt.Errorf("reading table definitions: %w", err)
		}
		engines[name] = engine
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading table definitions: %w", err)
	}
	for _, t := range Tables {
		want := ttlClause(t, s.o.Retention[t])
		has := strings.Contains(engines[t], " TTL ")
		if want != "" && strings.Contains(engines[t], want) || want == "" && !has {
			continue
		}
		if err := s.conn.Exec(ctx, ttlStatement(s.o.Database, t, s.o.Retention[t])); err != nil {
			return fmt.Errorf("setting retention of %s: %w", t, err)
		}
		s.o.Logger.Info("history retention set", "table", t, "ttl", orForever(want))
	}
	return nil
}

func orForever(s string) string {
	if s == "" {
		return "none (kept forever)"
	}
	return s
}

// EnforceRetention drops the monthly partitions past retention on servers
// without TTL, and returns how many it dropped; with TTL the server does
// it and this does nothing. The writer calls it at start and hourly.
func (s *Store) EnforceRetention(ctx context.Context) (int, error) {
	if err := s.Prepare(ctx); err != nil {
		return 0, err
	}
	if s.Features().TTL {
		return 0, nil
	}
	rows, err := s.conn.Query(ctx, "SELECT table, partition FROM system.parts WHERE database = ? AND active GROUP BY table, partition", s.o.Database)
	if err != nil {
		return 0, fmt.Errorf("listing partitions: %w", err)
	}
	parts := map[string][]uint32{}
	for rows.Next() {
		var table, partition string
		if err := rows.Scan(&table, &partition); err != nil {
			rows.Close()
			return 0, fmt.Errorf("listing partitions: %w", err)
		}
		if p, err := strconv.ParseUint(partition, 10, 32); err == nil {
			parts[table] = append(parts[table], uint32(p))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("listing partitions: %w", err)
	}
	dropped := 0
	now := s.o.Now()
	for _, t := range Tables {
		for _, p := range expiredPartitions(parts[t], s.o.Retention[t], now) {
			if err := s.conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s DROP PARTITION %d", s.table(t), p)); err != nil {
				return dropped, fmt.Errorf("dropping partition %d of %s: %w", p, t, err)
			}
			s.o.Logger.Info("history retention: dropped partition", "table", t, "partition", p)
			dropped++
		}
	}
	return dropped, nil
}
