//! The OrderCreated consumer: at-least-once, one outcome per record.
//!
//! Each record ends in exactly one of: a payment recorded, a duplicate ignored, or a copy on
//! the dead-letter topic. Only then is its offset *stored*; librdkafka auto-commits stored
//! offsets, and the consumer also commits synchronously on partition revocation and at
//! shutdown. So an offset is never committed for a record that was not fully handled, and a
//! crash only causes redelivery, which the payment store absorbs as a duplicate.
//!
//! Transient failures (JWKS unreachable for an unknown key, DLQ produce failed, SQLite busy or
//! failing) are retried with capped exponential backoff for as long as it takes: a valid
//! event is never dead-lettered or skipped because a dependency blinked. Shutdown interrupts
//! a retry without storing the offset (the record is redelivered after restart).

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use rdkafka::{
    ClientContext, Message, Offset, TopicPartitionList,
    consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer},
    error::{KafkaError, RDKafkaErrorCode},
    message::{BorrowedMessage, Header, Headers, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use zte_event::{EventVerifier, Rejection, VerifiedEvent};

use crate::{
    stats::ConsumerStats,
    store::{PaymentRecord, PaymentStore, RecordOutcome},
};

/// DLQ header: the rejection's stable reason name (e.g. `bad_signature`).
pub const HEADER_REASON: &str = "dlq-reason";
/// DLQ header: a human-readable detail of the rejection.
pub const HEADER_DETAIL: &str = "dlq-detail";
/// DLQ header: the topic the record was read from.
pub const HEADER_SOURCE_TOPIC: &str = "dlq-source-topic";
/// DLQ header: the partition the record was read from (decimal).
pub const HEADER_SOURCE_PARTITION: &str = "dlq-source-partition";
/// DLQ header: the record's offset in its source partition (decimal).
pub const HEADER_SOURCE_OFFSET: &str = "dlq-source-offset";

/// How long one DLQ produce may take (retries inside librdkafka included) before the attempt
/// counts as failed and is retried by the consumer.
pub(crate) const DLQ_DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

const RETRY_INITIAL: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);
const MAX_DETAIL_CHARS: usize = 512;

/// Consumer context: logs rebalances, commits stored offsets before partitions are revoked,
/// and tracks how many partitions are assigned (for health).
#[derive(Debug, Clone, Default)]
pub(crate) struct PaymentsContext {
    assigned: Arc<AtomicUsize>,
}

impl PaymentsContext {
    /// Shared count of assigned partitions.
    pub(crate) fn assigned(&self) -> Arc<AtomicUsize> {
        self.assigned.clone()
    }
}

impl ClientContext for PaymentsContext {}

impl ConsumerContext for PaymentsContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(partitions) => {
                tracing::info!(partitions = %describe(partitions), "partitions revoked");
                // Rebalance callbacks run inside poll, between records: every stored offset
                // belongs to a fully handled record, so committing now loses nothing and
                // spares the next owner a redelivery.
                commit_stored(consumer, "revocation");
            }
            Rebalance::Assign(partitions) => {
                tracing::info!(partitions = %describe(partitions), "partitions assigned");
            }
            Rebalance::Error(error) => tracing::warn!(%error, "rebalance error"),
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, _rebalance: &Rebalance<'_>) {
        let count = consumer.assignment().map(|a| a.count()).unwrap_or(0);
        self.assigned.store(count, Ordering::Relaxed);
    }

    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        offsets: &TopicPartitionList,
    ) {
        match result {
            Ok(()) => tracing::debug!(offsets = %describe(offsets), "offsets committed"),
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(error) => tracing::warn!(%error, "offset commit failed"),
        }
    }
}

fn commit_stored<C: Consumer<PaymentsContext>>(consumer: &C, when: &'static str) {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) => tracing::debug!(when, "stored offsets committed"),
        // Nothing stored since the last commit.
        Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(error) => tracing::warn!(when, %error, "committing stored offsets failed"),
    }
}

