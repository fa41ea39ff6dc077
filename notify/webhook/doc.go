// Package webhook is the generic webhook integration: each notification
// is POSTed as one JSON object (Payload), optionally signed with
// HMAC-SHA256 of the body in the X-Sift-Signature-256 header
// ("sha256=<hex>", as GitHub signs its webhooks).
//
// # Concurrency
//
// Notify may be called from one goroutine at a time per Webhook (the
// notifier's contract); the Webhook holds no mutable state.
package webhook
