//! End-to-end behaviour of the payments service against a real Kafka broker: hand-crafted
//! records (valid, replayed, forged, malformed) go in through the broker; payments come out
//! through the gRPC API and the database, rejected records through the dead-letter topic.
//!
//! Each test function owns its topics, group, data directory and app (`zte_testkit`). The
//! adversarial cases are grouped by kind so one app serves several cases: every bad record is
//! followed by a valid one, which proves the bad record neither blocked nor crashed the
//! consumer.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod outage;
mod paid;
mod rejected;
mod replicas;

use rdkafka::Message as _;
use zte_testkit::{
    events::ORDER_TOTAL_MINOR,
    kafka::{self, Record},
    payments::{PaymentsSetup, WAIT},
    token_service::TokenService,
    tokens::DEMO_USERS,
};

/// The user every valid event is for.
const USER: &str = DEMO_USERS[0].0;
/// A second user, for "other user's payment" checks.
const OTHER_USER: &str = DEMO_USERS[1].0;

/// One adversarial record and the reason it must be dead-lettered with.
struct Case {
    name: &'static str,
    reason: &'static str,
    record: Record,
}

/// Runs `cases` through one app: each bad record is followed by a valid event. Asserts every
/// bad record is in the DLQ with its reason and source position, unchanged key and value (an
/// oversized one: its SHA-256 and size instead of the value), after one check (an unknown
/// `kid`: after the JWKS refresh its first check asked for, so via the retry topic); that
/// every valid event was paid; and that nothing else happened.
async fn assert_dead_lettered_and_next_valid_paid(tokens: TokenService, cases: Vec<Case>) {
    let setup = PaymentsSetup::new(&tokens.issuer, 1).await;
    let app = setup.spawn().await;
    let mut valid = Vec::new();
    let mut offsets = Vec::new();
    for case in &cases {
        offsets.push(setup.produce(&case.record).await);
        let event = tokens.event(USER);
        setup.publish([&event]).await;
        valid.push(event);
    }
    let n = cases.len() as u64;
    app.wait_stats("every record handled", |s| {
        s.paid >= n && s.dead_lettered >= n
    })
    .await;

    let dead = kafka::read_topic(setup.dlq(), cases.len(), WAIT).await;
    assert_eq!(dead.len(), cases.len(), "DLQ records");
    let mut rechecks = 0;
    for (case, (partition, offset)) in cases.iter().zip(&offsets) {
        let message = dead
            .iter()
            .find(|m| kafka::header(m, payments::HEADER_SOURCE_OFFSET) == Some(offset.to_string()))
            .unwrap_or_else(|| panic!("case {}: no dead letter for offset {offset}", case.name));
        let header = |name| kafka::header(message, name);
        assert_eq!(
            header(payments::HEADER_REASON).as_deref(),
            Some(case.reason),
            "case {}: reason (detail: {:?})",
            case.name,
            header(payments::HEADER_DETAIL)
        );
        assert!(
            header(payments::HEADER_DETAIL).is_some_and(|d| !d.is_empty()),
            "case {}: detail",
            case.name
        );
        assert_eq!(
            message.key(),
            case.record.key.as_deref(),
            "case {}: key",
            case.name
        );
        let original = case.record.value.as_deref().unwrap_or_default();
        if case.reason == "oversized_record" {
            assert_eq!(message.payload(), None, "case {}: no value", case.name);
            assert_eq!(
                header(payments::HEADER_VALUE_SHA256),
                Some(zte_event::payload_hash(original)),
                "case {}: digest",
                case.name
            );
            assert_eq!(
                header(payments::HEADER_VALUE_SIZE),
                Some(original.len().to_string())
            );
        } else {
            assert_eq!(
                message.payload().unwrap_or_default(),
                original,
                "case {}: value unchanged",
                case.name
            );
        }
        let attempts: u64 = header(payments::HEADER_ATTEMPTS)
            .and_then(|a| a.parse().ok())
            .unwrap_or_default();
        if case.reason == "unknown_key" {
            assert!(
                attempts >= 2,
                "case {}: decided by a later refresh",
                case.name
            );
        } else {
            assert_eq!(attempts, 1, "case {}: one check", case.name);
        }
        rechecks += attempts - 1;
        assert_eq!(
            header(payments::HEADER_SOURCE_TOPIC).as_deref(),
            Some(setup.topic())
        );
        assert_eq!(
            header(payments::HEADER_SOURCE_PARTITION),
            Some(partition.to_string())
        );
    }
    assert_eq!(
        kafka::record_count(setup.dlq()).await,
        cases.len() as i64,
        "nothing else in the DLQ"
    );

    for event in &valid {
        let paid = app.store.get(USER, event.id()).await.unwrap();
        assert_eq!(
            paid.map(|p| p.amount_minor),
            Some(ORDER_TOTAL_MINOR),
            "valid event {}",
            event.id()
        );
    }
    let stats = app.stats.snapshot();
    assert_eq!(
        (
            stats.paid,
            stats.dead_lettered,
            stats.duplicate,
            stats.set_aside
        ),
        (n, n, 0, rechecks)
    );
    assert_eq!(kafka::record_count(setup.retry()).await, rechecks as i64);
    assert_eq!(app.store.count().await.unwrap(), n);
    app.stop().await.unwrap();
}
