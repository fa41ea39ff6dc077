// Package notify is the home of the sinks that tell the outside world
// about engine changes. Each integration is a subpackage (notify/kafka
// publishes changes to a Kafka topic); receivers, routing, templates and
// the notification log join here as they are built (ARCHITECTURE.md).
package notify
