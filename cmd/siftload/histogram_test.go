package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBucketBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	vals := []int64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 40, math.MaxInt64}
	for range 100000 {
		vals = append(vals, rng.Int64N(1<<uint(rng.IntN(62)+1)))
	}
	for _, v := range vals {
		i := bucketOf(v)
		require.Less(t, i, histBuckets)
		lo, hi := bucketBounds(i)
		require.True(t, lo <= v && (v < hi || hi == math.MaxInt64), "v=%d bucket %d [%d,%d)", v, i, lo, hi)
		if v >= 128 {
			require.LessOrEqual(t, float64(hi-lo)/float64(lo), 1.0/64+1e-12)
		} else {
			require.Equal(t, lo, v)
		}
	}
	// Buckets tile the line: each starts where the previous ended.
	for i := 1; i < histBuckets; i++ {
		_, prevHi := bucketBounds(i - 1)
		lo, _ := bucketBounds(i)
		require.Equal(t, prevHi, lo, "bucket %d", i)
	}
	require.Equal(t, 0, bucketOf(-5))
	require.Equal(t, histBuckets-1, bucketOf(math.MaxInt64))
}

// exactQuantile is the nearest-rank quantile of sorted values.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	r := max(int(math.Ceil(q*float64(len(sorted)))), 1)
	return sorted[r-1]
}

func TestQuantiles(t *testing.T) {
	var h histogram
	require.Zero(t, h.quantile(.5))

	// 1ms..1000ms uniformly.
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{.5: 500 * time.Millisecond, .9: 900 * time.Millisecond, .99: 990 * time.Millisecond} {
		got := h.quantile(q)
		require.InEpsilon(t, float64(want), float64(got), 0.01, "q=%g: %s", q, got)
	}
	require.Equal(t, time.Second, h.quantile(1))
	require.Equal(t, time.Millisecond, h.quantile(0.0001), "the lowest rank clamps to the minimum")

	// Small values are exact.
	var s histogram
	for _, v := range []time.Duration{5, 1, 3, 2, 4} {
		s.record(v)
	}
	require.Equal(t, time.Duration(3), s.quantile(.5))
	require.Equal(t, time.Duration(5), s.quantile(.9))
	require.Equal(t, time.Duration(1), s.quantile(.1))

	// A skewed random sample against the exact nearest rank.
	rng := rand.New(rand.NewPCG(3, 4))
	var r histogram
	var all []time.Duration
	for range 50000 {
		d := time.Duration(rng.ExpFloat64() * float64(5*time.Millisecond))
		r.record(d)
		all = append(all, d)
	}
	slices.Sort(all)
	for _, q := range []float64{.5, .9, .99, .999} {
		require.InEpsilon(t, float64(exactQuantile(all, q)), float64(r.quantile(q)), 0.01, "q=%g", q)
	}
	require.Equal(t, all[len(all)-1], r.quantile(1))
}

func TestHistogramMerge(t *testing.T) {
	var a, b, all histogram
	for i := 1; i <= 2000; i++ {
		d := time.Duration(i) * time.Microsecond
		all.record(d)
		if i%3 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
	}
	var m histogram
	m.merge(&a)
	m.merge(&histogram{})
	m.merge(&b)
	require.Equal(t, all, m)
	require.Equal(t, uint64(2000), m.n)
	require.Equal(t, time.Microsecond, m.min)
	require.Equal(t, 2*time.Millisecond, m.max)
}
