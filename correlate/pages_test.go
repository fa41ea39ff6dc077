package correlate

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/hashicorp/go-memdb"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// TestAlertPages puts and removes random alerts over many transactions
// and checks the table against a plain map after each: lookups, ordered
// iteration from any point, and that a read transaction opened earlier
// still sees its own version (committed pages are never edited).
func TestAlertPages(t *testing.T) {
	db, err := memdb.NewMemDB(schema())
	require.NoError(t, err)
	ps := newAlertPages()
	rng := rand.New(rand.NewPCG(1, 2))
	// Few distinct fingerprints, some sharing a page, so that puts
	// replace, removes hit, and pages empty and refill.
	fps := make([]model.Fingerprint, 300)
	for i := range fps {
		fps[i] = model.Fingerprint(rng.Uint64())
		if i%3 == 1 {
			fps[i] = fps[i-1] ^ model.Fingerprint(rng.IntN(1<<20)+1) // same page
		}
	}
	want := map[model.Fingerprint]*Alert{}
	type snap struct {
		txn  *memdb.Txn
		want map[model.Fingerprint]*Alert
	}
	var old []snap
	for round := range 200 {
		tx := lazyTxn{db: db, pages: ps}
		for range rng.IntN(40) {
			fp := fps[rng.IntN(len(fps))]
			if rng.IntN(3) == 0 {
				tx.delete(&Alert{Fingerprint: fp})
				delete(want, fp)
				continue
			}
			a := &Alert{Fingerprint: fp, Version: uint64(round)}
			tx.insert(a)
			want[fp] = a
		}
		tx.commit()
		if round%20 == 0 {
			old = append(old, snap{db.Txn(false), maps.Clone(want)})
		}
		checkPages(t, db.Txn(false), want, fps)
	}
	for _, o := range old {
		checkPages(t, o.txn, o.want, fps)
	}
	// Pages left empty are gone from memdb.
	it, err := db.Txn(false).Get(tableAlerts, "id")
	require.NoError(t, err)
	for raw := it.Next(); raw != nil; raw = it.Next() {
		require.NotEmpty(t, raw.(*alertPage).alerts)
	}
}

func checkPages(t *testing.T, txn *memdb.Txn, want map[model.Fingerprint]*Alert, fps []model.Fingerprint) {
	t.Helper()
	for _, fp := range fps {
		a, ok := AlertIn(txn, fp)
		require.Equal(t, want[fp] != nil, ok, "fingerprint %v", fp)
		if ok {
			require.Same(t, want[fp], a)
		}
	}
	sorted := slices.Sorted(maps.Keys(want))
	for _, from := range []model.Fingerprint{0, fps[0], fps[1] + 1, ^model.Fingerprint(0)} {
		var got []model.Fingerprint
		for a := range AlertsFrom(txn, from) {
			got = append(got, a.Fingerprint)
		}
		i, _ := slices.BinarySearch(sorted, from)
		require.Equal(t, sorted[i:], append([]model.Fingerprint{}, got...), "from %v", from)
	}
}