fn describe(partitions: &TopicPartitionList) -> String {
    partitions
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => format!("{}[{}]@{o}", e.topic(), e.partition()),
            _ => format!("{}[{}]", e.topic(), e.partition()),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// What happened to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Paid,
    Duplicate,
    DeadLettered,
}

/// A failure worth retrying, with a reason name for logs.
#[derive(Debug)]
struct Transient {
    reason: &'static str,
    detail: String,
}

/// The consumer loop and everything it needs.
pub(crate) struct EventConsumer {
    pub(crate) consumer: StreamConsumer<PaymentsContext>,
    pub(crate) producer: FutureProducer,
    pub(crate) verifier: EventVerifier,
    pub(crate) store: PaymentStore,
    pub(crate) stats: Arc<ConsumerStats>,
    pub(crate) dlq_topic: String,
}

impl std::fmt::Debug for EventConsumer {
    // The rdkafka clients have no Debug; name the parts that identify this consumer.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventConsumer")
            .field("dlq_topic", &self.dlq_topic)
            .field("stats", &self.stats.snapshot())
            .finish_non_exhaustive()
    }
}

impl EventConsumer {
    /// Consumes until `shutdown` is cancelled, then commits stored offsets and leaves the
    /// group.
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        loop {
            let received = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                received = self.consumer.recv() => received,
            };
            let message = match received {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(%error, "Kafka consumer error");
                    continue;
                }
            };
            let span = tracing::info_span!(
                "record",
                topic = message.topic(),
                partition = message.partition(),
                offset = message.offset(),
                order_id = %short_key(message.key()),
            );
            let handled = self
                .handle(&message, &shutdown)
                .instrument(span.clone())
                .await;
            let Some(outcome) = handled else {
                span.in_scope(|| {
                    tracing::info!("shutdown during retries; record left for redelivery")
                });
                break;
            };
            if let Err(error) = self.consumer.store_offset_from_message(&message) {
                // Usually the partition was revoked meanwhile: the new owner redelivers it and
                // the store reports a duplicate.
                span.in_scope(|| tracing::warn!(%error, ?outcome, "storing the offset failed"));
            }
        }
        commit_stored(&self.consumer, "shutdown");
        self.consumer.unsubscribe();
        self.stats.log_summary("shutdown");
        tracing::info!("consumer stopped");
        // Dropping the consumer closes it, which leaves the group.
    }

    /// Handles one record, retrying transient failures. `None` when shutdown interrupted the
    /// retries (the record is not handled).
    async fn handle(
        &self,
        message: &BorrowedMessage<'_>,
        shutdown: &CancellationToken,
    ) -> Option<Outcome> {
        let mut delay = RETRY_INITIAL;
        let mut attempt: u32 = 1;
        loop {
            match self.try_handle(message).await {
                Ok(outcome) => return Some(outcome),
                Err(Transient { reason, detail }) => {
                    self.stats.retried();
                    tracing::warn!(reason, %detail, attempt, retry_in = ?delay, "transient failure; will retry");
                    tokio::select! {
                        biased;
                        () = shutdown.cancelled() => return None,
                        () = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(RETRY_MAX);
                    attempt = attempt.saturating_add(1);
                }
            }
        }
    }

    async fn try_handle(&self, message: &BorrowedMessage<'_>) -> Result<Outcome, Transient> {
        match self.verifier.verify(message.key(), message.payload()).await {
            Ok(event) => {
                let record = payment_record(&event);
                let order_id = record.order_transaction_id.clone();
                match self.store.record(record).await {
                    Ok(RecordOutcome::Paid) => {
                        self.stats.paid();
                        tracing::info!(%order_id, amount_minor = event.order.total_minor, currency = %event.order.currency, user_id = %event.order.user_id, "payment recorded");
                        Ok(Outcome::Paid)
                    }
                    Ok(RecordOutcome::Duplicate) => {
                        self.stats.duplicate();
                        tracing::info!(%order_id, "duplicate event; order already paid");
                        Ok(Outcome::Duplicate)
                    }
                    Err(error) => Err(Transient {
                        reason: "storage_unavailable",
                        detail: error.to_string(),
                    }),
                }
            }
            Err(rejection) if rejection.is_transient() => Err(Transient {
                reason: rejection.reason(),
                detail: rejection.to_string(),
            }),
            Err(rejection) => {
                self.dead_letter(message, &rejection).await?;
                self.stats.dead_lettered();
                tracing::warn!(reason = rejection.reason(), detail = %rejection, "record dead-lettered");
                Ok(Outcome::DeadLettered)
            }
        }
    }

    /// Copies the record unchanged (key, value, headers) to the DLQ with the rejection and
    /// source position in headers, and waits for the broker's acknowledgement.
    async fn dead_letter(
        &self,
        message: &BorrowedMessage<'_>,
        rejection: &Rejection,
    ) -> Result<(), Transient> {
        let detail: String = rejection
            .to_string()
            .chars()
            .take(MAX_DETAIL_CHARS)
            .collect();
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        let mut headers = OwnedHeaders::new();
        if let Some(original) = message.headers() {
            for header in original.iter() {
                headers = headers.insert(Header {
                    key: header.key,
                    value: header.value,
                });
            }
        }
        for (key, value) in [
            (HEADER_REASON, rejection.reason()),
            (HEADER_DETAIL, detail.as_str()),
            (HEADER_SOURCE_TOPIC, message.topic()),
            (HEADER_SOURCE_PARTITION, partition.as_str()),
            (HEADER_SOURCE_OFFSET, offset.as_str()),
        ] {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&self.dlq_topic).headers(headers);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(value) = message.payload() {
            record = record.payload(value);
        }
        match self.producer.send(record, DLQ_DELIVERY_TIMEOUT).await {
            Ok(delivery) => {
                tracing::debug!(
                    dlq_partition = delivery.partition,
                    dlq_offset = delivery.offset,
                    "dead-letter copy acknowledged"
                );
                Ok(())
            }
            Err((error, _)) => Err(Transient {
                reason: "dlq_unavailable",
                detail: error.to_string(),
            }),
        }
    }
}

