//! The copies Payments produces of a record it does not pay: a dead letter (the DLQ) or a
//! record set aside (the retry topic), and getting each one acknowledged.
//!
//! - A copy keeps the record's key, value and headers, except headers whose names Payments
//!   reserves (`dlq-*`, `retry-*`, any case): those are dropped before Payments adds its
//!   own, so nobody can forge a reason, a source position or a retry schedule.
//! - A **digest** dead letter carries the SHA-256 and size of the value (and of the key when
//!   it is longer than [`MAX_DIGEST_KEY`]) instead of the bytes, and none of the original
//!   headers: it is what an oversized record becomes, and what any dead letter becomes when
//!   the broker refuses it as too large. It always fits.
//! - Produce failures are classified: *too large* changes the copy (full → digest; a retry
//!   copy → a dead letter), *deployment* errors (topic missing, not authorized, fatal
//!   producer) mark the output topics broken, so the service is not ready, and the copy waits
//!   until a check finds them usable again; anything else is retried with backoff. Nothing
//!   is retried in a tight loop, and no record is skipped.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use rdkafka::{
    Message as _,
    error::{KafkaError, RDKafkaErrorCode},
    message::{Header, Headers as _, OwnedHeaders, OwnedMessage},
    producer::{FutureProducer, FutureRecord},
};
use tokio_util::sync::CancellationToken;

use super::retry::Origin;
use crate::topics::OutputTopics;

/// DLQ header: the stable reason name (e.g. `bad_signature`).
pub const HEADER_REASON: &str = "dlq-reason";
/// DLQ header: a human-readable detail of the reason.
pub const HEADER_DETAIL: &str = "dlq-detail";
/// DLQ header: the topic the record was first read from.
pub const HEADER_SOURCE_TOPIC: &str = "dlq-source-topic";
/// DLQ header: its partition there (decimal).
pub const HEADER_SOURCE_PARTITION: &str = "dlq-source-partition";
/// DLQ header: its offset there (decimal).
pub const HEADER_SOURCE_OFFSET: &str = "dlq-source-offset";
/// DLQ header: how many times the record was checked (1 unless it was set aside).
pub const HEADER_ATTEMPTS: &str = "dlq-attempts";
/// DLQ header (digest copies): lowercase hex SHA-256 of the original value.
pub const HEADER_VALUE_SHA256: &str = "dlq-value-sha256";
/// DLQ header (digest copies): size of the original value in bytes.
pub const HEADER_VALUE_SIZE: &str = "dlq-value-size";
/// DLQ header (digest copies of a long key): lowercase hex SHA-256 of the original key.
pub const HEADER_KEY_SHA256: &str = "dlq-key-sha256";
/// DLQ header (digest copies of a long key): size of the original key in bytes.
pub const HEADER_KEY_SIZE: &str = "dlq-key-size";
/// DLQ header (digest copies): size of the whole original record (key, value, headers).
pub const HEADER_RECORD_SIZE: &str = "dlq-record-size";

/// Header-name prefixes only Payments writes.
const RESERVED_PREFIXES: [&str; 2] = ["dlq-", "retry-"];
/// Longest key a digest copy keeps as is (an order id is 36 bytes).
pub(crate) const MAX_DIGEST_KEY: usize = 256;
/// Longest `dlq-detail`, in characters.
const MAX_DETAIL_CHARS: usize = 512;
/// How long a copy may wait for room in the producer's queue before the attempt fails.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(5);
/// Waits between attempts after a transient produce failure.
const RESEND_FIRST: Duration = Duration::from_millis(200);
const RESEND_MAX: Duration = Duration::from_secs(5);

/// True for a header name Payments reserves for its own headers.
pub(crate) fn is_reserved(name: &str) -> bool {
    RESERVED_PREFIXES.iter().any(|prefix| {
        name.len() >= prefix.len()
            && name.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
    })
}

/// Bytes of `message` as the broker counts them for a size limit: key, value, and each
/// header's name and value.
pub(crate) fn record_size(message: &OwnedMessage) -> usize {
    let headers = message.headers().map_or(0, |headers| {
        headers
            .iter()
            .map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len))
            .sum()
    });
    message.key().map_or(0, <[u8]>::len) + message.payload().map_or(0, <[u8]>::len) + headers
}

/// What a copy is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// The DLQ, for good.
    DeadLetter,
    /// The retry topic, to be checked again at `not_before`.
    SetAside { not_before: SystemTime },
}

/// One copy to produce (a dead letter or a record set aside).
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub(crate) purpose: Purpose,
    pub(crate) origin: Origin,
    /// Stable reason name.
    pub(crate) reason: &'static str,
    pub(crate) detail: String,
    /// Replace the value by its digest.
    pub(crate) digest: bool,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    /// The original headers, reserved names dropped.
    headers: Vec<(String, Option<Vec<u8>>)>,
    record_size: usize,
}

