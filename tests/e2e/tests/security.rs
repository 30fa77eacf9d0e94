//! Adversarial tests against the running system. Records are injected straight into Kafka,
//! as an insider with broker access would, and each must land in the dead-letter topic with
//! the right reason while valid traffic keeps being paid. At the gRPC edge, every bad
//! credential gets the right status. Each case is named; a failure lists the broken ones.

use std::{collections::HashMap, time::Duration};

use rdkafka::Message as _;
use tonic::Code;
use zte_e2e::Stack;
use zte_event::payload_hash;
use zte_proto::events::v1::ORDER_CREATED_TYPE;
use zte_testkit::{
    clients::{NO_TOKEN, order_request},
    events::{Event, decode_envelope, envelope, order_created},
    forge::{self, AT_JWT},
    kafka::{self, Record},
    tokens::{DEMO_USERS, test_key},
};

/// One injected record and the reason it must be dead-lettered with.
struct Case {
    name: &'static str,
    record: Record,
    reason: &'static str,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adversarial_records_are_dead_lettered_with_their_reason_while_valid_traffic_is_paid()
-> anyhow::Result<()> {
    let stack = Stack::start_for_test().await?;
    let issuer = stack.config.issuer();
    let (user, password) = DEMO_USERS[0];
    let token = stack.user_token(user, password).await?;
    let orders = stack.orders_client().await?;
    let payments = stack.payments_client().await?;

    // Two genuine orders, paid, whose records the insider reads from the topic.
    let order_a = orders
        .create_order(&token, order_request(&[("SKU-A", 1, 500)]))
        .await?;
    let order_b = orders
        .create_order(&token, order_request(&[("SKU-B", 2, 800)]))
        .await?;
    for order in [&order_a, &order_b] {
        payments
            .wait_payment(&token, &order.order_transaction_id, Duration::from_secs(60))
            .await?;
    }
    let reader = kafka::consumer_from_start(&stack.config.kafka, &stack.config.topic)?;
    let records = kafka::collect_records(&reader, 2, Duration::from_secs(30)).await;
    let record_of = |id: &str| {
        records
            .iter()
            .find(|r| r.key() == Some(id.as_bytes()))
            .and_then(|r| r.payload().map(<[u8]>::to_vec))
    };
    let value_a = record_of(&order_a.order_transaction_id).expect("record of order A on the topic");
    let value_b = record_of(&order_b.order_transaction_id).expect("record of order B on the topic");
    let env_a = decode_envelope(&value_a);
    let env_b = decode_envelope(&value_b);

    // The identity service's real signing key, stolen from its data directory.
    let identity_key =
        forge::find_signing_key(&stack.config.identity_dir(), &forge::kid_of(&token));
    let foreign_key = test_key();

    let mut cases = Vec::new();
    let key_a = order_a.order_transaction_id.as_bytes().to_vec();
    let mut tampered = env_a.payload.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    let with_key_a = |payload: &[u8], token: &str| {
        Record::new(key_a.clone(), envelope(ORDER_CREATED_TYPE, payload, token))
    };
    cases.push(Case {
        name: "tampered payload byte",
        record: with_key_a(&tampered, &env_a.access_token),
        reason: "payload_hash_mismatch",
    });
    cases.push(Case {
        name: "token swapped from another event",
        record: with_key_a(&env_a.payload, &env_b.access_token),
        reason: "payload_hash_mismatch",
    });

    // Fresh, internally consistent events with forged or mis-issued tokens: `token_for` makes
    // the token from the claims identity would issue for the event.
    let mut forged =
        |name: &'static str, reason: &'static str, token_for: &dyn Fn(&Event) -> String| {
            let event = Event::signed(order_created(user), &identity_key, &issuer);
            cases.push(Case {
                name,
                record: event.record_with(&event.encoded.payload, &token_for(&event)),
                reason,
            });
        };
    let spoiled = |event: &Event, spoil: &dyn Fn(&mut zte_auth::AccessTokenClaims)| {
        let mut claims = event.claims.clone();
        spoil(&mut claims);
        forge::sign(&identity_key, AT_JWT, &claims)
    };
    forged(
        "foreign signing key under the real kid",
        "bad_signature",
        &|e| forge::foreign_key_under_kid(&foreign_key, &identity_key, AT_JWT, &e.claims),
    );
    forged("alg none", "disallowed_algorithm", &|e| {
        forge::alg_none(&identity_key, AT_JWT, &e.claims)
    });
    forged(
        "HS256 keyed with the public key",
        "disallowed_algorithm",
        &|e| forge::hs256_keyed_with_public_key(&identity_key, AT_JWT, &e.claims),
    );
    forged(
        "expired token signed by the real key",
        "token_expired",
        &|e| {
            spoiled(e, &|c| {
                c.exp = zte_auth::unix_now() - 3_600;
                c.nbf = c.exp - 60;
                c.iat = c.nbf;
            })
        },
    );
    forged(
        "wrong scope (a user token's scopes)",
        "insufficient_scope",
        &|e| spoiled(e, &|c| c.scope = "orders payments".into()),
    );
    forged(
        "token subject differs from the payload user",
        "subject_mismatch",
        &|e| spoiled(e, &|c| c.sub = DEMO_USERS[1].0.into()),
    );
    cases.push(Case {
        name: "garbage bytes",
        record: Record::new(
            b"garbage".to_vec(),
            vec![0xff, 0x00, 0x13, 0x37, 0xde, 0xad, 0xbe, 0xef, 0x99],
        ),
        reason: "malformed_envelope",
    });
    cases.push(Case {
        name: "oversized record (300 KiB)",
        record: Record::new(
            b"oversized".to_vec(),
            envelope(
                ORDER_CREATED_TYPE,
                &vec![7u8; 300 * 1024],
                &env_a.access_token,
            ),
        ),
        reason: "oversized_record",
    });

    let producer = kafka::producer(&stack.config.kafka);
    for case in &cases {
        kafka::produce(&producer, &stack.config.topic, &case.record).await?;
    }
    // Replay: the genuine record of order A, three more times.
    let replay = Record::new(key_a.clone(), value_a.clone());
    for _ in 0..3 {
        kafka::produce(&producer, &stack.config.topic, &replay).await?;
    }
    // Valid traffic after the attack is still paid.
    let order_c = orders
        .create_order(&token, order_request(&[("SKU-C", 3, 250)]))
        .await?;
    payments
        .wait_payment(
            &token,
            &order_c.order_transaction_id,
            Duration::from_secs(60),
        )
        .await?;

    let dlq = kafka::consumer_from_start(&stack.config.kafka, &stack.config.dlq_topic)?;
    let dead = kafka::collect_records(&dlq, cases.len(), Duration::from_secs(60)).await;
    // Dead letters by the SHA-256 of the original value: a digest copy (oversized) names it
    // in a header instead of carrying the value.
    let mut by_value: HashMap<String, Vec<&rdkafka::message::OwnedMessage>> = HashMap::new();
    for record in &dead {
        let digest = kafka::header(record, "dlq-value-sha256")
            .unwrap_or_else(|| payload_hash(record.payload().unwrap_or_default()));
        by_value.entry(digest).or_default().push(record);
    }
    let mut failures = Vec::new();
    for case in &cases {
        match by_value
            .get(&payload_hash(
                case.record.value.as_deref().unwrap_or_default(),
            ))
            .and_then(|r| r.first())
        {
            None => failures.push(format!("{}: not in the DLQ", case.name)),
            Some(record) => {
                let reason = kafka::header(record, "dlq-reason").unwrap_or_default();
                if reason != case.reason {
                    failures.push(format!(
                        "{}: reason {reason:?}, expected {:?}",
                        case.name, case.reason
                    ));
                }
                if record.key() != case.record.key.as_deref() {
                    failures.push(format!("{}: key changed in the DLQ copy", case.name));
                }
                for header in [
                    "dlq-source-topic",
                    "dlq-source-partition",
                    "dlq-source-offset",
                    "dlq-detail",
                ] {
                    if kafka::header(record, header).is_none() {
                        failures.push(format!("{}: DLQ header {header} missing", case.name));
                    }
                }
            }
        }
        eprintln!("case {:<45} expected {}", case.name, case.reason);
    }
    if by_value.contains_key(&payload_hash(&value_a)) {
        failures
            .push("replay x3: a replayed valid record was dead-lettered instead of skipped".into());
    }
    let paid = payments.all_payments(&token).await?;
    let count = |id: &str| paid.iter().filter(|p| p.order_transaction_id == id).count();
    if count(&order_a.order_transaction_id) != 1 {
        failures.push(format!(
            "replay x3: order A paid {} times",
            count(&order_a.order_transaction_id)
        ));
    }
    if paid.len() != 3 {
        failures.push(format!(
            "exactly the 3 genuine orders are paid, found {} payments",
            paid.len()
        ));
    }
    assert!(
        failures.is_empty(),
        "security properties broken:\n  {}",
        failures.join("\n  ")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_edge_rejects_bad_credentials_and_hides_other_users_data() -> anyhow::Result<()> {
    let stack = Stack::start_for_test().await?;
    let orders = stack.orders_client().await?;
    let payments = stack.payments_client().await?;
    let (alice, alice_pw) = DEMO_USERS[0];
    let (bob, bob_pw) = DEMO_USERS[1];
    let alice_token = stack.user_token(alice, alice_pw).await?;
    let bob_token = stack.user_token(bob, bob_pw).await?;
    let order = orders
        .create_order(&alice_token, order_request(&[("SKU-E", 1, 4_200)]))
        .await?;
    let id = order.order_transaction_id.clone();
    payments
        .wait_payment(&alice_token, &id, Duration::from_secs(60))
        .await?;

    // Credentials an attacker might present.
    let identity_key =
        forge::find_signing_key(&stack.config.identity_dir(), &forge::kid_of(&alice_token));
    let user_claims = forge::claims_of(&alice_token);
    let mut expired = user_claims.clone();
    expired.exp = zte_auth::unix_now() - 600;
    expired.nbf = expired.exp - 900;
    let expired = forge::sign(&identity_key, AT_JWT, &expired);
    let mut wrong_aud = user_claims.clone();
    wrong_aud.aud = zte_auth::claims::Audience::One("some-other-service".into());
    let wrong_aud = forge::sign(&identity_key, AT_JWT, &wrong_aud);
    let mut wrong_iss = user_claims.clone();
    wrong_iss.iss = "http://127.0.0.1:1/evil".into();
    let wrong_iss = forge::sign(&identity_key, AT_JWT, &wrong_iss);
    let reader = kafka::consumer_from_start(&stack.config.kafka, &stack.config.topic)?;
    let record = kafka::collect_records(&reader, 1, Duration::from_secs(30)).await;
    let event_token =
        decode_envelope(record.first().and_then(|r| r.payload()).unwrap_or_default()).access_token;

    let cases: Vec<(&str, &str, Code)> = vec![
        ("no token", NO_TOKEN, Code::Unauthenticated),
        ("garbage token", "not-a-jwt", Code::Unauthenticated),
        ("expired token", &expired, Code::Unauthenticated),
        ("wrong audience", &wrong_aud, Code::Unauthenticated),
        ("wrong issuer", &wrong_iss, Code::Unauthenticated),
        (
            "event token (trigger_payments)",
            &event_token,
            Code::PermissionDenied,
        ),
        ("another user's order", &bob_token, Code::NotFound),
    ];
    let mut failures = Vec::new();
    for (name, token, expected) in &cases {
        let got_order = orders.get_order(token, &id).await.err().map(|s| s.code());
        let got_payment = payments
            .get_payment(token, &id)
            .await
            .err()
            .map(|s| s.code());
        if got_order != Some(*expected) {
            failures.push(format!(
                "GetOrder with {name}: {got_order:?}, expected {expected:?}"
            ));
        }
        if got_payment != Some(*expected) {
            failures.push(format!(
                "GetPayment with {name}: {got_payment:?}, expected {expected:?}"
            ));
        }
        eprintln!("case {name:<32} expected {expected:?}");
    }
    // An event token cannot create orders either.
    let created = orders
        .create_order(&event_token, order_request(&[("SKU-X", 1, 1)]))
        .await;
    if created.as_ref().err().map(tonic::Status::code) != Some(Code::PermissionDenied) {
        failures.push(format!(
            "CreateOrder with an event token: {:?}",
            created.map(|o| o.order_transaction_id)
        ));
    }
    // The owner still sees it.
    if orders.get_order(&alice_token, &id).await.is_err() {
        failures.push("the owner cannot read their own order".into());
    }
    assert!(
        failures.is_empty(),
        "gRPC edge properties broken:\n  {}",
        failures.join("\n  ")
    );
    Ok(())
}
