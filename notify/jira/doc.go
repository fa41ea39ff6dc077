// Package jira files sift incidents as Jira Service Management issues
// through Jira's REST API v2: the first event creates an issue (POST
// /rest/api/2/issue); later ones comment on it, update the mapped fields,
// and move it with the workflow transition mapped to the incident's
// state (looked up by transition or target status name; a transition the
// issue does not offer now is skipped). The ticket id is the issue key.
//
// # Concurrency
//
// Notify may be called from one goroutine at a time (the notifier's
// contract); a Jira holds no mutable state.
package jira