impl Outgoing {
    /// A copy of `message` (first read as `origin`) for `purpose`, because of `reason`.
    pub(crate) fn of(
        message: &OwnedMessage,
        origin: &Origin,
        purpose: Purpose,
        reason: &'static str,
        detail: &str,
    ) -> Self {
        let headers = message.headers().map_or_else(Vec::new, |headers| {
            headers
                .iter()
                .filter(|h| !is_reserved(h.key))
                .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                .collect()
        });
        Self {
            purpose,
            origin: origin.clone(),
            reason,
            detail: detail.chars().take(MAX_DETAIL_CHARS).collect(),
            digest: false,
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().map(<[u8]>::to_vec),
            headers,
            record_size: record_size(message),
        }
    }

    /// This copy as a digest dead letter.
    pub(crate) fn into_digest(mut self) -> Self {
        self.digest = true;
        self
    }

    /// A retry copy that cannot be set aside, as a dead letter (with why).
    fn into_dead_letter(mut self, why: &str) -> Self {
        self.purpose = Purpose::DeadLetter;
        self.detail = format!("{} (could not be set aside: {why})", self.detail)
            .chars()
            .take(MAX_DETAIL_CHARS)
            .collect();
        self
    }

    /// Key, value and headers as produced.
    fn parts(&self) -> (Option<&[u8]>, Option<&[u8]>, OwnedHeaders) {
        let mut ours: Vec<(&str, String)> = Vec::new();
        match &self.purpose {
            Purpose::SetAside { not_before } => {
                ours.extend(self.origin.retry_headers(self.reason, *not_before));
            }
            Purpose::DeadLetter => {
                ours.extend([
                    (HEADER_REASON, self.reason.to_owned()),
                    (HEADER_DETAIL, self.detail.clone()),
                    (HEADER_SOURCE_TOPIC, self.origin.topic.clone()),
                    (HEADER_SOURCE_PARTITION, self.origin.partition.to_string()),
                    (HEADER_SOURCE_OFFSET, self.origin.offset.to_string()),
                    (HEADER_ATTEMPTS, (self.origin.attempts + 1).to_string()),
                ]);
            }
        }
        let mut headers = OwnedHeaders::new();
        let mut key = self.key.as_deref();
        let mut value = self.value.as_deref();
        if self.digest {
            let value_bytes = value.unwrap_or_default();
            ours.extend([
                (HEADER_VALUE_SHA256, zte_event::payload_hash(value_bytes)),
                (HEADER_VALUE_SIZE, value_bytes.len().to_string()),
                (HEADER_RECORD_SIZE, self.record_size.to_string()),
            ]);
            if let Some(long) = key.filter(|k| k.len() > MAX_DIGEST_KEY) {
                ours.extend([
                    (HEADER_KEY_SHA256, zte_event::payload_hash(long)),
                    (HEADER_KEY_SIZE, long.len().to_string()),
                ]);
                key = None;
            }
            value = None;
        } else {
            for (name, original) in &self.headers {
                headers = headers.insert(Header {
                    key: name.as_str(),
                    value: original.as_deref(),
                });
            }
        }
        for (name, text) in &ours {
            headers = headers.insert(Header {
                key: name,
                value: Some(text.as_bytes()),
            });
        }
        (key, value, headers)
    }
}

/// How a produce failure is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// The broker (or the client's limit) refuses this record as it is.
    TooLarge,
    /// Topic missing, not authorized, fatal producer: no record can be written until the
    /// deployment is fixed.
    Deployment,
    /// Anything else (timeouts, broker unreachable, full queue): try again.
    Transient,
}

fn classify(error: &KafkaError) -> Failure {
    use RDKafkaErrorCode as Code;
    match error.rdkafka_error_code() {
        Some(
            Code::MessageSizeTooLarge
            | Code::MessageBatchTooLarge
            | Code::InvalidMessageSize
            | Code::InvalidRecord,
        ) => Failure::TooLarge,
        Some(
            Code::UnknownTopicOrPartition
            | Code::UnknownTopic
            | Code::UnknownTopicId
            | Code::InvalidTopic
            | Code::TopicAuthorizationFailed
            | Code::ClusterAuthorizationFailed
            | Code::PolicyViolation
            | Code::Fatal,
        ) => Failure::Deployment,
        _ => Failure::Transient,
    }
}

/// Produces copies to the DLQ and the retry topic and waits for the broker's acknowledgement.
#[derive(Clone)]
pub(crate) struct CopyProducer {
    producer: FutureProducer,
    dlq_topic: String,
    retry_topic: String,
    topics: Arc<OutputTopics>,
}

impl std::fmt::Debug for CopyProducer {
    // The rdkafka producer has no Debug.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyProducer")
            .field("dlq_topic", &self.dlq_topic)
            .field("retry_topic", &self.retry_topic)
            .finish_non_exhaustive()
    }
}