fn payment_record(event: &VerifiedEvent) -> PaymentRecord {
    let created = event.order.created_at.unwrap_or_default();
    PaymentRecord {
        order_transaction_id: event.order.order_transaction_id.clone(),
        user_id: event.order.user_id.clone(),
        amount_minor: event.order.total_minor,
        currency: event.order.currency.clone(),
        order_created_at_ns: unix_nanos(created.seconds, created.nanos),
        recorded_at_ns: now_unix_nanos(),
        triggered_by: event
            .claims
            .act
            .as_ref()
            .map_or_else(|| event.claims.client_id.clone(), |a| a.sub.clone()),
    }
}

/// Unix nanoseconds, saturating at the i64 range (year 1677..2262).
pub(crate) fn unix_nanos(seconds: i64, nanos: i32) -> i64 {
    seconds
        .saturating_mul(1_000_000_000)
        .saturating_add(i64::from(nanos))
}

fn now_unix_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The record key for logs: UTF-8, at most 64 characters, control characters escaped (the key
/// comes from whoever can write to the topic; a raw newline would forge a log line).
fn short_key(key: Option<&[u8]>) -> String {
    key.map(|k| {
        String::from_utf8_lossy(k)
            .chars()
            .take(64)
            .flat_map(char::escape_debug)
            .collect()
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::short_key;

    #[test]
    fn record_keys_in_logs_cannot_forge_lines_and_are_bounded() {
        let forged = short_key(Some(
            b"id\n2026-01-01 INFO payment recorded\r\x1b[2J".as_slice(),
        ));
        assert!(!forged.chars().any(char::is_control), "{forged:?}");
        assert!(forged.starts_with("id\\n"));
        assert_eq!(short_key(Some([b'k'; 200].as_slice())).len(), 64);
        assert_eq!(short_key(None), "");
    }
}
