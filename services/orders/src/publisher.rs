//! Publishing `OrderCreated` envelopes to Kafka with an idempotent producer (`acks=all`),
//! waiting for the delivery report, and telling apart the two ways a publish can fail:
//!
//! - [`PublishError::NotSent`]: the record certainly never reached a broker (it was still in
//!   the producer's queue when the deadline passed and was purged, or the broker refused it
//!   for good: too large, unknown topic, not authorized). The order may be refused.
//! - [`PublishError::Unknown`]: the record may be in Kafka (it was sent and no
//!   acknowledgement came back in time: a stalled broker, a lost connection). The order must
//!   stay in the outbox and be sent again until acknowledged; Payments absorbs the copies.
//!
//! librdkafka times a record out itself only after the publish deadline plus a grace period,
//! so it is always this module that decides, at the deadline, by purging the queue: a record
//! still queued comes back `PurgeQueue` (not sent); one in flight is not purged.

use std::time::Duration;

use rdkafka::{
    error::{KafkaError, RDKafkaErrorCode},
    producer::{FutureProducer, FutureRecord, Producer, PurgeConfig},
    util::Timeout,
};

/// How long to wait for the purge's delivery report after the deadline.
pub const PURGE_GRACE: Duration = Duration::from_secs(1);

/// Why an event was not published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The record certainly did not reach Kafka.
    #[error("not sent: {0}")]
    NotSent(KafkaError),
    /// The record may have reached Kafka; it must be sent again.
    #[error("outcome unknown: {0}")]
    Unknown(String),
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
    /// An idempotent producer (`acks=all`) for `topic` whose publishes are decided within
    /// `timeout` (plus [`PURGE_GRACE`]).
    pub fn new(bootstrap: &str, topic: &str, timeout: Duration) -> Result<Self, KafkaError> {
        // librdkafka must not time records out before we purge (its MSG_TIMED_OUT cannot say
        // whether the record was sent).
        let producer: FutureProducer = zte_kafka::idempotent_producer_config(
            bootstrap,
            "orders-service",
            timeout + 2 * PURGE_GRACE,
        )
        .create()?;
        Ok(Self {
            producer,
            topic: topic.to_owned(),
            timeout,
        })
    }

    /// The publish deadline (`--publish-timeout`), not counting [`PURGE_GRACE`].
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends `value` keyed by `key` and waits for the delivery report.
    pub async fn publish(&self, key: &str, value: &[u8]) -> Result<Delivered, PublishError> {
        let record = FutureRecord::to(&self.topic).key(key).payload(value);
        let mut delivery = match self.producer.send_result(record) {
            Ok(delivery) => delivery,
            // Not even queued (queue full, record too large for the client).
            Err((error, _)) => return Err(PublishError::NotSent(error)),
        };
        let report = match tokio::time::timeout(self.timeout, &mut delivery).await {
            Ok(report) => report,
            Err(_) => {
                // Deadline: purge what is still queued (this record if it never left, and
                // other callers' unsent records, which fail the same way). Records in flight
                // are not purged; their reports decide.
                self.producer.purge(PurgeConfig::default().queue());
                match tokio::time::timeout(PURGE_GRACE, delivery).await {
                    Ok(report) => report,
                    Err(_) => {
                        return Err(PublishError::Unknown(format!(
                            "sent, no acknowledgement within {:?}",
                            self.timeout
                        )));
                    }
                }
            }
        };
        match report {
            Ok(Ok(delivery)) => Ok(Delivered {
                partition: delivery.partition,
                offset: delivery.offset,
            }),
            Ok(Err((error, _))) if certainly_not_sent(&error) => Err(PublishError::NotSent(error)),
            Ok(Err((error, _))) => Err(PublishError::Unknown(error.to_string())),
            Err(_) => Err(PublishError::Unknown("delivery report lost".into())),
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

/// Delivery errors after which the record is certainly not in Kafka. Anything else (a
/// timeout in flight above all) may have been written.
fn certainly_not_sent(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::PurgeQueue
                | RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::UnknownTopic
                | RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_before_sending_count_as_not_sent() {
        let produce = |code| KafkaError::MessageProduction(code);
        assert!(certainly_not_sent(&produce(RDKafkaErrorCode::PurgeQueue)));
        assert!(certainly_not_sent(&produce(
            RDKafkaErrorCode::MessageSizeTooLarge
        )));
        assert!(!certainly_not_sent(&produce(
            RDKafkaErrorCode::MessageTimedOut
        )));
        assert!(!certainly_not_sent(&produce(
            RDKafkaErrorCode::PurgeInflight
        )));
        assert!(!certainly_not_sent(&produce(
            RDKafkaErrorCode::BrokerTransportFailure
        )));
    }
}
