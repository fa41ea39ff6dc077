package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCMDBCheck(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"cmdb", "check", "../../deploy/examples/cmdb.yml"}, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "SUCCESS: ../../deploy/examples/cmdb.yml: 310 CIs")
	require.Contains(t, out.String(), "host                 160")

	out.Reset()
	require.Equal(t, 0, run([]string{"cmdb", "check", "../../deploy/examples/cmdb/cis.csv", "../../deploy/examples/cmdb/relations.csv"}, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "SUCCESS")

	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	require.NoError(t, os.WriteFile(bad, []byte("cis:\n  - {id: a, criticality: 9}\n  - {id: b}\nrelations:\n  - {from: b, type: runs_on, to: c}\n"), 0o644))
	out.Reset()
	errOut.Reset()
	require.Equal(t, 1, run([]string{"cmdb", "check", bad}, &out, &errOut))
	require.Contains(t, errOut.String(), "FAILED: 1 errors in "+bad)
	require.Contains(t, errOut.String(), bad+":2: cis[0].criticality")

	// Decoding passes: the whole-set check names the unknown CI.
	require.NoError(t, os.WriteFile(bad, []byte("cis:\n  - {id: a}\nrelations:\n  - {from: a, type: runs_on, to: c}\n  - {from: x, type: runs_on, to: a}\n"), 0o644))
	errOut.Reset()
	require.Equal(t, 1, run([]string{"cmdb", "check", bad}, &out, &errOut))
	require.Contains(t, errOut.String(), "FAILED: 2 errors")
	require.Contains(t, errOut.String(), bad+`:4: relations[0].to: relation to unknown CI "c"`)
	require.Contains(t, errOut.String(), bad+`:5: relations[1].from: relation to unknown CI "x"`)

	require.Equal(t, 2, run([]string{"cmdb", "check", filepath.Join(dir, "missing.yml")}, &out, &errOut))
	require.Equal(t, 2, run([]string{"cmdb", "check"}, &out, &errOut))
}
