// Command siftload is a load generator for siftd's HTTP receivers: it
// posts Prometheus, Alertmanager webhook, PagerDuty Events v2 or generic
// events, or a mix, and reports the accepted event rate, the answers by
// status code and the request latency.
//
// Request bodies are built before the run, by appending bytes, so that
// siftload spends its CPU on sending rather than encoding: it shares the
// machine with the siftd it measures. It only ever targets the --url
// given, and stops after --duration or --requests.
//
// For crash tests it can record what siftd acknowledged (--ack-log, read
// by siftctl replay --requests), keep each series on one worker so that
// its events go out in order (--partition), and resolve everything at the
// end (--resolve-at-end); see docs/durability.md.
package main
