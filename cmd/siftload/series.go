package main

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// seriesGen decides which series each event of the introduction phase
// is: with probability 1-dup the next series not sent yet, otherwise a
// repeat of a random series already sent. Series are introduced in order
// 0, 1, 2... across all workers, so the stream is one sequence however
// many workers draw from it. Once every series is introduced it is
// finished and workers switch to their pre-encoded steady-state pools, in
// which every event is a repeat.
//
// The first event of a series is always firing: siftd ignores a resolve
// for an alert it does not hold, so a series introduced by a resolve
// would never show up. Repeats are resolved with probability resolve.
//
// A generator draws from a share of the series (see share): all of them,
// or with --partition one worker's.
//
// Concurrency: draw may be called from any goroutine.
type seriesGen struct {
	mu           sync.Mutex
	rng          *rand.Rand
	share        share
	dup, resolve float64
	introduced   int

	finished atomic.Bool
}

// share is a set of series: first, first+stride, first+2*stride...,
// count of them. Series numbers, not indices, are what bodies encode.
type share struct{ first, stride, count int }

// allSeries is the share of every series, 0 to n-1.
func allSeries(n int) share { return share{first: 0, stride: 1, count: n} }

// workerShare is worker w's share of n series among workers workers: the
// series equal to w modulo workers.
func workerShare(n, w, workers int) share {
	return share{first: w, stride: workers, count: (n - w + workers - 1) / workers}
}

// nth is the i-th series of the share.
func (s share) nth(i int) int { return s.first + i*s.stride }

func newSeriesGen(series int, dup, resolve float64, seed uint64) *seriesGen {
	return newShareGen(allSeries(series), dup, resolve, seed, 0)
}

// newShareGen returns a generator over a share, drawing from random
// stream stream of the seed.
func newShareGen(sh share, dup, resolve float64, seed, stream uint64) *seriesGen {
	return &seriesGen{rng: rand.New(rand.NewPCG(seed, stream)), share: sh, dup: dup, resolve: resolve}
}

// canFinish reports whether every series will ever be introduced: not
// with a duplicate ratio of 1, where only the first is.
func (g *seriesGen) canFinish() bool { return g.dup < 1 || g.share.count <= 1 }

// draw appends the next n specs to dst, or returns nil when every series
// has been introduced already.
func (g *seriesGen) draw(dst []spec, n int) []spec {
	if g.finished.Load() {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.introduced >= g.share.count {
		g.finished.Store(true)
		return nil
	}
	for range n {
		dst = append(dst, g.next())
	}
	if g.introduced >= g.share.count {
		g.finished.Store(true)
	}
	return dst
}

func (g *seriesGen) next() spec {
	if g.introduced < g.share.count && (g.introduced == 0 || g.rng.Float64() >= g.dup) {
		g.introduced++
		return spec{series: g.share.nth(g.introduced - 1)}
	}
	return spec{series: g.share.nth(g.rng.IntN(g.introduced)), resolved: g.rng.Float64() < g.resolve}
}

// Introduced is how many distinct series have been drawn.
func (g *seriesGen) Introduced() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.introduced
}

// introducedSeries appends the series drawn so far to dst.
func (g *seriesGen) introducedSeries(dst []int) []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range g.introduced {
		dst = append(dst, g.share.nth(i))
	}
	return dst
}

// steadySpecs appends n steady-state specs: repeats of random series of
// the share.
func steadySpecs(dst []spec, n int, rng *rand.Rand, sh share, resolve float64) []spec {
	for range n {
		dst = append(dst, spec{series: sh.nth(rng.IntN(sh.count)), resolved: rng.Float64() < resolve})
	}
	return dst
}
