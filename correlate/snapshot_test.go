package correlate

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/ingest"
	"github.com/sift-itsm/sift/rules"
)

// snapshotStep is one input of the snapshot test's stream: events, or a
// command at the time of the previous event.
type snapshotStep struct {
	events  []ingest.Event
	command func(s *state, now time.Time, set *Settings) *Batch
}

// snapshotStream exercises what the state holds: alerts firing, resolving
// and flapping; incidents opening, resolving, reopening, closing and
// leaving memory; recurring signatures and problems; silences; change
// events; actions; notification records.
func snapshotStream() []snapshotStep {
	var steps []snapshotStep
	for i := range 420 {
		if i >= 100 && i < 160 || i >= 200 && i < 234 || i >= 300 && i < 380 {
			continue
		}
		at := time.Duration(i) * 7 * time.Second
		host := []string{"h1", "h2", "h3", "h4", "h5"}[i%5]
		name := []string{"Down", "Down", "Slow"}[i%3]
		e := ev(at, "alertname", name, "instance", host, "service", "svc"+fmt.Sprint(i%2), "severity", []string{"critical", "warning"}[i%2])
		switch i % 11 {
		case 3:
			e = resolved(e, at)
		case 5:
			e = withEndsAt(e, at+90*time.Second)
		}
		steps = append(steps, snapshotStep{events: []ingest.Event{e}})
		switch i {
		case 20:
			steps = append(steps, snapshotStep{command: func(s *state, now time.Time, set *Settings) *Batch {
				m, _ := labels.NewMatcher(labels.MatchRegexp, "instance", "h[23]")
				_, err := s.applySilence(&silenceOp{set: &Silence{Matchers: labels.Matchers{m}, StartsAt: now, EndsAt: now.Add(5 * time.Minute), CreatedBy: "t"}}, now, set)
				if err != nil {
					panic(err)
				}
				return nil
			}})
		case 30:
			steps = append(steps, snapshotStep{command: func(s *state, now time.Time, set *Settings) *Batch {
				return s.applyChanges(now, []ChangeEvent{{ID: "CHG1", CI: "db1", Summary: "upgrade", Start: now.Add(-time.Minute)}}, set)
			}})
		case 40, 250:
			steps = append(steps, snapshotStep{command: func(s *state, now time.Time, set *Settings) *Batch {
				_, b, _ := s.act(now, &incident.Action{ID: incident.ID(1), Verb: incident.VerbAck, Actor: "noc"}, set)
				return b
			}})
		case 50:
			steps = append(steps, snapshotStep{command: func(s *state, now time.Time, set *Settings) *Batch {
				_, b, _ := s.applyNotify(now, &notifyOp{record: &NotificationRecord{
					NotificationKey: NotificationKey{Receiver: "slack", Incident: incident.ID(1), Event: "opened", Occurrence: 1},
					Version:         1, Result: NotificationSent, Attempts: 1,
				}}, set)
				return b
			}})
		}
	}
	return steps
}

func snapshotSettings() Settings {
	set := shortTimers()
	set.RecurrenceCount = 2
	set.RecurrenceWindow = time.Hour
	return set
}

// run applies steps to s and returns what the batches said, as text.
func runSteps(s *state, set *Settings, steps []snapshotStep, now *time.Time) []string {
	var out []string
	for _, st := range steps {
		var b *Batch
		if st.command != nil {
			b = st.command(s, *now, set)
		} else {
			*now = st.events[0].ReceivedAt
			b = s.apply(*now, st.events, set)
		}
		if b == nil {
			continue
		}
		js, err := json.Marshal(b.Changes)
		if err != nil {
			panic(err)
		}
		out = append(out, fmt.Sprint(b.Seq, " ", string(js)))
	}
	return out
}

// dump is everything readers see of the state.
func dump(t *testing.T, s *state) map[string]string {
	t.Helper()
	out := map[string]string{}
	txn := s.db.Txn(false)
	for a := range AlertsFrom(txn, 0) {
		js, err := json.Marshal(a.JSON())
		require.NoError(t, err)
		out["alert "+a.Fingerprint.String()] = string(js)
	}
	for _, table := range []string{incident.Table, incident.ProblemTable, tableSilences, tableChanges, tableNotifications} {
		it, err := txn.Get(table, "id")
		require.NoError(t, err)
		for raw := it.Next(); raw != nil; raw = it.Next() {
			js, err := json.Marshal(raw)
			require.NoError(t, err)
			out[fmt.Sprintf("%s %s", table, js[:min(len(js), 40)])] = string(js)
		}
	}
	return out
}

