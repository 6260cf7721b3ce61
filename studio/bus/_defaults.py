"""The bus's default constants, each with the reason for its value (see also studio.defaults)."""

from __future__ import annotations

# A claim on a table-bus message lasts this long without renewal; a live consumer renews it
# three times per period, so only a dead (or frozen) consumer's messages are redelivered.
# Same as the executor lease: a lost consumer is noticed as fast as a lost execution.
VISIBILITY_TIMEOUT_SECONDS = 30.0
# How often an idle table-bus consumer looks for messages published by *other* processes;
# publishes in the same process wake it at once. 50 ms: well under a human's notice, and an
# idle poll is one indexed read.
TABLE_POLL_SECONDS = 0.05
# How long a SQLite writer waits for the lock before failing: generous, since a writer
# holds it for one short transaction (plus the fsync).
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
# Log rows copied into a group's pending rows per transaction: bounds one poll's work after
# a group has been away for a long time.
MATERIALIZE_BATCH = 1000

# Partitions of a topic the Kafka bus creates: the most consumers of one group that can work
# in parallel. Six covers the executor counts we expect on a few machines.
KAFKA_PARTITIONS = 6
# Replication factor of topics the Kafka bus creates; -1 = the broker's default.
KAFKA_REPLICATION_FACTOR = -1
# A Kafka group notices a crashed member after this long. 10 s, not librdkafka's 45 s: a
# redelivery after a crash should not wait long (Tansu also waits half of it on every join).
KAFKA_SESSION_TIMEOUT_MS = 10_000
# A consumer may hold a message this long between polls before it is expelled from the group:
# the longest run (studio.defaults.RUN_TIMEOUT_SECONDS) plus five minutes to record it.
KAFKA_MAX_POLL_INTERVAL_MS = 3_900_000
# How long publish waits for the broker to confirm (acks=all) before raising BusError.
KAFKA_PUBLISH_TIMEOUT_SECONDS = 30.0
