//! End-to-end behaviour of the payments service against a real Kafka broker: hand-crafted
//! records (valid, replayed, forged, malformed) go in through the broker; payments come out
//! through the gRPC API and the database, rejected records through the dead-letter topic.
//!
//! Each test function owns its topics, group, data directory and app. The adversarial cases
//! are grouped by kind so one app serves several cases: every bad record is followed by a
//! valid one, which proves the bad record neither blocked nor crashed the consumer.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    Event, OTHER_USER, Record, TestApp, TestIdentity, Topics, USER, config, envelope, order,
    produce, producer, read_topic, record_count, with_token,
};
use rdkafka::Message as _;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use zte_auth::claims::Audience;
use zte_proto::{
    events::v1::ORDER_CREATED_TYPE,
    payments::v1::{GetPaymentRequest, ListPaymentsRequest},
};

/// One adversarial record and the reason it must be dead-lettered with.
struct Case {
    name: &'static str,
    reason: &'static str,
    record: Record,
}

/// Runs `cases` through one app: each bad record is followed by a valid event. Asserts every
/// bad record is in the DLQ (in order) with its reason, unchanged key and value, and its
/// source position; that every valid event was paid; and that nothing else happened.
async fn assert_dead_lettered_and_next_valid_paid(identity: TestIdentity, cases: Vec<Case>) {
    let topics = Topics::create(1).await;
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(config(&identity, &topics, dir.path())).await;
    let producer = producer();
    let mut valid = Vec::new();
    let mut offsets = Vec::new();
    for case in &cases {
        let (partition, offset) = produce(&producer, &topics.topic, &case.record).await;
        offsets.push((partition, offset));
        let event = Event::valid(&identity, USER);
        produce(&producer, &topics.topic, &event.record()).await;
        valid.push(event);
    }
    let n = cases.len() as u64;
    app.wait_stats("every record handled", |s| s.processed >= 2 * n)
        .await;

    let dead = read_topic(&topics.dlq, cases.len()).await;
    assert_eq!(dead.len(), cases.len(), "DLQ records");
    for ((case, message), (partition, offset)) in cases.iter().zip(&dead).zip(&offsets) {
        let header = |name| zte_testkit::header(message, name);
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
            header(payments::HEADER_SOURCE_TOPIC),
            Some(topics.topic.clone())
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
        record_count(&topics.dlq),
        cases.len() as i64,
        "nothing else in the DLQ"
    );

    for event in &valid {
        let paid = app.store.get(USER, event.id()).await.unwrap();
        assert_eq!(
            paid.map(|p| p.amount_minor),
            Some(2999),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_event_is_paid_once_and_only_its_user_can_read_it() {
    let identity = TestIdentity::start(true).await;
    let topics = Topics::create(1).await;
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(config(&identity, &topics, dir.path())).await;
    app.wait_health(ServingStatus::Serving).await;

    let event = Event::valid(&identity, USER);
    produce(&producer(), &topics.topic, &event.record()).await;
    app.wait_stats("payment recorded", |s| s.paid == 1).await;

    let mut client = app.client().await;
    let user = identity.user_token(USER);
    let payment = client
        .get_payment(with_token(
            GetPaymentRequest {
                order_transaction_id: event.id().into(),
            },
            &user,
        ))
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    assert_eq!(payment.order_transaction_id, event.id());
    assert_eq!(payment.user_id, USER);
    assert_eq!(payment.amount_minor, 2999);
    assert_eq!(payment.currency, "EUR");
    assert_eq!(payment.triggered_by, "orders-service");
    assert_eq!(payment.order_created_at, event.order.created_at);
    assert!(payment.recorded_at.is_some_and(|t| t.seconds > 0));

    let listed = client
        .list_payments(with_token(ListPaymentsRequest::default(), &user))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.payments, vec![payment]);
    assert!(listed.next_page_token.is_empty());

    // Another user sees neither the payment nor a hint that it exists.
    let other = identity.user_token(OTHER_USER);
    let status = client
        .get_payment(with_token(
            GetPaymentRequest {
                order_transaction_id: event.id().into(),
            },
            &other,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let listed = client
        .list_payments(with_token(ListPaymentsRequest::default(), &other))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.payments.is_empty());

    // No token, an event token, a bad id, an unknown id.
    let status = client
        .get_payment(GetPaymentRequest {
            order_transaction_id: event.id().into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = client
        .get_payment(with_token(
            GetPaymentRequest {
                order_transaction_id: event.id().into(),
            },
            &event.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = client
        .get_payment(with_token(
            GetPaymentRequest {
                order_transaction_id: "not-a-uuid".into(),
            },
            &user,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = client
        .get_payment(with_token(
            GetPaymentRequest {
                order_transaction_id: uuid::Uuid::new_v4().to_string(),
            },
            &user,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = client
        .list_payments(with_token(
            ListPaymentsRequest {
                page_size: 101,
                page_token: String::new(),
            },
            &user,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    assert_eq!(app.store.count().await.unwrap(), 1);
    assert_eq!(record_count(&topics.dlq), 0);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_record_is_paid_once_and_counted_as_duplicate() {
    let identity = TestIdentity::start(true).await;
    let topics = Topics::create(1).await;
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(config(&identity, &topics, dir.path())).await;
    let event = Event::valid(&identity, USER);
    let producer = producer();
    for _ in 0..3 {
        produce(&producer, &topics.topic, &event.record()).await;
    }
    app.wait_stats("three records handled", |s| s.processed == 3)
        .await;
    let stats = app.stats.snapshot();
    assert_eq!(
        (stats.paid, stats.duplicate, stats.dead_lettered),
        (1, 2, 0)
    );
    assert_eq!(app.store.count().await.unwrap(), 1);
    assert_eq!(record_count(&topics.dlq), 0);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tokens_and_tampered_payloads_are_dead_lettered() {
    let identity = TestIdentity::start(true).await;
    let event = Event::valid(&identity, USER);
    let claims = identity.event_claims(&event.order, &event.encoded.payload_hash);

    let mut tampered = event.encoded.payload.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    let donor = Event::valid(&identity, USER);

    let cases = vec![
        Case {
            name: "tampered payload byte",
            reason: "payload_hash_mismatch",
            record: event.record_with(&tampered, &event.token),
        },
        Case {
            name: "token swapped from another event",
            reason: "payload_hash_mismatch",
            record: event.record_with(&event.encoded.payload, &donor.token),
        },
        Case {
            name: "foreign key under a known kid",
            reason: "bad_signature",
            record: event.record_with(
                &event.encoded.payload,
                &identity.sign_foreign_under_known_kid(&claims),
            ),
        },
        Case {
            name: "unpublished key",
            reason: "unknown_key",
            record: event.record_with(
                &event.encoded.payload,
                &identity.sign_with_unknown_key(&claims),
            ),
        },
        Case {
            name: "alg none",
            reason: "disallowed_algorithm",
            record: event.record_with(&event.encoded.payload, &identity.alg_none(&claims)),
        },
        Case {
            name: "HS256 with the public key as secret",
            reason: "disallowed_algorithm",
            record: event.record_with(
                &event.encoded.payload,
                &identity.hs256_with_public_key(&claims),
            ),
        },
    ];
    assert_dead_lettered_and_next_valid_paid(identity, cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_with_wrong_claims_are_dead_lettered() {
    let identity = TestIdentity::start(true).await;
    let event = Event::valid(&identity, USER);
    let claims = identity.event_claims(&event.order, &event.encoded.payload_hash);
    let with = |change: &dyn Fn(&mut zte_auth::AccessTokenClaims)| {
        let mut c = claims.clone();
        change(&mut c);
        event.record_with(&event.encoded.payload, &identity.sign(&c))
    };
    let cases = vec![
        Case {
            name: "expired",
            reason: "token_expired",
            record: with(&|c| {
                c.iat -= 7200;
                c.nbf -= 7200;
                c.exp = c.iat + 60;
            }),
        },
        Case {
            name: "wrong audience",
            reason: "wrong_audience",
            record: with(&|c| c.aud = Audience::One("orders-service".into())),
        },
        Case {
            name: "wrong scope",
            reason: "insufficient_scope",
            record: with(&|c| c.scope = "payments".into()),
        },
        Case {
            name: "wrong issuer",
            reason: "wrong_issuer",
            record: with(&|c| c.iss = "http://evil.example".into()),
        },
        Case {
            name: "issuer near-miss (trailing slash)",
            reason: "wrong_issuer",
            record: with(&|c| c.iss = format!("{}/", c.iss)),
        },
        Case {
            name: "exchanged by an untrusted client (act.sub)",
            reason: "untrusted_producer",
            record: with(&|c| {
                c.act = Some(zte_auth::Actor {
                    sub: "rogue-service".into(),
                })
            }),
        },
        Case {
            name: "no acting client (act missing)",
            reason: "untrusted_producer",
            record: with(&|c| c.act = None),
        },
        Case {
            name: "not an access token (typ JWT)",
            reason: "wrong_token_type",
            record: event.record_with(
                &event.encoded.payload,
                &zte_auth::jws::sign(&identity.key, "JWT", &claims).unwrap(),
            ),
        },
    ];
    assert_dead_lettered_and_next_valid_paid(identity, cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_records_are_dead_lettered() {
    let identity = TestIdentity::start(true).await;
    let event = Event::valid(&identity, USER);
    // Bytes that are not an OrderCreated (a truncated length-delimited field), with a token
    // correctly bound to exactly these bytes: only decoding can catch it.
    let not_an_order = vec![0x0a, 0xff, 0x01];
    let mut claims = identity.event_claims(&event.order, &zte_event::payload_hash(&not_an_order));
    claims.order_transaction_id = Some(event.id().into());
    let not_an_order_token = identity.sign(&claims);
    let cases = vec![
        Case {
            name: "garbage bytes",
            reason: "malformed_envelope",
            record: Record {
                key: event.record().key,
                value: Some(vec![0xff, 0x00, 0x13, 0x37, 0xde, 0xad, 0xbe, 0xef]),
            },
        },
        Case {
            name: "empty value",
            reason: "malformed_envelope",
            record: Record {
                key: event.record().key,
                value: None,
            },
        },
        Case {
            name: "payload is not an OrderCreated",
            reason: "malformed_payload",
            record: event.record_with(&not_an_order, &not_an_order_token),
        },
        Case {
            name: "unexpected event type",
            reason: "unexpected_event_type",
            record: Record {
                key: event.record().key,
                value: Some(envelope(
                    "events.v1.OrderCancelled",
                    &event.encoded.payload,
                    &event.token,
                )),
            },
        },
        Case {
            name: "oversized",
            reason: "oversized_record",
            record: Record {
                key: event.record().key,
                value: Some(envelope(
                    ORDER_CREATED_TYPE,
                    &event.encoded.payload,
                    &format!("{}{}", event.token, "A".repeat(20 * 1024)),
                )),
            },
        },
    ];
    assert_dead_lettered_and_next_valid_paid(identity, cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_whose_key_claims_and_payload_disagree_are_dead_lettered() {
    let identity = TestIdentity::start(true).await;
    let event = Event::valid(&identity, USER);

    let other_id = uuid::Uuid::new_v4().to_string();
    let mut claim_mismatch = identity.event_claims(&event.order, &event.encoded.payload_hash);
    claim_mismatch.order_transaction_id = Some(other_id.clone());

    let mut user_mismatch = identity.event_claims(&event.order, &event.encoded.payload_hash);
    user_mismatch.sub = OTHER_USER.into();

    let mut bad_total = order(USER);
    bad_total.total_minor += 1;
    let amount_mismatch = Event::for_order(&identity, bad_total);

    let cases = vec![
        Case {
            name: "record key is another order",
            reason: "transaction_mismatch",
            record: Record {
                key: Some(other_id.as_bytes().to_vec()),
                value: event.record().value,
            },
        },
        Case {
            name: "no record key",
            reason: "transaction_mismatch",
            record: Record {
                key: None,
                value: event.record().value,
            },
        },
        Case {
            name: "token claim is another order",
            reason: "transaction_mismatch",
            record: event.record_with(&event.encoded.payload, &identity.sign(&claim_mismatch)),
        },
        Case {
            name: "token subject is another user",
            reason: "subject_mismatch",
            record: event.record_with(&event.encoded.payload, &identity.sign(&user_mismatch)),
        },
        Case {
            name: "items do not add up to the total",
            reason: "amount_mismatch",
            record: amount_mismatch.record(),
        },
    ];
    assert_dead_lettered_and_next_valid_paid(identity, cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_outage_keeps_health_not_serving_and_retries_instead_of_dead_lettering() {
    let identity = TestIdentity::start(false).await;
    let topics = Topics::create(1).await;
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(config(&identity, &topics, dir.path())).await;
    assert_eq!(app.health().await, ServingStatus::NotServing);

    let event = Event::valid(&identity, USER);
    produce(&producer(), &topics.topic, &event.record()).await;
    // The consumer holds the record (so it is assigned) but cannot check its key.
    app.wait_stats("retries while the JWKS is down", |s| s.retried >= 2)
        .await;
    assert_eq!(app.health().await, ServingStatus::NotServing);
    assert_eq!(app.stats.snapshot().processed, 0);

    identity.set_available(true);
    app.wait_stats("payment after the JWKS recovers", |s| s.paid == 1)
        .await;
    app.wait_health(ServingStatus::Serving).await;
    assert_eq!(app.stats.snapshot().dead_lettered, 0);
    assert_eq!(record_count(&topics.dlq), 0);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_stream_pays_every_event_exactly_once() {
    const EVENTS: usize = 40;
    let identity = TestIdentity::start(true).await;
    let topics = Topics::create(3).await;
    let dir = tempfile::tempdir().unwrap();
    let events: Vec<Event> = (0..EVENTS).map(|_| Event::valid(&identity, USER)).collect();
    let producer = producer();
    for event in &events[..EVENTS / 2] {
        produce(&producer, &topics.topic, &event.record()).await;
    }

    let first = TestApp::spawn(config(&identity, &topics, dir.path())).await;
    first
        .wait_stats("first half paid", |s| s.paid as usize >= EVENTS / 2)
        .await;
    // Keep producing while the first instance shuts down and the second starts.
    let second_half: Vec<Record> = events[EVENTS / 2..].iter().map(Event::record).collect();
    let topic = topics.topic.clone();
    let feeder = tokio::spawn(async move {
        for record in &second_half {
            produce(&producer, &topic, record).await;
        }
    });
    let first_stats = first.stats.clone();
    first.stop().await.unwrap();
    let first_paid = first_stats.snapshot().paid;
    assert!(first_paid as usize >= EVENTS / 2);

    let second = TestApp::spawn(config(&identity, &topics, dir.path())).await;
    feeder.await.unwrap();
    let store = second.store.clone();
    zte_testkit::wait_until("every event paid", common::WAIT, || {
        let store = store.clone();
        async move { (store.count().await.unwrap() == EVENTS as u64).then_some(()) }
    })
    .await
    .unwrap();
    for event in &events {
        let paid = second.store.get(USER, event.id()).await.unwrap();
        assert!(paid.is_some(), "event {} paid", event.id());
    }
    let stats = second.stats.snapshot();
    assert_eq!(stats.dead_lettered, 0);
    assert_eq!(
        first_paid + stats.paid,
        EVENTS as u64,
        "each event paid by exactly one instance"
    );
    second.stop().await.unwrap();
}