// TestSnapshotRestoresTheState cuts the stream at several points, restores
// a snapshot taken there into a fresh state and runs the rest on both:
// the batches and everything readers see must be equal, and a snapshot of
// the restored state must equal the one it came from.
func TestSnapshotRestoresTheState(t *testing.T) {
	steps := snapshotStream()
	set := snapshotSettings()
	whole := newState()
	var now time.Time
	wantBatches := runSteps(whole, &set, steps, &now)
	want := dump(t, whole)
	require.Greater(t, len(whole.problems), 0, "the stream opens problems")
	require.Greater(t, len(whole.sigs), 0)

	for _, cut := range []int{1, 25, 60, 137, 230, len(steps) - 1} {
		t.Run(fmt.Sprint("cut ", cut), func(t *testing.T) {
			a := newState()
			var now time.Time
			before := runSteps(a, &set, steps[:cut], &now)
			var buf bytes.Buffer
			require.NoError(t, a.writeSnapshot(&buf, t0))
			raw := buf.Bytes()

			b := newState()
			clock, err := b.readSnapshot(bytes.NewReader(raw), rules.Default())
			require.NoError(t, err)
			require.Equal(t, t0, clock)
			sameDump(t, dump(t, a), dump(t, b), "restored state")
			var again bytes.Buffer
			require.NoError(t, b.writeSnapshot(&again, t0))
			require.Equal(t, decodeSnap(t, raw), decodeSnap(t, again.Bytes()), "snapshot of the restored state")

			after := runSteps(b, &set, steps[cut:], &now)
			got := append(before, after...)
			for i := range min(len(got), len(wantBatches)) {
				require.Equal(t, wantBatches[i], got[i], "batch %d of %d (cut after %d)", i, len(wantBatches), len(before))
			}
			require.Len(t, got, len(wantBatches))
			sameDump(t, want, dump(t, b), "final state")
		})
	}
}

// sameDump compares two dumps key by key, so that a failure names what
// differs rather than printing both states.
func sameDump(t *testing.T, want, got map[string]string, what string) {
	t.Helper()
	for k, v := range want {
		require.Equal(t, v, got[k], "%s: %s", what, k)
	}
	require.Len(t, got, len(want), what)
}

func decodeSnap(t *testing.T, raw []byte) stateSnapshot {
	t.Helper()
	var s stateSnapshot
	require.NoError(t, gob.NewDecoder(bytes.NewReader(raw)).Decode(&s))
	return s
}

func TestRestoreRefusesAStateAndGarbage(t *testing.T) {
	s := newState()
	set := DefaultSettings()
	s.apply(t0, []ingest.Event{ev(0, "alertname", "A")}, &set)
	var buf bytes.Buffer
	require.NoError(t, s.writeSnapshot(&buf, t0))
	_, err := s.readSnapshot(bytes.NewReader(buf.Bytes()), rules.Default())
	require.ErrorContains(t, err, "has state")
	_, err = newState().readSnapshot(bytes.NewReader([]byte("not a snapshot")), rules.Default())
	require.ErrorContains(t, err, "decoding the engine state")
}

// TestQueueSnapshotCoversWhatWasQueuedBefore: the state arrives after the
// events queued before the request, even those held back by the batch
// wait, and not those queued after it.
func TestQueueSnapshotCoversWhatWasQueuedBefore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := New(Options{Settings: Settings{BatchMaxEvents: 1000, BatchMaxWait: time.Hour}})
		for i := range 5 {
			require.NoError(t, e.Submit([]ingest.Event{ev(0, "n", fmt.Sprint(i))}))
		}
		ch, err := e.QueueSnapshot()
		require.NoError(t, err)
		require.NoError(t, e.Submit([]ingest.Event{ev(0, "n", "after")}))
		go func() { _ = e.Run(context.Background()) }()
		got := <-ch
		require.NoError(t, got.Err)
		require.Equal(t, 5, got.Alerts)

		// Encoded after the engine applied what came after: the copy
		// shares nothing the engine changed since.
		require.NoError(t, e.Flush(context.Background()))
		var buf bytes.Buffer
		require.NoError(t, got.Encode(&buf))
		r := New(Options{})
		require.NoError(t, r.RestoreSnapshot(&buf))
		require.Len(t, r.st.alerts, 5)
		for i := range 5 {
			_, ok := r.Alert(ev(0, "n", fmt.Sprint(i)).Fingerprint)
			require.True(t, ok)
		}
		e.Close()
		<-e.Done()
		_, err = e.QueueSnapshot()
		require.ErrorIs(t, err, ingest.ErrClosed)
	})
}
