//! Kafka client settings every producer and consumer in the system uses. Kept out of
//! `zte-runtime` so that a service without Kafka (Identity) does not link librdkafka.

use std::time::Duration;

use rdkafka::ClientConfig;

/// Settings for an idempotent producer that only reports delivery once every in-sync
/// replica has the record (`acks=all`, `enable.idempotence=true`). `delivery_timeout` bounds
/// how long a send may take before it fails, retries included.
pub fn idempotent_producer_config(
    bootstrap: &str,
    client_id: &str,
    delivery_timeout: Duration,
) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("client.id", client_id)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("max.in.flight.requests.per.connection", "5")
        .set("compression.type", "lz4")
        .set("linger.ms", "2")
        .set(
            "message.timeout.ms",
            delivery_timeout.as_millis().to_string(),
        )
        .set("socket.connection.setup.timeout.ms", "5000");
    config
}

/// Settings for an at-least-once consumer: offsets are auto-committed only after the
/// application has *stored* them, which it does once a record is fully handled.
pub fn at_least_once_consumer_config(
    bootstrap: &str,
    group_id: &str,
    client_id: &str,
) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group_id)
        .set("client.id", client_id)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("socket.connection.setup.timeout.ms", "5000");
    config
}
