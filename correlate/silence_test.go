package correlate

import (
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/stretchr/testify/require"

	"github.com/sift-itsm/sift/ingest"
)

func mustMatcher(t *testing.T, name, value string) *labels.Matcher {
	m, err := labels.NewMatcher(labels.MatchEqual, name, value)
	require.NoError(t, err)
	return m
}

func TestSilenceMutesThenLetsGo(t *testing.T) {
	s, set := newState(), DefaultSettings()
	sil, err := s.applySilence(&silenceOp{set: &Silence{
		Matchers: labels.Matchers{mustMatcher(t, "service", "api")},
		StartsAt: t0, EndsAt: t0.Add(10 * time.Minute), CreatedBy: "alice", Comment: "deploy",
	}}, t0, &set)
	require.NoError(t, err)
	require.Equal(t, "SIL0000001", sil.ID)

	muted := withEndsAt(ev(time.Minute, "alertname", "Errors", "service", "api"), time.Hour)
	other := ev(time.Minute, "alertname", "Errors", "service", "web")
	s.apply(t0.Add(time.Minute), []ingest.Event{muted, other}, &set)
	require.Equal(t, "silence SIL0000001", get(t, s, muted.Fingerprint).Suppressed())
	require.Zero(t, get(t, s, muted.Fingerprint).IncidentSeq, "a silenced alert joins no incident")
	require.NotZero(t, get(t, s, other.Fingerprint).IncidentSeq)
	require.Len(t, incidents(t, s), 1)

	// Still muted before the end, let go at the end: it correlates then.
	s.apply(t0.Add(10*time.Minute-time.Second), nil, &set)
	require.Len(t, incidents(t, s), 1)
	b := s.apply(t0.Add(10*time.Minute), nil, &set)
	require.Equal(t, []ChangeKind{AlertUpdated}, kinds(b))
	a := get(t, s, muted.Fingerprint)
	require.Empty(t, a.Suppressed())
	require.NotZero(t, a.IncidentSeq)
	require.Len(t, incidents(t, s), 2)
}

func TestSilenceExpiredEarly(t *testing.T) {
	s, set := newState(), DefaultSettings()
	_, err := s.applySilence(&silenceOp{set: &Silence{
		Matchers: labels.Matchers{mustMatcher(t, "alertname", "Errors")},
		StartsAt: t0, EndsAt: t0.Add(time.Hour), CreatedBy: "alice", Comment: "c",
	}}, t0, &set)
	require.NoError(t, err)
	muted := withEndsAt(ev(time.Minute, "alertname", "Errors"), time.Hour)
	s.apply(t0.Add(time.Minute), []ingest.Event{muted}, &set)
	require.NotEmpty(t, get(t, s, muted.Fingerprint).Suppressed())

	exp, err := s.applySilence(&silenceOp{expire: "SIL0000001"}, t0.Add(2*time.Minute), &set)
	require.NoError(t, err)
	require.Equal(t, t0.Add(2*time.Minute), exp.EndsAt)
	require.Equal(t, "expired", exp.State(t0.Add(2*time.Minute)))
	s.apply(t0.Add(2*time.Minute), nil, &set)
	require.Empty(t, get(t, s, muted.Fingerprint).Suppressed())
	require.Len(t, incidents(t, s), 1)

	_, err = s.applySilence(&silenceOp{expire: "SIL0000001"}, t0.Add(3*time.Minute), &set)
	require.ErrorIs(t, err, ErrNoSilence)
}

func TestSilenceValidate(t *testing.T) {
	ok := Silence{Matchers: labels.Matchers{mustMatcher(t, "a", "b")}, StartsAt: t0, EndsAt: t0.Add(time.Hour), CreatedBy: "x", Comment: "y"}
	require.NoError(t, ok.Validate())
	for field, mutate := range map[string]func(*Silence){
		"matchers":   func(s *Silence) { s.Matchers = nil },
		"ends_at":    func(s *Silence) { s.EndsAt = s.StartsAt },
		"created_by": func(s *Silence) { s.CreatedBy = "" },
		"comment":    func(s *Silence) { s.Comment = "" },
	} {
		s := ok
		mutate(&s)
		var fe *FieldError
		require.ErrorAs(t, s.Validate(), &fe, field)
		require.Equal(t, field, fe.Field)
	}
	empty := ok
	empty.Matchers = labels.Matchers{mustMatcher(t, "a", "")}
	require.Error(t, empty.Validate(), "a silence of everything is refused")
}
