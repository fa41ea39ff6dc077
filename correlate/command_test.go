package correlate

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/incident"
	"github.com/sift-itsm/sift/ingest"
)

// logged is what a write-ahead log would hold: event batches with their
// clock, and commands as JSON.
type logged struct {
	clock  time.Time
	events []ingest.Event
	cmd    []byte
}

// memLog is a CommandLog that keeps the commands as JSON, as the
// write-ahead log does, in the same list as the event batches.
type memLog struct {
	mu      sync.Mutex
	e       *Engine
	records []logged
}

func (l *memLog) LogCommand(c *Command) (*Pending, error) {
	js, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, logged{cmd: js})
	return l.e.Enqueue(c)
}

func (l *memLog) events(clock time.Time, evs []ingest.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, logged{clock: clock, events: evs})
}

func (l *memLog) commands() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.records {
		if r.cmd != nil {
			n++
		}
	}
	return n
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func runEngine(t *testing.T, o Options) *Engine {
	t.Helper()
	e := New(o)
	done := make(chan error, 1)
	go func() { done <- e.Run(context.Background()) }()
	t.Cleanup(func() {
		e.Close()
		require.NoError(t, <-done)
	})
	return e
}

// TestReplayedCommandsGiveTheSameState runs events and every kind of
// command through a live engine whose command log keeps them as JSON,
// then replays the log into a new engine: incidents, silences, changes
// and the notification log come out the same, and each command has the
// outcome it had live, refusals included.
func TestReplayedCommandsGiveTheSameState(t *testing.T) {
	ctx := context.Background()
	clock := &testClock{t: t0}
	set := Settings{CloseAfter: time.Hour, ChangeLookback: time.Hour}
	live := runEngine(t, Options{Now: clock.now, Settings: set})
	log := &memLog{e: live}
	live.SetCommandLog(log)
	submit := func(at time.Duration, evs ...ingest.Event) {
		t.Helper()
		clock.set(t0.Add(at))
		require.NoError(t, live.Submit(evs))
		require.NoError(t, live.Flush(ctx))
		log.events(t0.Add(at), evs)
	}
	var outcomes []error
	outcome := func(err error) {
		t.Helper()
		outcomes = append(outcomes, err)
	}

	submit(0, alertOn(0, "Down", "h1", "critical"), alertOn(0, "Disk", "h2", "critical"))
	clock.set(t0.Add(time.Minute))
	_, err := live.Act(ctx, incident.Action{ID: "INC0000001", Verb: incident.VerbAck, Actor: "ann"})
	outcome(err)
	_, err = live.Act(ctx, incident.Action{ID: "INC0000001", Verb: incident.VerbAck, Actor: "bob"})
	var te *incident.TransitionError
	require.ErrorAs(t, err, &te, "acknowledged already")
	outcome(err)
	_, err = live.Act(ctx, incident.Action{ID: "INC0000009", Verb: incident.VerbAck, Actor: "bob"})
	require.ErrorIs(t, err, ErrNoIncident)
	outcome(err)
	_, err = live.Act(ctx, incident.Action{ID: "INC0000002", Verb: incident.VerbAssign, Actor: "ann", Assignee: "cy", SupportGroup: "ops"})
	outcome(err)

	m, err := labels.NewMatcher(labels.MatchRegexp, "instance", "h[3-4]")
	require.NoError(t, err)
	sil, err := live.AddSilence(ctx, Silence{Matchers: labels.Matchers{m}, StartsAt: t0, EndsAt: t0.Add(time.Hour), CreatedBy: "ann", Comment: "maintenance"})
	require.NoError(t, err)
	outcome(err)
	submit(2*time.Minute, alertOn(2*time.Minute, "Down", "h3", "critical"))
	clock.set(t0.Add(3 * time.Minute))
	_, err = live.ExpireSilence(ctx, sil.ID)
	outcome(err)
	_, err = live.ExpireSilence(ctx, "SIL0000042")
	require.ErrorIs(t, err, ErrNoSilence)
	outcome(err)
	outcome(live.AddChanges(ctx, []ChangeEvent{{ID: "CHG1", CI: "h1", Summary: "deploy", Start: t0.Add(-time.Minute)}}))
	_, err = live.UpdateProblem(ctx, incident.ProblemUpdate{ID: "PRB0000001", Actor: "ann"})
	require.ErrorIs(t, err, ErrNoProblem)
	outcome(err)
	_, err = live.RecordNotification(ctx, NotificationRecord{NotificationKey: NotificationKey{Receiver: "ops/slack", Incident: "INC0000001", Event: "opened"}, Result: NotificationSent, Ticket: "T-1", Attempts: 1})
	outcome(err)
	submit(4*time.Minute, resolved(alertOn(0, "Down", "h1", "critical"), 4*time.Minute))
	clock.set(t0.Add(5 * time.Minute))
	_, err = live.Act(ctx, incident.Action{ID: "INC0000002", Verb: incident.VerbResolve, Actor: "ann", Text: "fixed"})
	outcome(err)
	_, err = live.PruneNotifications(ctx)
	outcome(err)
	require.Equal(t, len(outcomes), log.commands(), "every command logged")

	restored := New(Options{Settings: set})
	var replayed []error
	for _, r := range log.records {
		if r.cmd == nil {
			restored.Replay(r.clock, r.events)
			continue
		}
		var c Command
		require.NoError(t, json.Unmarshal(r.cmd, &c))
		_, err := restored.ReplayCommand(&c)
		replayed = append(replayed, err)
	}
	require.Len(t, replayed, len(outcomes))
	for i := range outcomes {
		if outcomes[i] == nil {
			require.NoError(t, replayed[i], "command %d", i)
			continue
		}
		require.EqualError(t, replayed[i], outcomes[i].Error(), "command %d", i)
		require.Equal(t, errors.Unwrap(outcomes[i]), errors.Unwrap(replayed[i]))
	}
	for _, table := range []string{incident.Table, tableSilences, tableChanges, tableNotifications} {
		require.Equal(t, rows(t, live, table), rows(t, restored, table), table)
	}
	inc := rows(t, restored, incident.Table)
	require.Contains(t, inc[0], `"State":"acknowledged"`)
	require.Contains(t, inc[0], `"T-1"`)
	require.Len(t, inc, 2)
	require.Contains(t, inc[1], `"State":"resolved"`)
	require.Len(t, rows(t, restored, tableSilences), 1)
	require.Len(t, rows(t, restored, tableChanges), 1)
	require.Len(t, rows(t, restored, tableNotifications), 1)
}

