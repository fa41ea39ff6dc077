package wal

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func open(t *testing.T, dir string, mod ...func(*Options)) *Log {
	t.Helper()
	// Small segments: each is zero-filled when prepared.
	o := Options{Dir: dir, Registerer: prometheus.NewRegistry(), SegmentSize: 1 << 20}
	for _, m := range mod {
		m(&o)
	}
	l, err := Open(o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	waitPrepared(l)
	return l
}

// waitPrepared waits until the preallocated segment is ready, so that the
// first append moves to it: the layout of the segments is then the same
// whatever the disk's speed.
func waitPrepared(l *Log) {
	p := <-l.next
	l.next <- p
}

func rec(i int) []byte { return fmt.Appendf(nil, "record %04d %s", i, bytes.Repeat([]byte{'x'}, i%37)) }

func appendN(t *testing.T, l *Log, from, n int) []Pos {
	t.Helper()
	var ps []Pos
	for i := from; i < from+n; i++ {
		p, err := l.Append([][]byte{rec(i)})
		require.NoError(t, err)
		ps = append(ps, p)
	}
	return ps
}

type replayed struct {
	recs []string
	ends []Pos
}

func replayAll(t *testing.T, l *Log, from Pos) replayed {
	t.Helper()
	var r replayed
	require.NoError(t, l.Replay(from, func(end Pos, b []byte) error {
		r.recs = append(r.recs, string(b))
		r.ends = append(r.ends, end)
		return nil
	}))
	return r
}

func want(from, n int) []string {
	var out []string
	for i := from; i < from+n; i++ {
		out = append(out, string(rec(i)))
	}
	return out
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestAppendReplay(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir)
	ps := appendN(t, l, 0, 10)
	p, err := l.Append([][]byte{rec(10), rec(11)})
	require.NoError(t, err)
	ps = append(ps, p)

	r := replayAll(t, l, Pos{})
	require.Equal(t, want(0, 12), r.recs)
	for i := range 10 {
		require.Equal(t, ps[i], r.ends[i], "the position Append returned is the end of the record")
	}
	require.Equal(t, ps[10], r.ends[11], "a multi-record append ends after its last record")
	require.Equal(t, l.End(), ps[10])

	// From a position: what follows it.
	r = replayAll(t, l, ps[4])
	require.Equal(t, want(5, 7), r.recs)

	// Reopen: everything is still there, and appends go to a new segment.
	require.NoError(t, l.Close())
	_, err = l.Append([][]byte{rec(0)})
	require.ErrorIs(t, err, ErrClosed)
	l = open(t, dir)
	require.Equal(t, []string{"00000000", "00000001"}, segments(t, dir))
	p, err = l.Append([][]byte{rec(12)})
	require.NoError(t, err)
	require.Equal(t, Pos{Segment: 1, Offset: headerSize + frameHeader + int64(len(rec(12)))}, p)
	require.Equal(t, want(0, 13), replayAll(t, l, Pos{}).recs)
	require.Equal(t, want(12, 1), replayAll(t, l, ps[10]).recs)

	// Empty and oversized records are refused.
	_, err = l.Append([][]byte{{}})
	require.Error(t, err)
}

func TestReplayStopsOnCallbackError(t *testing.T) {
	l := open(t, t.TempDir())
	appendN(t, l, 0, 5)
	boom := errors.New("boom")
	n := 0
	err := l.Replay(Pos{}, func(Pos, []byte) error {
		n++
		if n == 3 {
			return boom
		}
		return nil
	})
	require.ErrorIs(t, err, boom)
	require.Equal(t, 3, n)
}

func TestSegmentRollover(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, func(o *Options) { o.SegmentSize = 4096 })
	big := bytes.Repeat([]byte{'b'}, 10000)
	var recs [][]byte
	for i := range 30 {
		r := bytes.Repeat([]byte{byte('a' + i%26)}, 500+i)
		if i == 17 {
			r = big // larger than a segment: a segment of its own
		}
		recs = append(recs, r)
	}
	// Appends of one record and of several, crossing segments.
	_, err := l.Append(recs[:3])
	require.NoError(t, err)
	for _, r := range recs[3:20] {
		_, err := l.Append([][]byte{r})
		require.NoError(t, err)
	}
	_, err = l.Append(recs[20:])
	require.NoError(t, err)

	var got [][]byte
	var ends []Pos
	require.NoError(t, l.Replay(Pos{}, func(end Pos, b []byte) error {
		got = append(got, bytes.Clone(b))
		ends = append(ends, end)
		return nil
	}))
	require.Equal(t, recs, got)
	segs := segments(t, dir)
	require.Greater(t, len(segs), 5)
	for _, s := range segs {
		st, err := os.Stat(filepath.Join(dir, s))
		require.NoError(t, err)
		if st.Size() > 4096 {
			require.Equal(t, headerSize+frameHeader+int64(len(big)), st.Size(), "only the big record overflows, alone")
		}
	}
	// A record never spans segments: each end is within its segment.
	for i, e := range ends {
		require.Equal(t, e.Offset, segmentOffsetAfter(t, dir, e.Segment, got, ends, i))
	}
	require.Equal(t, float64(len(segs)), testutil.ToFloat64(l.m.segments))
	require.Equal(t, dirSize(t, dir), testutil.ToFloat64(l.m.size))
	require.NoError(t, l.Close())
	l = open(t, dir)
	require.Equal(t, dirSize(t, dir), testutil.ToFloat64(l.m.size), "counted at open")
}

