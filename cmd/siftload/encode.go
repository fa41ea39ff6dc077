package main

import (
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// format is one of siftd's wire formats.
type format int

// The formats, in the order --format=mixed rotates through them.
const (
	fmtPrometheus format = iota
	fmtAlertmanager
	fmtPagerDuty
	fmtGeneric
	numFormats
)

var formatNames = [numFormats]string{"prometheus", "alertmanager", "pagerduty", "generic"}

// formatPaths are the endpoints, relative to --url.
var formatPaths = [numFormats]string{"/api/v2/alerts", "/api/v1/alertmanager", "/v2/enqueue", "/api/v1/events"}

func (f format) String() string { return formatNames[f] }

// spec is one event to encode: which series, and whether it is a resolve.
type spec struct {
	series   int
	resolved bool
}

// resendWindow is how far ahead a firing Prometheus alert's endsAt is, as
// Prometheus sets it on every resend (4 × the 1m resend delay).
const resendWindow = 4 * time.Minute

// stampLen is the length of a time as the bodies hold it: RFC 3339 in UTC
// to the second, "2006-01-02T15:04:05Z".
const stampLen = 20

// body is one pre-encoded request body. Its time fields that follow the
// clock sit at fixed offsets, so refresh rewrites them in place instead of
// re-encoding the body.
//
// Concurrency: a body belongs to one worker. inflight counts the request
// readers over buf that the HTTP transport has not finished writing; while
// it is non-zero buf must not change (the transport may still write it
// after Do returned), so the worker rewrites a copy instead (see clone).
type body struct {
	format format
	buf    []byte
	events int
	// fwd are the offsets of stamps meaning now+resendWindow (a firing
	// Prometheus alert's endsAt); now are those meaning now (a resolved
	// Prometheus alert's endsAt, a generic event's timestamp).
	fwd, now []int32
	// stamp is the unix second the stamps hold.
	stamp    int64
	inflight atomic.Int32
}

// busy reports whether the transport may still read buf.
func (b *body) busy() bool { return b.inflight.Load() != 0 }

// clone returns a copy of b with its own buffer.
func (b *body) clone() *body {
	return &body{
		format: b.format,
		buf:    slices.Clone(b.buf),
		events: b.events,
		fwd:    slices.Clone(b.fwd),
		now:    slices.Clone(b.now),
		stamp:  b.stamp,
	}
}

// refresh sets the clock-following time fields to the unix second sec.
// It costs nothing when they already say sec, so callers call it before
// every request: each body is rewritten at most once a second.
func (b *body) refresh(sec int64) {
	if b.stamp == sec || (len(b.fwd) == 0 && len(b.now) == 0) {
		b.stamp = sec
		return
	}
	var fw, nw [stampLen]byte
	appendStamp(fw[:0], sec+int64(resendWindow/time.Second))
	appendStamp(nw[:0], sec)
	for _, off := range b.fwd {
		copy(b.buf[off:off+stampLen], fw[:])
	}
	for _, off := range b.now {
		copy(b.buf[off:off+stampLen], nw[:])
	}
	b.stamp = sec
}

func appendStamp(dst []byte, sec int64) []byte {
	return time.Unix(sec, 0).UTC().AppendFormat(dst, time.RFC3339)
}

// The label model. Series n has these labels, the first --labels of them
// (at least alertname, service and instance, which make a series unique),
// then label_09, label_10... if more are asked for.
var baseLabelNames = []string{"alertname", "service", "instance", "job", "severity", "cluster", "env", "team"}

const (
	lblAlertname = iota
	lblService
	lblInstance
	lblJob
	lblSeverity
	lblCluster
	lblEnv
	lblTeam
)

// minLabels is the fewest labels that keep series distinct.
const minLabels = 3

// maxSeries bounds --series: the instance label, 10.a.b.c, is unique
// below 2^24.
const maxSeries = 1 << 24

var (
	alertNames = []string{"HighRequestLatency", "HighErrorRate", "InstanceDown", "DiskSpaceLow",
		"MemoryPressure", "CPUThrottlingHigh", "KubePodCrashLooping", "CertificateExpiringSoon"}
	// severities cycles with the series number; every value is one that
	// PagerDuty accepts too. Since len(alertNames) is a multiple, each
	// alertname has one severity, as an alerting rule does.
	severities = []string{"critical", "warning", "info", "error"}
	jobs       = []string{"node", "api", "postgres", "redis", "kafka"}
	clusters   = []string{"eu-west-1", "us-east-1", "ap-southeast-2"}
	envs       = []string{"prod", "prod", "prod", "staging"}
)

// All values below are plain ASCII without quotes or backslashes, so the
// builders write them into JSON strings without escaping
// (TestValuesNeedNoEscaping holds them to that).

func appendLabelValue(b []byte, k, n int) []byte {
	switch k {
	case lblAlertname:
		return append(b, alertNames[n%len(alertNames)]...)
	case lblService:
		b = append(b, "svc-"...)
		return strconv.AppendInt(b, int64((n/len(alertNames))%500), 10)
	case lblInstance:
		b = append(b, "10."...)
		b = strconv.AppendInt(b, int64(n>>16&255), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(n>>8&255), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(n&255), 10)
		return append(b, ":9100"...)
	case lblJob:
		return append(b, jobs[(n/len(alertNames))%len(jobs)]...)
	case lblSeverity:
		return append(b, severities[n%len(severities)]...)
	case lblCluster:
		return append(b, clusters[(n/64)%len(clusters)]...)
	case lblEnv:
		return append(b, envs[(n/256)%len(envs)]...)
	case lblTeam:
		b = append(b, "team-"...)
		return strconv.AppendInt(b, int64(n%12), 10)
	}
	b = append(b, 'v')
	return strconv.AppendInt(b, int64(n%(k*7+3)), 10)
}

func labelName(k int) string {
	if k < len(baseLabelNames) {
		return baseLabelNames[k]
	}
	if k+1 < 10 {
		return "label_0" + strconv.Itoa(k+1)
	}
	return "label_" + strconv.Itoa(k+1)
}

// encoder builds request bodies by appending bytes; it is immutable and
// shared by the workers.
type encoder struct {
	names []string // label names by index
	order []int    // label indices sorted by name, the order bodies use
	// epoch is the second the run started; series start before it.
	epoch int64
	// routingKey is the PagerDuty integration key sent (siftd only checks
	// that there is one).
	routingKey string
}

func newEncoder(labels int, epoch int64) *encoder {
	e := &encoder{epoch: epoch, routingKey: "siftload0000000000000000000000000"}
	for k := range labels {
		e.names = append(e.names, labelName(k))
		e.order = append(e.order, k)
	}
	slices.SortFunc(e.order, func(a, b int) int {
		if e.names[a] < e.names[b] {
			return -1
		}
		return 1
	})
	return e
}

// startsAt is series n's fixed start: a minute to an hour before the run.
func (e *encoder) startsAt(n int) int64 {
	return e.epoch - 60 - int64(n*7919%3600)
}

// build encodes specs as a body of format f into b, reusing b's buffers,
// with clock-following times set to the unix second sec. A PagerDuty body
// holds one event: only specs[0] is used.
func (e *encoder) build(b *body, f format, specs []spec, sec int64) {
	b.format = f
	b.buf, b.fwd, b.now = b.buf[:0], b.fwd[:0], b.now[:0]
	b.events = len(specs)
	b.stamp = sec
	switch f {
	case fmtPrometheus:
		e.prometheus(b, specs, sec)
	case fmtAlertmanager:
		e.alertmanager(b, specs)
	case fmtPagerDuty:
		b.events = 1
		e.pagerDuty(b, specs[0])
	case fmtGeneric:
		e.generic(b, specs, sec)
	}
}

func (e *encoder) labels(b []byte, n int) []byte {
	b = append(b, '{')
	for i, k := range e.order {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, e.names[k]...)
		b = append(b, `":"`...)
		b = appendLabelValue(b, k, n)
		b = append(b, '"')
	}
	return append(b, '}')
}

