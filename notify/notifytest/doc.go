// Package notifytest helps test notify integrations against local
// servers: an httptest server that records every request and answers
// from a script, golden files of the recorded requests, and a sample
// incident. Only tests import it.
//
// # Concurrency
//
// A Server records from its handler goroutines under a mutex; read it
// with Requests after the calls under test have returned.
package notifytest