/// How a copy ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivered {
    DeadLettered,
    SetAside,
}

impl CopyProducer {
    pub(crate) fn new(
        producer: FutureProducer,
        dlq_topic: String,
        retry_topic: String,
        topics: Arc<OutputTopics>,
    ) -> Self {
        Self {
            producer,
            dlq_topic,
            retry_topic,
            topics,
        }
    }

    /// Produces every copy (concurrently, in order per output partition) until each is
    /// acknowledged; returns how each ended up, or `None` if `cancel` interrupted a wait
    /// (some copies may then be written twice after a redelivery: the DLQ is at least once).
    pub(crate) async fn deliver_all(
        &self,
        copies: Vec<Outgoing>,
        cancel: &CancellationToken,
    ) -> Option<Vec<Delivered>> {
        let deliveries = copies.into_iter().map(|copy| self.deliver(copy, cancel));
        futures::future::join_all(deliveries)
            .await
            .into_iter()
            .collect()
    }

    async fn deliver(&self, mut copy: Outgoing, cancel: &CancellationToken) -> Option<Delivered> {
        let mut pause = RESEND_FIRST;
        loop {
            let topic = match copy.purpose {
                Purpose::DeadLetter => &self.dlq_topic,
                Purpose::SetAside { .. } => &self.retry_topic,
            };
            let error = match self.send(topic, &copy).await {
                Ok(()) => {
                    self.topics.delivered();
                    let outcome = match copy.purpose {
                        Purpose::DeadLetter => Delivered::DeadLettered,
                        Purpose::SetAside { .. } => Delivered::SetAside,
                    };
                    log_copy(&copy, outcome);
                    return Some(outcome);
                }
                Err(error) => error,
            };
            match (classify(&error), &copy.purpose) {
                (Failure::TooLarge, Purpose::SetAside { .. }) => {
                    tracing::warn!(%error, %topic, "retry copy refused as too large; dead-lettering it");
                    copy = copy.into_dead_letter(&error.to_string());
                }
                (Failure::TooLarge, Purpose::DeadLetter) if !copy.digest => {
                    tracing::warn!(%error, %topic, "dead letter refused as too large; sending its digest");
                    copy = copy.into_digest();
                }
                (Failure::TooLarge | Failure::Deployment, _) => {
                    let why = format!("producing to {topic}: {error}");
                    tracing::error!(%why, "output topic unusable; waiting until it is fixed");
                    self.topics.broken(why);
                    if !self.topics.wait_usable(cancel).await {
                        return None;
                    }
                }
                (Failure::Transient, _) => {
                    tracing::warn!(%error, %topic, retry_in = ?pause, "producing a copy failed; retrying");
                    tokio::select! {
                        () = cancel.cancelled() => return None,
                        () = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(RESEND_MAX);
                }
            }
        }
    }

    async fn send(&self, topic: &str, copy: &Outgoing) -> Result<(), KafkaError> {
        let (key, value, headers) = copy.parts();
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).headers(headers);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(value) = value {
            record = record.payload(value);
        }
        self.producer
            .send(record, QUEUE_TIMEOUT)
            .await
            .map(|_| ())
            .map_err(|(error, _)| error)
    }
}

