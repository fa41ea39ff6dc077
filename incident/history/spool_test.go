package history

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/correlate"
	"github.com/sift-itsm/sift/ingest"
)

func TestSpoolRoundTripAndOrder(t *testing.T) {
	dir := t.TempDir()
	sp, files, bad, err := openSpool(dir)
	require.NoError(t, err)
	require.Empty(t, files)
	require.Empty(t, bad)
	r := &Rows{
		Events: []EventRow{{ID: EventID{Run: 1, Seq: 2, Idx: 3}, Fingerprint: 4, ReceivedNs: 5, Status: ingest.StatusResolved,
			Severity: ingest.SeverityMajor, Labels: ingest.NewLabels(ingest.Label{Name: "a", Value: "b"})}},
		AlertStates: []AlertStateRow{{Fingerprint: 4, Version: 2, Kind: correlate.AlertResolved, Expired: true}},
		Incidents:   []IncidentRow{{ID: "INC0000001", CIIDs: []string{"db1"}}},
	}
	// Written out of order (10 before 2): opened again, they come in
	// number order, and new numbers continue after the highest.
	_, err = sp.write(r, 10)
	require.NoError(t, err)
	_, err = sp.write(&Rows{Events: []EventRow{{ID: EventID{Seq: 1}}}}, 2)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "00000000000000000011.batch.tmp"), []byte("half"), 0o644))

	sp, files, bad, err = openSpool(dir)
	require.NoError(t, err)
	require.Empty(t, bad)
	require.Len(t, files, 2)
	require.Equal(t, uint64(11), sp.next)
	require.Equal(t, counts{1}, files[0].counts)
	require.Equal(t, counts{1, 1, 1}, files[1].counts)
	got, err := sp.read(files[1])
	require.NoError(t, err)
	require.Equal(t, r, got)
	_, err = os.Stat(filepath.Join(dir, "00000000000000000011.batch.tmp"))
	require.ErrorIs(t, err, os.ErrNotExist, "a temporary file of a crashed write is deleted")
}

func TestSpoolDetectsCorruption(t *testing.T) {
	dir := t.TempDir()
	sp, _, _, err := openSpool(dir)
	require.NoError(t, err)
	f, err := sp.write(eventRows(1), 1)
	require.NoError(t, err)
	b, err := os.ReadFile(f.path)
	require.NoError(t, err)
	b[len(b)-3] ^= 0xff
	require.NoError(t, os.WriteFile(f.path, b, 0o644))
	_, err = sp.read(f)
	require.ErrorIs(t, err, errCorrupt)

	// A truncated file is reported at open.
	f2, err := sp.write(eventRows(2), 2)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(f2.path, f2.size-1))
	_, files, bad, err := openSpool(dir)
	require.NoError(t, err)
	require.Len(t, files, 1)
	require.Equal(t, []string{f2.path}, bad)
}