// rows lists a table as JSON.
func rows(t *testing.T, e *Engine, table string) []string {
	t.Helper()
	it, err := e.DB().Txn(false).Get(table, "id")
	require.NoError(t, err)
	var out []string
	for raw := it.Next(); raw != nil; raw = it.Next() {
		js, err := json.Marshal(raw)
		require.NoError(t, err)
		out = append(out, string(js))
	}
	return out
}

// TestCommandAppliesAtItsClock: a command carries the clock it was
// submitted at and is applied then, whenever the engine gets to it, but
// never before the batch before it.
func TestCommandAppliesAtItsClock(t *testing.T) {
	ctx := context.Background()
	clock := &testClock{t: t0.Add(time.Minute)}
	e := runEngine(t, Options{Now: clock.now})
	require.NoError(t, e.Submit([]ingest.Event{alertOn(0, "Down", "h1", "critical")}))
	require.NoError(t, e.Flush(ctx)) // the batch's clock: t0+1m

	clock.set(t0.Add(time.Hour)) // the engine's clock has moved on
	p, err := e.Enqueue(&Command{At: t0.Add(2 * time.Minute), Action: &incident.Action{ID: "INC0000001", Verb: incident.VerbNote, Actor: "ann", Text: "a"}})
	require.NoError(t, err)
	v, err := p.Wait(ctx)
	require.NoError(t, err)
	inc := v.(*incident.Incident)
	require.Equal(t, t0.Add(2*time.Minute), inc.Timeline[len(inc.Timeline)-1].At, "at the command's clock")

	p, err = e.Enqueue(&Command{At: t0, Action: &incident.Action{ID: "INC0000001", Verb: incident.VerbNote, Actor: "ann", Text: "b"}})
	require.NoError(t, err)
	v, err = p.Wait(ctx)
	require.NoError(t, err)
	inc = v.(*incident.Incident)
	require.Equal(t, t0.Add(2*time.Minute), inc.Timeline[len(inc.Timeline)-1].At, "not before the command before it")

	_, err = e.Act(ctx, incident.Action{ID: "INC0000001", Verb: incident.VerbNote, Actor: "ann", Text: "c"})
	require.NoError(t, err)
	got, err := incident.Get(e.DB().Txn(false), "INC0000001")
	require.NoError(t, err)
	require.Equal(t, t0.Add(time.Hour), got.Timeline[len(got.Timeline)-1].At, "Act stamps the engine clock")
}

// TestInvalidCommandsAreNeverLogged: what the API refuses before the
// engine sees it does not reach the command log.
func TestInvalidCommandsAreNeverLogged(t *testing.T) {
	ctx := context.Background()
	e := runEngine(t, Options{})
	log := &memLog{e: e}
	e.SetCommandLog(log)
	_, err := e.Act(ctx, incident.Action{ID: "INC0000001", Verb: incident.VerbAck})
	require.Error(t, err)
	_, err = e.AddSilence(ctx, Silence{Comment: "no matchers"})
	require.Error(t, err)
	require.Error(t, e.AddChanges(ctx, []ChangeEvent{{ID: "x"}}))
	require.NoError(t, e.AddChanges(ctx, nil), "nothing to do")
	_, err = e.RecordNotification(ctx, NotificationRecord{})
	require.Error(t, err)
	require.Zero(t, log.commands())

	_, err = New(Options{}).ReplayCommand(&Command{})
	require.ErrorIs(t, err, errEmptyCommand)
}