func dirSize(t *testing.T, dir string) float64 {
	t.Helper()
	var n int64
	for _, s := range segments(t, dir) {
		st, err := os.Stat(filepath.Join(dir, s))
		require.NoError(t, err)
		n += st.Size()
	}
	return float64(n)
}

// segmentOffsetAfter recomputes the end of record i from the records
// before it in the same segment.
func segmentOffsetAfter(t *testing.T, dir string, seg int, recs [][]byte, ends []Pos, i int) int64 {
	t.Helper()
	off := headerSize
	for j := 0; j <= i; j++ {
		if ends[j].Segment == seg {
			off += frameHeader + int64(len(recs[j]))
		}
	}
	return off
}

func TestTruncate(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, func(o *Options) { o.SegmentSize = 4096 })
	var ps []Pos
	for range 40 {
		p, err := l.Append([][]byte{bytes.Repeat([]byte{'t'}, 1000)})
		require.NoError(t, err)
		ps = append(ps, p)
	}
	require.Equal(t, 10, len(segments(t, dir)))
	cut := ps[21] // in segment 5
	require.Equal(t, 5, cut.Segment)
	require.NoError(t, l.Truncate(cut))
	require.Equal(t, []string{"00000005", "00000006", "00000007", "00000008", "00000009"}, segments(t, dir))
	require.Equal(t, float64(5), testutil.ToFloat64(l.m.segments))
	require.Equal(t, dirSize(t, dir), testutil.ToFloat64(l.m.size))
	r := replayAll(t, l, cut)
	require.Len(t, r.recs, 40-22)
	require.Equal(t, ps[22:], r.ends)
	require.Len(t, replayAll(t, l, Pos{}).recs, 40-20, "from the start: from the first segment kept")
	require.ErrorContains(t, l.Replay(ps[0], func(Pos, []byte) error { return nil }), "begins at segment 00000005")

	// The active segment is never deleted.
	require.NoError(t, l.Truncate(Pos{Segment: 100}))
	require.Equal(t, []string{"00000009"}, segments(t, dir))
	p, err := l.Append([][]byte{[]byte("after")})
	require.NoError(t, err)
	require.Equal(t, 9, p.Segment)
}

