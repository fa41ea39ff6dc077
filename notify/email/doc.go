// Package email is the email integration: one message per notification
// over SMTP (STARTTLS, or TLS from the start on port 465; PLAIN or
// CRAM-MD5 authentication), multipart/alternative with a text and an
// HTML part rendered from the email.sift.* templates or the configured
// ones. A notification's Message-Id is made from its key, and later
// events of an incident reference the message of its opening, so mail
// clients thread them.
//
// # Concurrency
//
// Notify may be called from one goroutine at a time per Email (the
// notifier's contract); an Email holds no mutable state.
package email