func appendSummary(b []byte, n int) []byte {
	b = appendLabelValue(b, lblAlertname, n)
	b = append(b, " on "...)
	return appendLabelValue(b, lblInstance, n)
}

func appendDescription(b []byte, n int) []byte {
	b = append(b, "siftload series "...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, ": "...)
	b = appendLabelValue(b, lblService, n)
	b = append(b, " in "...)
	return appendLabelValue(b, lblCluster, n)
}

func appendAnnotations(b []byte, n int) []byte {
	b = append(b, `{"description":"`...)
	b = appendDescription(b, n)
	b = append(b, `","summary":"`...)
	b = appendSummary(b, n)
	return append(b, `"}`...)
}

func appendGeneratorURL(b []byte, n int) []byte {
	b = append(b, "http://prometheus.example:9090/graph?g0.expr=ALERTS%7Balertname%3D%22"...)
	b = appendLabelValue(b, lblAlertname, n)
	return append(b, "%22%7D&g0.tab=1"...)
}

// slot appends a stamp for sec and records its offset in *offs.
func slot(b []byte, offs *[]int32, sec int64) []byte {
	*offs = append(*offs, int32(len(b)))
	return appendStamp(b, sec)
}

// prometheus: what Prometheus POSTs to /api/v2/alerts. startsAt is fixed
// per series; a firing alert's endsAt is now+4m, a resolved one's now.
func (e *encoder) prometheus(b *body, specs []spec, sec int64) {
	buf := append(b.buf, '[')
	for i, s := range specs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"labels":`...)
		buf = e.labels(buf, s.series)
		buf = append(buf, `,"annotations":`...)
		buf = appendAnnotations(buf, s.series)
		buf = append(buf, `,"startsAt":"`...)
		buf = appendStamp(buf, e.startsAt(s.series))
		buf = append(buf, `","endsAt":"`...)
		if s.resolved {
			buf = slot(buf, &b.now, sec)
		} else {
			buf = slot(buf, &b.fwd, sec+int64(resendWindow/time.Second))
		}
		buf = append(buf, `","generatorURL":"`...)
		buf = appendGeneratorURL(buf, s.series)
		buf = append(buf, `"}`...)
	}
	b.buf = append(buf, ']')
}

