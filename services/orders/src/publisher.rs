//! Publishing `OrderCreated` envelopes to Kafka with an idempotent producer, waiting for the
//! delivery report: a publish only succeeds once every in-sync replica has the record.

use std::time::Duration;

use rdkafka::{
    error::KafkaError,
    producer::{FutureProducer, FutureRecord, Producer, PurgeConfig},
    util::Timeout,
};

/// Why an event was not published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Kafka refused or failed the delivery (including `message.timeout.ms` expiry).
    #[error("delivery failed: {0}")]
    Delivery(KafkaError),
    /// No delivery report within the publish timeout.
    #[error("no delivery report within {0:?}")]
    TimedOut(Duration),
}

/// Where a record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// Partition.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
}

/// The event publisher. Cheap to clone.
#[derive(Clone)]
pub struct EventPublisher {
    producer: FutureProducer,
    topic: String,
    timeout: Duration,
}

impl std::fmt::Debug for EventPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventPublisher")
            .field("topic", &self.topic)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl EventPublisher {
    /// An idempotent producer (`acks=all`) for `topic` whose deliveries fail after `timeout`.
    pub fn new(bootstrap: &str, topic: &str, timeout: Duration) -> Result<Self, KafkaError> {
        let producer: FutureProducer =
            zte_kafka::idempotent_producer_config(bootstrap, "orders-service", timeout).create()?;
        Ok(Self {
            producer,
            topic: topic.to_owned(),
            timeout,
        })
    }

    /// Sends `value` keyed by `key` and waits for the delivery report.
    pub async fn publish(&self, key: &str, value: &[u8]) -> Result<Delivered, PublishError> {
        let record = FutureRecord::to(&self.topic).key(key).payload(value);
        // message.timeout.ms already bounds the delivery; the outer timeout (with a margin
        // for the report to reach us) guards against a report that never arrives.
        let send = self.producer.send(record, Timeout::After(self.timeout));
        match tokio::time::timeout(self.timeout + Duration::from_secs(1), send).await {
            Ok(Ok(delivery)) => Ok(Delivered {
                partition: delivery.partition,
                offset: delivery.offset,
            }),
            Ok(Err((error, _))) => Err(PublishError::Delivery(error)),
            Err(_) => {
                // librdkafka still holds the record and would deliver it once the broker is
                // back: the caller is told UNAVAILABLE and the order stays invisible, so the
                // event must not arrive later and be paid. Purge every record still queued
                // (not yet sent); their own callers fail the same way.
                self.producer.purge(PurgeConfig::default().queue());
                tracing::warn!(
                    "delivery report overdue; purged unsent records from the producer queue"
                );
                Err(PublishError::TimedOut(self.timeout))
            }
        }
    }

    /// True when the cluster answers a metadata request within `timeout`.
    pub async fn cluster_reachable(&self, timeout: Duration) -> bool {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(None, Timeout::After(timeout))
                .map(|metadata| !metadata.brokers().is_empty())
        })
        .await
        .is_ok_and(|result| result.unwrap_or(false))
    }

    /// Waits up to `timeout` for queued records to be delivered.
    pub async fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || producer.flush(Timeout::After(timeout)))
            .await
            .unwrap_or(Ok(()))
    }
}
