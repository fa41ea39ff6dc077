// Command siftd is the sift daemon: it ingests alerts and events over
// HTTP (Prometheus, Alertmanager webhook, PagerDuty Events v2, generic
// JSON), deduplicates them in memory, and serves the REST API, /metrics
// and the health endpoints.
//
// It runs with no flags on embedded defaults: listen on :9095, data under
// data/. Flags follow Prometheus' conventions: --config.file,
// --web.listen-address, --storage.path, --log.level, --log.format.
// SIGHUP or POST /-/reload reloads the config file; SIGTERM or SIGINT
// shuts down in order (see internal/app).
//
// main only parses flags and turns signals into calls on internal/app,
// which owns the wiring.
package main
