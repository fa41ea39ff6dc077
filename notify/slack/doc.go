// Package slack is the Slack integration: notifications go to an
// incoming webhook as one message with an attachment (color by priority,
// green once resolved), rendered from the slack.sift.* templates or the
// configured ones.
//
// # Concurrency
//
// Notify may be called from one goroutine at a time per Slack (the
// notifier's contract); a Slack holds no mutable state.
package slack