// alertmanager: a webhook v4 message holding the specs as its alerts.
// commonLabels and commonAnnotations are computed as Alertmanager does;
// the group is the empty one ({}:{}). Firing alerts have the zero endsAt
// Alertmanager sends; resolved ones end at the run's start.
func (e *encoder) alertmanager(b *body, specs []spec) {
	buf := append(b.buf, `{"version":"4","groupKey":"{}:{}","truncatedAlerts":0,"status":"`...)
	status := "resolved"
	for _, s := range specs {
		if !s.resolved {
			status = "firing"
			break
		}
	}
	buf = append(buf, status...)
	buf = append(buf, `","receiver":"siftload","groupLabels":{},"commonLabels":{`...)
	first := true
	for _, k := range e.order {
		if v, ok := commonValue(specs, func(d []byte, n int) []byte { return appendLabelValue(d, k, n) }); ok {
			if !first {
				buf = append(buf, ',')
			}
			first = false
			buf = append(buf, '"')
			buf = append(buf, e.names[k]...)
			buf = append(buf, `":"`...)
			buf = append(buf, v...)
			buf = append(buf, '"')
		}
	}
	buf = append(buf, `},"commonAnnotations":{`...)
	first = true
	for _, a := range []struct {
		name string
		f    func([]byte, int) []byte
	}{{"description", appendDescription}, {"summary", appendSummary}} {
		if v, ok := commonValue(specs, a.f); ok {
			if !first {
				buf = append(buf, ',')
			}
			first = false
			buf = append(buf, '"')
			buf = append(buf, a.name...)
			buf = append(buf, `":"`...)
			buf = append(buf, v...)
			buf = append(buf, '"')
		}
	}
	buf = append(buf, `},"externalURL":"http://alertmanager.example:9093","alerts":[`...)
	for i, s := range specs {
		if i > 0 {
			buf = append(buf, ',')
		}
		if s.resolved {
			buf = append(buf, `{"status":"resolved","labels":`...)
		} else {
			buf = append(buf, `{"status":"firing","labels":`...)
		}
		buf = e.labels(buf, s.series)
		buf = append(buf, `,"annotations":`...)
		buf = appendAnnotations(buf, s.series)
		buf = append(buf, `,"startsAt":"`...)
		buf = appendStamp(buf, e.startsAt(s.series))
		if s.resolved {
			buf = append(buf, `","endsAt":"`...)
			buf = appendStamp(buf, e.epoch)
		} else {
			buf = append(buf, `","endsAt":"0001-01-01T00:00:00Z`...)
		}
		buf = append(buf, `","generatorURL":"`...)
		buf = appendGeneratorURL(buf, s.series)
		buf = append(buf, `","fingerprint":"`...)
		buf = appendFingerprint(buf, e.fingerprint(s.series))
		buf = append(buf, `"}`...)
	}
	b.buf = append(buf, "]}"...)
}

