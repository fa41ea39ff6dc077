package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCommittedExamplesAreGenerated fails when deploy/examples was edited
// by hand or the generator changed without regenerating.
func TestCommittedExamplesAreGenerated(t *testing.T) {
	for name, want := range files() {
		got, err := os.ReadFile(filepath.Join("..", name))
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "%s differs from the generator's output: run go run ./deploy/examples/cmdbgen", name)
	}
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, write(dir))
	for name := range files() {
		_, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
	}
}
