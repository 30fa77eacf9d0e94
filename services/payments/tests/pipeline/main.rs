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
/// bad record is in the DLQ (in order) with its reason, unchanged key and value, and its
/// source position; that every valid event was paid; and that nothing else happened.
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
    app.wait_stats("every record handled", |s| s.processed >= 2 * n)
        .await;

    let dead = kafka::read_topic(setup.dlq(), cases.len(), WAIT).await;
    assert_eq!(dead.len(), cases.len(), "DLQ records");
    for ((case, message), (partition, offset)) in cases.iter().zip(&dead).zip(&offsets) {
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
        assert_eq!(
            message.payload().unwrap_or_default(),
            case.record.value.as_deref().unwrap_or_default(),
            "case {}: value unchanged",
            case.name
        );
        assert_eq!(
            header(payments::HEADER_SOURCE_TOPIC).as_deref(),
            Some(setup.topic())
        );
        assert_eq!(
            header(payments::HEADER_SOURCE_PARTITION),
            Some(partition.to_string())
        );
        assert_eq!(
            header(payments::HEADER_SOURCE_OFFSET),
            Some(offset.to_string()),
            "case {}: source offset",
            case.name
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
        (stats.paid, stats.dead_lettered, stats.duplicate),
        (n, n, 0)
    );
    assert_eq!(app.store.count().await.unwrap(), n);
    app.stop().await.unwrap();
}