fn log_copy(copy: &Outgoing, outcome: Delivered) {
    let origin = &copy.origin;
    match outcome {
        Delivered::DeadLettered => tracing::warn!(
            source_topic = %origin.topic,
            source_partition = origin.partition,
            source_offset = origin.offset,
            attempts = origin.attempts + 1,
            reason = copy.reason,
            detail = %copy.detail,
            digest = copy.digest,
            "record dead-lettered"
        ),
        Delivered::SetAside => tracing::info!(
            source_topic = %origin.topic,
            source_partition = origin.partition,
            source_offset = origin.offset,
            attempts = origin.attempts + 1,
            reason = copy.reason,
            detail = %copy.detail,
            "record set aside for a later check"
        ),
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::Timestamp;

    use super::*;

    fn message(value: Vec<u8>, key: Vec<u8>, headers: &[(&str, &str)]) -> OwnedMessage {
        let mut owned = OwnedHeaders::new();
        for (key, value) in headers {
            owned = owned.insert(Header {
                key,
                value: Some(value.as_bytes()),
            });
        }
        OwnedMessage::new(
            Some(value),
            Some(key),
            "events".into(),
            Timestamp::NotAvailable,
            1,
            7,
            Some(owned),
        )
    }

    fn header_names(headers: &OwnedHeaders) -> Vec<(String, String)> {
        headers
            .iter()
            .map(|h| {
                (
                    h.key.to_owned(),
                    String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn reserved_names_are_dropped_in_any_case_and_ours_added() {
        let spoofed = message(
            b"v".to_vec(),
            b"k".to_vec(),
            &[
                ("traceparent", "00-abc-def-01"),
                ("dlq-reason", "none"),
                ("DLQ-Source-Offset", "0"),
                ("Retry-Not-Before", "99999999999999"),
                ("retry-attempts", "0"),
            ],
        );
        let origin = Origin::of_event(&spoofed, SystemTime::now());
        let copy = Outgoing::of(&spoofed, &origin, Purpose::DeadLetter, "bad_signature", "x");
        let (key, value, headers) = copy.parts();
        assert_eq!((key, value), (Some(b"k".as_slice()), Some(b"v".as_slice())));
        let headers = header_names(&headers);
        assert_eq!(
            headers.iter().filter(|(n, _)| is_reserved(n)).count(),
            6,
            "only ours: {headers:?}"
        );
        assert!(headers.contains(&("traceparent".into(), "00-abc-def-01".into())));
        assert!(headers.contains(&(HEADER_REASON.into(), "bad_signature".into())));
        assert!(headers.contains(&(HEADER_SOURCE_OFFSET.into(), "7".into())));
        assert!(headers.contains(&(HEADER_ATTEMPTS.into(), "1".into())));
    }

    #[test]
    fn a_digest_carries_hashes_and_sizes_instead_of_the_bytes() {
        let value = vec![0xab; 300_000];
        let long_key = vec![b'k'; MAX_DIGEST_KEY + 1];
        let big = message(value.clone(), long_key.clone(), &[("x-junk", "y")]);
        let origin = Origin::of_event(&big, SystemTime::now());
        let copy = Outgoing::of(
            &big,
            &origin,
            Purpose::DeadLetter,
            "oversized_record",
            "big",
        )
        .into_digest();
        let (key, payload, headers) = copy.parts();
        assert_eq!((key, payload), (None, None));
        let headers = header_names(&headers);
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            get(HEADER_VALUE_SHA256),
            Some(zte_event::payload_hash(&value))
        );
        assert_eq!(get(HEADER_VALUE_SIZE), Some("300000".into()));
        assert_eq!(
            get(HEADER_KEY_SHA256),
            Some(zte_event::payload_hash(&long_key))
        );
        assert_eq!(
            get(HEADER_RECORD_SIZE),
            Some((300_000 + 257 + 7).to_string())
        );
        assert_eq!(
            get("x-junk"),
            None,
            "original headers are not kept in a digest"
        );
        // A short key (an order id) is kept as is.
        let small = message(value, b"order-id".to_vec(), &[]);
        let copy = Outgoing::of(&small, &origin, Purpose::DeadLetter, "oversized_record", "")
            .into_digest();
        assert_eq!(copy.parts().0, Some(b"order-id".as_slice()));
    }

    #[test]
    fn a_set_aside_copy_carries_the_retry_schedule_and_can_become_a_dead_letter() {
        let record = message(b"v".to_vec(), b"k".to_vec(), &[("retry-attempts", "0")]);
        let origin = Origin::of_event(&record, SystemTime::now());
        let not_before = SystemTime::now() + Duration::from_secs(2);
        let copy = Outgoing::of(
            &record,
            &origin,
            Purpose::SetAside { not_before },
            "keys_unavailable",
            "JWKS down",
        );
        let headers = header_names(&copy.parts().2);
        assert!(
            headers.contains(&("retry-attempts".into(), "1".into())),
            "{headers:?}"
        );
        assert!(headers.contains(&("retry-reason".into(), "keys_unavailable".into())));
        assert!(!headers.iter().any(|(n, _)| n.starts_with("dlq-")));
        let dead = copy.into_dead_letter("too large");
        let headers = header_names(&dead.parts().2);
        assert!(headers.contains(&(HEADER_REASON.into(), "keys_unavailable".into())));
        assert!(!headers.iter().any(|(n, _)| n.starts_with("retry-")));
    }

    #[test]
    fn produce_failures_are_classified() {
        for (code, failure) in [
            (RDKafkaErrorCode::MessageSizeTooLarge, Failure::TooLarge),
            (
                RDKafkaErrorCode::TopicAuthorizationFailed,
                Failure::Deployment,
            ),
            (
                RDKafkaErrorCode::UnknownTopicOrPartition,
                Failure::Deployment,
            ),
            (RDKafkaErrorCode::MessageTimedOut, Failure::Transient),
            (RDKafkaErrorCode::NotEnoughReplicas, Failure::Transient),
        ] {
            assert_eq!(
                classify(&KafkaError::MessageProduction(code)),
                failure,
                "{code:?}"
            );
        }
    }

    #[test]
    fn record_size_counts_key_value_and_headers() {
        let record = message(vec![0; 100], vec![0; 10], &[("name", "value")]);
        assert_eq!(record_size(&record), 100 + 10 + 4 + 5);
    }
}