// TestTornTail cuts or damages the last record of the last segment, as a
// crash during a write would, and requires Open to truncate it with a
// warning and keep everything before it.
func TestTornTail(t *testing.T) {
	f := func(name string, damage func(path string, size, lastStart int64)) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			l := open(t, dir)
			ps := appendN(t, l, 0, 20)
			require.NoError(t, l.Close())
			path := filepath.Join(dir, "00000000")
			damage(path, ps[19].Offset, ps[18].Offset)

			var logs bytes.Buffer
			reg := prometheus.NewRegistry()
			l, err := Open(Options{Dir: dir, Registerer: reg, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			require.NoError(t, err)
			defer l.Close()
			require.Contains(t, logs.String(), "truncating a torn write")
			require.Contains(t, logs.String(), "segment="+path)
			require.Equal(t, float64(1), testutil.ToFloat64(l.m.repaired))
			require.Equal(t, want(0, 19), replayAll(t, l, Pos{}).recs)
			st, err := os.Stat(path)
			require.NoError(t, err)
			require.Equal(t, ps[18].Offset, st.Size(), "cut right after the last good record")
			require.Equal(t, dirSize(t, dir), testutil.ToFloat64(l.m.size))

			// Appends continue, and the next start is clean.
			appendN(t, l, 19, 1)
			require.NoError(t, l.Close())
			logs.Reset()
			l = open(t, dir)
			require.Equal(t, float64(0), testutil.ToFloat64(l.m.repaired))
			require.Equal(t, want(0, 20), replayAll(t, l, Pos{}).recs)
		})
	}
	f("cut in the payload", func(path string, size, last int64) {
		require.NoError(t, os.Truncate(path, size-3))
	})
	f("cut in the frame header", func(path string, size, last int64) {
		require.NoError(t, os.Truncate(path, last+5))
	})
	f("bad checksum", func(path string, size, last int64) {
		flip(t, path, size-1)
	})
	f("bad length", func(path string, size, last int64) {
		flip(t, path, last+3)
	})
	f("garbage after the last record", func(path string, size, last int64) {
		require.NoError(t, os.Truncate(path, last))
		appendBytes(t, path, bytes.Repeat([]byte{0xa5}, 100))
	})
}

// crashCopy copies the segments as a kill -9 would leave them (what the
// page cache holds), while l stays open.
func crashCopy(t *testing.T, l *Log) string {
	t.Helper()
	dir := t.TempDir()
	ents, err := os.ReadDir(l.Dir())
	require.NoError(t, err)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(l.Dir(), e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644))
	}
	return dir
}