// commonValue reports the value f gives every spec, if it is the same.
func commonValue(specs []spec, f func([]byte, int) []byte) ([]byte, bool) {
	var a, c [128]byte
	v := f(a[:0], specs[0].series)
	for _, s := range specs[1:] {
		if string(f(c[:0], s.series)) != string(v) {
			return nil, false
		}
	}
	return v, true
}

// fingerprint is series n's label set fingerprint as Alertmanager (and
// siftd) computes it: FNV-1a over the sorted names and values, each
// followed by 0xff, as model.LabelSet.Fingerprint.
func (e *encoder) fingerprint(n int) uint64 {
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	add := func(s []byte) {
		for _, c := range s {
			h ^= uint64(c)
			h *= prime64
		}
		h ^= 0xff
		h *= prime64
	}
	var v [128]byte
	for _, k := range e.order {
		add([]byte(e.names[k]))
		add(appendLabelValue(v[:0], k, n))
	}
	return h
}

func appendFingerprint(b []byte, fp uint64) []byte {
	const hex = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, hex[fp>>uint(shift)&15])
	}
	return b
}

// pagerDuty: one Events API v2 event. The dedup_key is the series, so
// repeats deduplicate; a resolved spec is a "resolve" action.
func (e *encoder) pagerDuty(b *body, s spec) {
	buf := append(b.buf, `{"routing_key":"`...)
	buf = append(buf, e.routingKey...)
	if s.resolved {
		buf = append(buf, `","event_action":"resolve","dedup_key":"siftload-`...)
	} else {
		buf = append(buf, `","event_action":"trigger","dedup_key":"siftload-`...)
	}
	buf = strconv.AppendInt(buf, int64(s.series), 10)
	buf = append(buf, `","payload":{"summary":"`...)
	buf = appendSummary(buf, s.series)
	buf = append(buf, `","source":"`...)
	buf = appendLabelValue(buf, lblInstance, s.series)
	buf = append(buf, `","severity":"`...)
	buf = appendLabelValue(buf, lblSeverity, s.series)
	buf = append(buf, `","component":"`...)
	buf = appendLabelValue(buf, lblService, s.series)
	buf = append(buf, `","group":"`...)
	buf = appendLabelValue(buf, lblCluster, s.series)
	buf = append(buf, `","class":"`...)
	buf = appendLabelValue(buf, lblAlertname, s.series)
	b.buf = append(buf, `"}}`...)
}

// generic: sift's generic events; timestamp is now.
func (e *encoder) generic(b *body, specs []spec, sec int64) {
	buf := append(b.buf, '[')
	for i, s := range specs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"labels":`...)
		buf = e.labels(buf, s.series)
		buf = append(buf, `,"annotations":`...)
		buf = appendAnnotations(buf, s.series)
		buf = append(buf, `,"severity":"`...)
		buf = appendLabelValue(buf, lblSeverity, s.series)
		if s.resolved {
			buf = append(buf, `","status":"resolved","timestamp":"`...)
		} else {
			buf = append(buf, `","status":"firing","timestamp":"`...)
		}
		buf = slot(buf, &b.now, sec)
		buf = append(buf, `","source":"siftload"}`...)
	}
	b.buf = append(buf, ']')
}
