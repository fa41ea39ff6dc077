package acklog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/sift-itsm/sift/ingest"
)

// Request is one line.
type Request struct {
	Worker int    `json:"worker"`
	Format string `json:"format"`
	// siftd received the request between Sent and Done.
	Sent time.Time `json:"sent"`
	Done time.Time `json:"done"`
	// Status is the 2xx answer, or 0 when none came.
	Status int             `json:"status"`
	Events int             `json:"events"`
	Body   json.RawMessage `json:"body"`
}

// Acknowledged reports whether siftd answered 2xx.
func (r *Request) Acknowledged() bool { return r.Status >= 200 && r.Status < 300 }

// InDoubt reports whether the request got no answer.
func (r *Request) InDoubt() bool { return r.Status == 0 }

// AppendLine appends a line, newline included, to dst: body is the
// request body as sent, a JSON value.
func AppendLine(dst []byte, worker int, format string, sent, done time.Time, status, events int, body []byte) []byte {
	dst = append(dst, `{"worker":`...)
	dst = strconv.AppendInt(dst, int64(worker), 10)
	dst = append(dst, `,"format":"`...)
	dst = append(dst, format...)
	dst = append(dst, `","sent":"`...)
	dst = sent.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","done":"`...)
	dst = done.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","status":`...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, `,"events":`...)
	dst = strconv.AppendInt(dst, int64(events), 10)
	dst = append(dst, `,"body":`...)
	dst = append(dst, body...)
	return append(dst, "}\n"...)
}

// Read calls fn with each line of r, numbered from 1, decoded, and as it
// is (valid during the call only). Blank lines and lines starting with #
// are skipped. maxBody bounds a body (siftd's ingest.max_body_size).
func Read(r io.Reader, maxBody int, fn func(line int, raw []byte, req *Request) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxBody+4096)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 || b[0] == '#' {
			continue
		}
		req := &Request{}
		if err := json.Unmarshal(b, req); err != nil {
			return fmt.Errorf("line %d: %v", line, err)
		}
		if req.Sent.IsZero() || len(req.Body) == 0 {
			return fmt.Errorf("line %d: not an ack log line (needs sent and body)", line)
		}
		if err := fn(line, b, req); err != nil {
			return err
		}
	}
	return sc.Err()
}

// Parse parses the body as siftd's receiver for its format does, received
// at receivedAt. newKey makes the dedup_key of a PagerDuty trigger that
// has none, as siftd's random one.
func (r *Request) Parse(receivedAt time.Time, newKey func() string) ([]ingest.Event, error) {
	switch ingest.Source(r.Format) {
	case ingest.SourcePrometheus:
		return ingest.ParsePrometheus(r.Body, receivedAt)
	case ingest.SourceAlertmanager:
		return ingest.ParseAlertmanager(r.Body, receivedAt)
	case ingest.SourceGeneric:
		return ingest.ParseGeneric(r.Body, receivedAt)
	case ingest.SourcePagerDuty:
		ev, err := ingest.ParsePagerDuty(r.Body, receivedAt, newKey)
		if err != nil {
			return nil, err
		}
		return []ingest.Event{ev}, nil
	}
	return nil, fmt.Errorf("unknown format %q", r.Format)
}
