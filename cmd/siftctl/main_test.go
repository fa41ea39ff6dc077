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
