// Package kafkatest gives tests a Kafka cluster: the in-process kfake
// cluster of franz-go, or the real brokers named in SIFT_KAFKA_BROKERS
// (comma-separated host:port), so that the same tests run against both.
// Every topic a test creates has a unique name, so tests do not see each
// other's messages on a shared broker.
//
// Tests talk to the cluster with kafka-go, the client siftd uses.
package kafkatest
