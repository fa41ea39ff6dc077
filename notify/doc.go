// Package notify tells people and ITSM platforms about incidents: it
// derives incident events from the engine's change stream, routes them
// through an Alertmanager-like tree of routes to receivers, renders them
// with Alertmanager's template package, and delivers them through
// integrations (webhook, Slack, email, PagerDuty and the ticketing
// platforms, in the sub-packages) with timeouts, retries, rate limits and
// a notification log. (notify/kafka is a sink of its own: it publishes
// the raw changes to a Kafka topic.)
//
// Events come from the incident versions the engine publishes: the
// timeline entries a version added since the last one seen (Derive) say
// that it opened, changed priority, was acknowledged, resolved, reopened
// or closed. An event is numbered by its timeline entry, so the key
// (integration, incident, event, occurrence) is the same however often
// the change is processed. Before delivery the key is looked up in the
// notification log, which lives in the engine state (correlate's
// RecordNotification): a change processed twice, or again after a
// restart, sends nothing twice. After a restart, Resume takes up the
// recovered incidents: each event of theirs that the log does not record
// as sent or held (due, in flight or failed when siftd stopped) is sent.
//
// Resolved and reopened events of an incident whose alerts flap are held
// back until the flapping has stopped for the flap hold, and then only
// the net change is sent (the rest is recorded as held). Routes with a
// repeat_interval repeat the notification of an incident that stays new.
//
// # Concurrency
//
// Consume runs on the engine's goroutine and never blocks: it derives the
// events and puts them on a bounded queue, counting what does not fit.
// Run's goroutine routes them (reading the notification log through memdb
// read transactions) and offers each to its integrations' own bounded
// queues; each integration has one worker goroutine that delivers in
// order (a ticket is created before it is updated), waits for its rate
// limit, retries with exponential backoff and jitter, and records the
// outcome through an engine command. So a slow or failing receiver delays
// only itself, and the engine never waits for a receiver. SetPlan (a
// reload of routes and templates) may be called from any goroutine.
//
// It does not decide what an incident is (correlate does) and never
// writes the state except through the engine's RecordNotification.
package notify
