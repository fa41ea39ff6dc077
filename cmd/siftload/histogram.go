package main

import (
	"math"
	"math/bits"
	"time"
)

// histogram records durations in log-linear buckets, as HDR histograms
// do: exact below 128ns, then 64 buckets per power of two, so a bucket is
// at most 1/64 (1.6%) of its values wide and a quantile's midpoint is
// within 0.8% of the truth. Recording is an array increment; the whole
// range of int64 fits in 3,712 counters. Each worker has its own and the
// run merges them at the end.
type histogram struct {
	counts   [histBuckets]uint64
	n        uint64
	min, max time.Duration
}

const (
	histSubBits = 7
	histHalf    = 1 << (histSubBits - 1)
	histBuckets = 1<<histSubBits + (63-histSubBits)*histHalf // int64 has 63 bits
)

// bucketOf is the bucket of v ns; negative values count as 0.
func bucketOf(v int64) int {
	if v < 0 {
		v = 0
	}
	u := uint64(v)
	if u < 1<<histSubBits {
		return int(u)
	}
	shift := bits.Len64(u) - histSubBits
	return 1<<histSubBits + (shift-1)*histHalf + int(u>>uint(shift)) - histHalf
}

// bucketBounds is the range [lo, hi) of bucket i in ns.
func bucketBounds(i int) (lo, hi int64) {
	if i < 1<<histSubBits {
		return int64(i), int64(i) + 1
	}
	j := i - 1<<histSubBits
	shift := uint(j/histHalf + 1)
	m := int64(j%histHalf + histHalf)
	lo = m << shift
	hi = (m + 1) << shift
	if hi < lo { // the last buckets overflow int64
		hi = math.MaxInt64
	}
	return lo, hi
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(int64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
}

func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
}

// quantile is the nearest-rank q-quantile (0 < q <= 1): the value below
// or at which at least q of the recordings fall, as its bucket's midpoint
// clamped to the recorded min and max; the first and last ranks are the
// exact min and max. 0 when nothing was recorded.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	switch {
	case rank <= 1:
		return h.min
	case rank >= h.n:
		return h.max
	}
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			lo, hi := bucketBounds(i)
			v := time.Duration(lo + (hi-1-lo)/2)
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}
