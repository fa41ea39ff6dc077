package kafka

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/sift-itsm/sift/ingest"
)

// decoder turns one message into events with the parser of its topic's
// format. It is a pure function of the message and the time, safe from any
// goroutine.
type decoder func(m *kafkago.Message, receivedAt time.Time) ([]ingest.Event, error)

// decoderFor returns the decoder of a format; false for an unknown one.
func decoderFor(f ingest.Source) (decoder, bool) {
	switch f {
	case ingest.SourcePrometheus:
		return func(m *kafkago.Message, t time.Time) ([]ingest.Event, error) {
			return ingest.ParsePrometheus(m.Value, t)
		}, true
	case ingest.SourceAlertmanager:
		return func(m *kafkago.Message, t time.Time) ([]ingest.Event, error) {
			return ingest.ParseAlertmanager(m.Value, t)
		}, true
	case ingest.SourceGeneric:
		return func(m *kafkago.Message, t time.Time) ([]ingest.Event, error) { return ingest.ParseGeneric(m.Value, t) }, true
	case ingest.SourcePagerDuty:
		return decodePagerDuty, true
	}
	return nil, false
}

// decodePagerDuty takes one PagerDuty event, or a JSON array of them. A
// trigger without a dedup_key gets one made of the message's position, not
// a random one, so that a redelivered message (at-least-once) dedups onto
// the alert its first delivery made.
func decodePagerDuty(m *kafkago.Message, t time.Time) ([]ingest.Event, error) {
	body := bytes.TrimLeft(m.Value, " \t\r\n")
	pos := "kafka:" + m.Topic + ":" + strconv.Itoa(m.Partition) + ":" + strconv.FormatInt(m.Offset, 10)
	if len(body) == 0 || body[0] != '[' {
		ev, err := ingest.ParsePagerDuty(body, t, func() string { return pos })
		if err != nil {
			return nil, err
		}
		return []ingest.Event{ev}, nil
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, &ingest.FieldError{Index: -1, Msg: "malformed JSON: " + err.Error()}
	}
	events := make([]ingest.Event, 0, len(raws))
	for i, raw := range raws {
		key := pos + ":" + strconv.Itoa(i)
		ev, err := ingest.ParsePagerDuty(raw, t, func() string { return key })
		if err != nil {
			if fe, ok := err.(*ingest.FieldError); ok {
				c := *fe
				c.Index = i
				return nil, &c
			}
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		events = append(events, ev)
	}
	return events, nil
}