// TestCrashInAPreallocatedSegment: after a crash the last segment ends in
// the zeros of its preallocation. That is a clean end, not damage; a torn
// write before the zeros is cut off as usual.
func TestCrashInAPreallocatedSegment(t *testing.T) {
	l := open(t, t.TempDir())
	ps := appendN(t, l, 0, 20)
	st, err := os.Stat(filepath.Join(l.Dir(), "00000000"))
	require.NoError(t, err)
	require.Equal(t, l.opts.SegmentSize, st.Size(), "preallocated")

	dir := crashCopy(t, l)
	var logs bytes.Buffer
	l2, err := Open(Options{Dir: dir, Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	require.Empty(t, logs.String())
	require.Equal(t, float64(0), testutil.ToFloat64(l2.m.repaired))
	require.Equal(t, want(0, 20), replayAll(t, l2, Pos{}).recs)
	st, err = os.Stat(filepath.Join(dir, "00000000"))
	require.NoError(t, err)
	require.Equal(t, ps[19].Offset, st.Size(), "the zeros are cut off")
	require.NoError(t, l2.Close())

	// A torn write: part of a record, then the zeros.
	dir = crashCopy(t, l)
	f, err := os.OpenFile(filepath.Join(dir, "00000000"), os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(appendFrame(nil, []byte("a record cut short"))[:15], ps[19].Offset)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	logs.Reset()
	l2, err = Open(Options{Dir: dir, Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	defer l2.Close()
	require.Contains(t, logs.String(), "truncating a torn write")
	require.Equal(t, float64(1), testutil.ToFloat64(l2.m.repaired))
	require.Equal(t, want(0, 20), replayAll(t, l2, Pos{}).recs)
}

func TestTornSegmentHeader(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir)
	appendN(t, l, 0, 3)
	require.NoError(t, l.Close())
	// A crash between creating segment 1 and writing its header.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "00000001"), []byte("SIF"), 0o644))
	l = open(t, dir)
	require.Equal(t, float64(1), testutil.ToFloat64(l.m.repaired))
	require.Equal(t, []string{"00000000", "00000001"}, segments(t, dir), "the torn segment is removed, a new one begun")
	require.Equal(t, want(0, 3), replayAll(t, l, Pos{}).recs)
}

func TestCorruptionStopsOpen(t *testing.T) {
	setup := func(t *testing.T) (string, []Pos) {
		dir := t.TempDir()
		l := open(t, dir, func(o *Options) { o.SegmentSize = 4096 })
		var ps []Pos
		for i := range 12 {
			p, err := l.Append([][]byte{bytes.Repeat([]byte{'c'}, 900+i)})
			require.NoError(t, err)
			ps = append(ps, p)
		}
		require.NoError(t, l.Close())
		return dir, ps
	}
	f := func(name string, damage func(dir string, ps []Pos) (seg string, off int64), wantMsg string) {
		t.Run(name, func(t *testing.T) {
			dir, ps := setup(t)
			seg, off := damage(dir, ps)
			_, err := Open(Options{Dir: dir})
			var ce *CorruptionError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, filepath.Join(dir, seg), ce.Segment)
			require.Equal(t, off, ce.Offset)
			require.ErrorContains(t, err, fmt.Sprintf("segment %q: corrupt record at offset %d", filepath.Join(dir, seg), off))
			require.ErrorContains(t, err, wantMsg)
		})
	}
	// Four records a segment: 00000000 to 00000002, the last.
	f("bad checksum mid-file in the last segment", func(dir string, ps []Pos) (string, int64) {
		last := ps[len(ps)-1].Segment
		first := headerSize // the first record of the last segment
		flip(t, filepath.Join(dir, seg(last)), first+frameHeader+10)
		return seg(last), first
	}, "followed by valid records")
	f("bad checksum in an earlier segment", func(dir string, ps []Pos) (string, int64) {
		flip(t, filepath.Join(dir, "00000001"), ps[5].Offset-1)
		return "00000001", ps[4].Offset
	}, "not the last")
	f("torn tail of an earlier segment", func(dir string, ps []Pos) (string, int64) {
		require.NoError(t, os.Truncate(filepath.Join(dir, "00000000"), ps[2].Offset-5))
		return "00000000", ps[1].Offset
	}, "not the last")
	f("torn header of an earlier segment", func(dir string, ps []Pos) (string, int64) {
		require.NoError(t, os.Truncate(filepath.Join(dir, "00000000"), 3))
		return "00000000", 0
	}, "not the last")
}

func seg(i int) string { return fmt.Sprintf("%08d", i) }

func flip(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	b := []byte{0}
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= 0x40
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.Write(b)
	require.NoError(t, err)
}

func TestNotASegment(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "00000000"), []byte("something else entirely"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README"), []byte("ignored"), 0o644))
	_, err := Open(Options{Dir: dir})
	require.ErrorContains(t, err, "not a sift WAL segment")
}

// TestGroupCommit holds the writer in the fsync of a first append while
// others queue, and requires them to be written and synced together.
func TestGroupCommit(t *testing.T) {
	l := open(t, t.TempDir())
	base := testutil.ToFloat64(l.m.fsyncs)
	entered, gate := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	l.sync = func(f *os.File) error {
		if calls.Add(1) == 1 {
			close(entered)
			<-gate
		}
		return f.Sync()
	}
	const n = 50
	var wg sync.WaitGroup
	wg.Go(func() {
		_, err := l.Append([][]byte{rec(0)})
		require.NoError(t, err)
	})
	<-entered
	for i := 1; i < n; i++ {
		wg.Go(func() {
			_, err := l.Append([][]byte{rec(i)})
			require.NoError(t, err)
		})
	}
	require.Eventually(t, func() bool { return len(l.reqs) == n-1 }, 10*time.Second, time.Millisecond)
	close(gate)
	wg.Wait()
	require.Equal(t, int32(2), calls.Load(), "one fsync for the first append, one for the 49 queued behind it")
	require.Equal(t, base+2, testutil.ToFloat64(l.m.fsyncs))
	require.Equal(t, float64(n), testutil.ToFloat64(l.m.appends))
	require.Equal(t, uint64(2), groups(t, l))
	require.Len(t, replayAll(t, l, Pos{}).recs, n)
}

// groups is how many group commits the log made.
func groups(t *testing.T, l *Log) uint64 {
	t.Helper()
	mfs, err := l.opts.Registerer.(*prometheus.Registry).Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "sift_wal_group_commit_appends" {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatal("no group size metric")
	return 0
}

// TestAppendersAreDurableWhenTheyReturn runs many appenders at once and
// requires every append to be covered by an fsync when it returns, and
// the callbacks of AppendThen to run in log order.
func TestAppendersAreDurableWhenTheyReturn(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, func(o *Options) { o.SegmentSize = 64 << 10 })
	var mu sync.Mutex
	var synced Pos // the log is durable up to here
	l.sync = func(f *os.File) error {
		err := f.Sync()
		// On the writer goroutine: what the segment holds is l.size.
		idx, _ := strconv.Atoi(filepath.Base(f.Name()))
		mu.Lock()
		if p := (Pos{idx, l.size}); synced.Before(p) {
			synced = p
		}
		mu.Unlock()
		return err
	}
	var order []Pos // written by AppendThen callbacks: the writer goroutine
	const workers, each = 32, 40
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				p, err := l.AppendThen([][]byte{rec(w*each + i)}, func(end Pos) { order = append(order, end) })
				require.NoError(t, err)
				mu.Lock()
				require.False(t, synced.Before(p), "append returned at %s, synced only to %s", p, synced)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	appends := float64(workers * each)
	require.Equal(t, appends, testutil.ToFloat64(l.m.appends))
	require.LessOrEqual(t, testutil.ToFloat64(l.m.fsyncs), appends+float64(len(segments(t, dir))))
	t.Logf("%v appends, %v fsyncs, %d groups", appends, testutil.ToFloat64(l.m.fsyncs), groups(t, l))
	require.Len(t, order, workers*each)
	for i := 1; i < len(order); i++ {
		require.True(t, order[i-1].Before(order[i]), "callbacks in log order")
	}
	require.Equal(t, order, replayAll(t, l, Pos{}).ends)
}

func TestFsyncModes(t *testing.T) {
	t.Run("never", func(t *testing.T) {
		l := open(t, t.TempDir(), func(o *Options) { o.Fsync = FsyncNever })
		base := testutil.ToFloat64(l.m.fsyncs)
		appendN(t, l, 0, 10)
		require.Equal(t, base, testutil.ToFloat64(l.m.fsyncs))
		require.NoError(t, l.Close())
		require.Equal(t, base+1, testutil.ToFloat64(l.m.fsyncs), "Close syncs")
		require.Equal(t, want(0, 10), replayAll(t, open(t, l.Dir()), Pos{}).recs)
	})
	t.Run("interval", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := open(t, t.TempDir(), func(o *Options) {
				o.Fsync, o.FsyncInterval, o.SegmentSize = FsyncInterval, 100*time.Millisecond, 64<<10
			})
			base := testutil.ToFloat64(l.m.fsyncs)
			appendN(t, l, 0, 10)
			require.Equal(t, base, testutil.ToFloat64(l.m.fsyncs), "appends return before the fsync")
			time.Sleep(100 * time.Millisecond)
			synctest.Wait()
			require.Equal(t, base+1, testutil.ToFloat64(l.m.fsyncs), "one fsync per interval for all of them")
			time.Sleep(time.Second)
			synctest.Wait()
			require.Equal(t, base+1, testutil.ToFloat64(l.m.fsyncs), "nothing to sync while idle")
			require.NoError(t, l.Close())
		})
	})
	t.Run("bad", func(t *testing.T) {
		_, err := Open(Options{Dir: t.TempDir(), Fsync: "sometimes"})
		require.ErrorContains(t, err, `fsync mode "sometimes"`)
	})
}

func TestFsyncFailureIsSticky(t *testing.T) {
	l := open(t, t.TempDir())
	appendN(t, l, 0, 2)
	l.sync = func(*os.File) error { return errors.New("EIO") }
	_, err := l.Append([][]byte{rec(2)})
	require.ErrorContains(t, err, "EIO")
	l.sync = (*os.File).Sync
	_, err = l.Append([][]byte{rec(3)})
	require.ErrorContains(t, err, "EIO", "nothing is acknowledged after a failed fsync")
	require.Equal(t, float64(1), testutil.ToFloat64(l.m.failures))
	require.ErrorContains(t, l.Close(), "EIO")
}
