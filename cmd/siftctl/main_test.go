package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	bad := filepath.Join(dir, "bad.yml")
	require.NoError(t, os.WriteFile(good, []byte("engine:\n  resolve_timeout: 10m\n"), 0o644))
	require.NoError(t, os.WriteFile(bad, []byte("engine:\n  resolve_timeout: 10m\n  batch_size: 5\n"), 0o644))

	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"check", "config", good}, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "SUCCESS: "+good)

	out.Reset()
	errOut.Reset()
	require.Equal(t, 1, run([]string{"check", "config", good, bad}, &out, &errOut))
	require.Contains(t, out.String(), "SUCCESS: "+good, "a bad file does not hide the good one")
	require.Contains(t, errOut.String(), "FAILED")
	require.Contains(t, errOut.String(), "batch_size", "names the bad key")
	require.Contains(t, errOut.String(), "line 3")
	require.Contains(t, errOut.String(), bad)

	errOut.Reset()
	require.Equal(t, 2, run([]string{"check", "config", filepath.Join(dir, "missing.yml")}, &out, &errOut))
	require.Equal(t, 2, run([]string{"frobnicate"}, &out, &errOut))
	require.Equal(t, 2, run(nil, &out, &errOut), "no command is a usage error")
	errOut.Reset()
	require.Equal(t, 0, run([]string{"--help"}, &out, &errOut))
	require.Contains(t, errOut.String(), "check config")
}

func TestShippedExampleConfigIsValid(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"check", "config", "../../deploy/siftd.yml"}, &out, &errOut), errOut.String())
}

func TestRulesCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	other := filepath.Join(dir, "other.yml")
	bad := filepath.Join(dir, "bad.yml")
	require.NoError(t, os.WriteFile(good, []byte("correlation_rules:\n  - name: a\ninhibit_rules:\n  - {source_match: ['a=\"1\"'], target_match: ['a=\"2\"']}\n"), 0o644))
	require.NoError(t, os.WriteFile(other, []byte("correlation_rules:\n  - name: a\n"), 0o644))
	require.NoError(t, os.WriteFile(bad, []byte("correlation_rules:\n  - name: b\n    window: soon\n    topology: {max_hops: 99}\n"), 0o644))

	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"rules", "check", good}, &out, &errOut), errOut.String())
	require.Equal(t, "SUCCESS: "+good+": 1 correlation rules (plus the default), 1 inhibit rules, 0 maintenance windows\n", out.String())

	out.Reset()
	errOut.Reset()
	require.Equal(t, 1, run([]string{"rules", "check", bad, good}, &out, &errOut))
	require.Contains(t, out.String(), "SUCCESS: "+good, "a bad file does not hide the good one")
	require.Contains(t, errOut.String(), "FAILED: "+bad)
	require.Contains(t, errOut.String(), bad+":3:13: correlation_rules[0].window: \"soon\" is not a duration")
	require.Contains(t, errOut.String(), bad+":4:26: correlation_rules[0].topology.max_hops: must be from 1 to 10, got 99", "every error")

	errOut.Reset()
	require.Equal(t, 1, run([]string{"rules", "check", good, other}, &out, &errOut), "names clash across files")
	require.Contains(t, errOut.String(), `correlation rule "a" is already defined at `+good+":2")

	require.Equal(t, 2, run([]string{"rules", "check", filepath.Join(dir, "missing.yml")}, &out, &errOut))
	require.Equal(t, 2, run([]string{"rules"}, &out, &errOut))
}

func TestShippedExampleRulesAreValid(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"rules", "check", "../../deploy/examples/rules.yml"}, &out, &errOut), errOut.String())
}
