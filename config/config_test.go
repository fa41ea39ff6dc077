package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/alecthomas/units"
	"github.com/stretchr/testify/require"
)

func TestLoadGood(t *testing.T) {
	c, err := Load("testdata/good.yml")
	require.NoError(t, err)
	require.Equal(t, Bytes(16*units.MiB), c.Ingest.MaxBodySize)
	require.Equal(t, Duration(2*time.Second), c.Ingest.RetryAfter)
	require.Equal(t, 100000, c.Engine.QueueCapacity)
	require.Equal(t, 500, c.Engine.BatchMaxEvents)
	require.Equal(t, Duration(10*time.Millisecond), c.Engine.BatchMaxWait)
	require.Equal(t, Duration(10*time.Minute), c.Engine.ResolveTimeout)
	require.Equal(t, Duration(2*time.Hour), c.Engine.ResolvedRetention)
	require.Equal(t, Duration(500*time.Millisecond), c.Engine.TickInterval)
	require.NotZero(t, c.Hash())
}

func TestOmittedKeysTakeDefaults(t *testing.T) {
	c, err := Parse([]byte("engine:\n  resolve_timeout: 1m\n"))
	require.NoError(t, err)
	d := Default()
	require.Equal(t, Duration(time.Minute), c.Engine.ResolveTimeout)
	require.Equal(t, d.Engine.BatchMaxEvents, c.Engine.BatchMaxEvents)
	require.Equal(t, d.Ingest.MaxBodySize, c.Ingest.MaxBodySize)

	c, err = Parse(nil)
	require.NoError(t, err, "an empty file is all defaults")
	require.Equal(t, d.Engine, c.Engine)
}

func TestDefaultIsValid(t *testing.T) {
	require.NoError(t, Default().Validate())
	require.Zero(t, Default().Hash())
}

func TestLoadBad(t *testing.T) {
	for file, want := range map[string][]string{
		"unknown_key.bad.yml":     {"line 3", "resolve_timout"},
		"bad_duration.bad.yml":    {"line 2", "soon"},
		"out_of_range.bad.yml":    {"ingest.max_body_size", "engine.batch_max_events", "10B"},
		"bad_size.bad.yml":        {"line 2", "lots"},
		"empty_cmdb_file.bad.yml": {"cmdb.files[1]", "must not be empty"},
	} {
		t.Run(file, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", file))
			require.Error(t, err)
			require.Contains(t, err.Error(), file, "the error names the file")
			for _, w := range want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestEveryBadFileIsTested(t *testing.T) {
	// A bad file added to testdata without a case would pass unnoticed.
	files, err := filepath.Glob("testdata/*.bad.yml")
	require.NoError(t, err)
	require.Len(t, files, 5)
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yml"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestRulesFilesResolveAgainstTheConfigFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sift.yml")
	require.NoError(t, os.WriteFile(path, []byte("rules:\n  files: [rules/*.yml, /etc/sift/extra.yml]\n"), 0o644))
	c, err := Load(path)
	require.NoError(t, err)
	require.Equal(t, []string{filepath.Join(dir, "rules/*.yml"), "/etc/sift/extra.yml"}, c.Rules.Files)
	require.Empty(t, Default().Rules.Files, "no rule files by default: the built-in rules")

	_, err = Parse([]byte("rules:\n  files: ['']\n"))
	require.ErrorContains(t, err, "rules.files[0]: must not be empty")
}

func TestCMDBFilesResolveAgainstConfigDir(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sift.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("cmdb:\n  files: [cmdb/cis.csv, /abs/cmdb.yml]\n"), 0o644))
	c, err := Load(cfg)
	require.NoError(t, err)
	require.Equal(t, []string{filepath.Join(dir, "cmdb/cis.csv"), "/abs/cmdb.yml"}, c.CMDB.Files)
	require.Empty(t, Default().CMDB.Files, "no CMDB by default")
}

func TestSLATargets(t *testing.T) {
	c, err := Parse([]byte("sla:\n  targets:\n    P1: {respond: 5m, resolve: 1h}\n"))
	require.NoError(t, err)
	require.Equal(t, Duration(5*time.Minute), c.SLA.Targets["P1"].Respond)
	require.True(t, c.SLA.PauseOnHold)
	_, err = Parse([]byte("sla:\n  targets:\n    P9: {respond: 5m, resolve: 1h}\n"))
	require.ErrorContains(t, err, "sla.targets.P9: priority must be P1 to P5")
	_, err = Parse([]byte("sla:\n  targets:\n    P2: {respond: 0s, resolve: 1h}\n"))
	require.ErrorContains(t, err, "sla.targets.P2.respond: must be over 0")
}
