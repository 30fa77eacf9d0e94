//! Adversarial tests against the running system. Records are injected straight into Kafka,
//! as an insider with broker access would, and each must land in the dead-letter topic with
//! the right reason while valid traffic keeps being paid. At the gRPC edge, every bad
//! credential gets the right status. Each case is named; a failure lists the broken ones.

use std::{collections::HashMap, time::Duration};

use rdkafka::Message as _;
use tonic::Code;
use zte_auth::SigningKey;
use zte_e2e::{
    DEMO_USERS, Stack,
    client::{
        create_order, get_order, get_payment, inject, list_payments, order_request, raw_producer,
        wait_payment,
    },
    forge,
};

/// One injected record and the reason it must be dead-lettered with.
struct Case {
    name: &'static str,
    key: Vec<u8>,
    value: Vec<u8>,
    reason: &'static str,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adversarial_records_are_dead_lettered_with_their_reason_while_valid_traffic_is_paid()
-> anyhow::Result<()> {
    let stack = Stack::start_for_test().await?;
    let issuer = stack.config.issuer();
    let (user, password) = DEMO_USERS[0];
    let token = stack.user_token(user, password).await?;
    let orders = stack.orders_channel().await?;
    let payments = stack.payments_channel().await?;

    // Two genuine orders, paid, whose records the insider reads from the topic.
    let order_a = create_order(&orders, &token, order_request(&[("SKU-A", 1, 500)])).await?;
    let order_b = create_order(&orders, &token, order_request(&[("SKU-B", 2, 800)])).await?;
    wait_payment(
        &payments,
        &token,
        &order_a.order_transaction_id,
        Duration::from_secs(60),
    )
    .await?;
    wait_payment(
        &payments,
        &token,
        &order_b.order_transaction_id,
        Duration::from_secs(60),
    )
    .await?;
    let reader = zte_testkit::consumer_from_start(&stack.config.kafka, &stack.config.topic)?;
    let records = zte_testkit::collect_records(&reader, 2, Duration::from_secs(30)).await;
    let record_of = |id: &str| {
        records
            .iter()
            .find(|r| r.key() == Some(id.as_bytes()))
            .and_then(|r| r.payload().map(<[u8]>::to_vec))
    };
    let value_a = record_of(&order_a.order_transaction_id).expect("record of order A on the topic");
    let value_b = record_of(&order_b.order_transaction_id).expect("record of order B on the topic");
    let env_a = forge::decode_envelope(&value_a)?;
    let env_b = forge::decode_envelope(&value_b)?;

    // The identity service's real signing key, stolen from its data directory.
    let kid = forge::kid_of(&token)?;
    let identity_key = forge::find_signing_key(&stack.config.root.join("identity"), &kid)?;
    let foreign_key = SigningKey::generate(2048)?;

    let mut cases = Vec::new();
    let key_a = order_a.order_transaction_id.as_bytes().to_vec();
    let mut tampered = env_a.payload.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    cases.push(Case {
        name: "tampered payload byte",
        key: key_a.clone(),
        value: forge::envelope(&tampered, &env_a.access_token),
        reason: "payload_hash_mismatch",
    });
    cases.push(Case {
        name: "token swapped from another event",
        key: key_a.clone(),
        value: forge::envelope(&env_a.payload, &env_b.access_token),
        reason: "payload_hash_mismatch",
    });

    // Fresh, internally consistent events with forged or mis-issued tokens.
    let mut forged = |name: &'static str,
                      reason: &'static str,
                      make: &dyn Fn(&[u8], &str) -> anyhow::Result<String>| {
        let order = forge::order_created(user);
        let encoded = zte_event::encode_order_created(&order);
        let token = make(&encoded.payload, &encoded.payload_hash)?;
        cases.push(Case {
            name,
            key: order.order_transaction_id.as_bytes().to_vec(),
            value: forge::envelope(&encoded.payload, &token),
            reason,
        });
        anyhow::Ok(())
    };
    // The closures below rebuild the claims from the payload they are given.
    let claims_for = |payload: &[u8], hash: &str| -> anyhow::Result<zte_auth::AccessTokenClaims> {
        use prost::Message as _;
        let order = zte_proto::events::v1::OrderCreated::decode(payload)?;
        Ok(forge::event_claims(&issuer, &order, hash))
    };
    forged(
        "foreign signing key under the real kid",
        "bad_signature",
        &|p, h| {
            let token = forge::sign(&foreign_key, &claims_for(p, h)?)?;
            // Swap in the trusted kid: header is re-encoded, signature stays the foreign one.
            let header = format!(r#"{{"alg":"PS256","typ":"at+jwt","kid":"{kid}"}}"#);
            let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
            parts[0] = base64_url(header.as_bytes());
            Ok(parts.join("."))
        },
    )?;
    forged("alg none", "disallowed_algorithm", &|p, h| {
        forge::raw_token(
            &format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{kid}"}}"#),
            &claims_for(p, h)?,
            b"",
        )
    })?;
    let public_jwk = serde_json::to_vec(&identity_key.public_jwk())?;
    forged(
        "HS256 keyed with the public key",
        "disallowed_algorithm",
        &|p, h| forge::hs256_with_public_key(&kid, &public_jwk, &claims_for(p, h)?),
    )?;
    forged(
        "expired token signed by the real key",
        "token_expired",
        &|p, h| {
            let mut claims = claims_for(p, h)?;
            claims.exp = zte_auth::unix_now() - 3_600;
            claims.nbf = claims.exp - 60;
            claims.iat = claims.nbf;
            forge::sign(&identity_key, &claims)
        },
    )?;
    forged(
        "wrong scope (a user token's scopes)",
        "insufficient_scope",
        &|p, h| {
            let mut claims = claims_for(p, h)?;
            claims.scope = "orders payments".into();
            forge::sign(&identity_key, &claims)
        },
    )?;
    forged(
        "token subject differs from the payload user",
        "subject_mismatch",
        &|p, h| {
            let mut claims = claims_for(p, h)?;
            claims.sub = DEMO_USERS[1].0.into();
            forge::sign(&identity_key, &claims)
        },
    )?;
    cases.push(Case {
        name: "garbage bytes",
        key: b"garbage".to_vec(),
        value: vec![0xff, 0x00, 0x13, 0x37, 0xde, 0xad, 0xbe, 0xef, 0x99],
        reason: "malformed_envelope",
    });
    cases.push(Case {
        name: "oversized record (300 KiB)",
        key: b"oversized".to_vec(),
        value: forge::envelope(&vec![7u8; 300 * 1024], &env_a.access_token),
        reason: "oversized_record",
    });

    let producer = raw_producer(&stack.config.kafka)?;
    for case in &cases {
        inject(&producer, &stack.config.topic, &case.key, &case.value).await?;
    }
    // Replay: the genuine record of order A, three more times.
    for _ in 0..3 {
        inject(&producer, &stack.config.topic, &key_a, &value_a).await?;
    }
    // Valid traffic after the attack is still paid.
    let order_c = create_order(&orders, &token, order_request(&[("SKU-C", 3, 250)])).await?;
    wait_payment(
        &payments,
        &token,
        &order_c.order_transaction_id,
        Duration::from_secs(60),
    )
    .await?;

    let dlq = zte_testkit::consumer_from_start(&stack.config.kafka, &stack.config.dlq_topic)?;
    let dead = zte_testkit::collect_records(&dlq, cases.len(), Duration::from_secs(60)).await;
    let mut by_value: HashMap<Vec<u8>, Vec<&rdkafka::message::OwnedMessage>> = HashMap::new();
    for record in &dead {
        by_value
            .entry(record.payload().unwrap_or_default().to_vec())
            .or_default()
            .push(record);
    }
    let mut failures = Vec::new();
    for case in &cases {
        match by_value.get(&case.value).and_then(|r| r.first()) {
            None => failures.push(format!("{}: not in the DLQ", case.name)),
            Some(record) => {
                let reason = zte_testkit::header(record, "dlq-reason").unwrap_or_default();
                if reason != case.reason {
                    failures.push(format!(
                        "{}: reason {reason:?}, expected {:?}",
                        case.name, case.reason
                    ));
                }
                if record.key() != Some(case.key.as_slice()) {
                    failures.push(format!("{}: key changed in the DLQ copy", case.name));
                }
                for header in [
                    "dlq-source-topic",
                    "dlq-source-partition",
                    "dlq-source-offset",
                    "dlq-detail",
                ] {
                    if zte_testkit::header(record, header).is_none() {
                        failures.push(format!("{}: DLQ header {header} missing", case.name));
                    }
                }
            }
        }
        eprintln!("case {:<45} expected {}", case.name, case.reason);
    }
    if by_value.contains_key(&value_a) {
        failures
            .push("replay x3: a replayed valid record was dead-lettered instead of skipped".into());
    }
    let paid = list_payments(&payments, &token).await?;
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
    let orders = stack.orders_channel().await?;
    let payments = stack.payments_channel().await?;
    let (alice, alice_pw) = DEMO_USERS[0];
    let (bob, bob_pw) = DEMO_USERS[1];
    let alice_token = stack.user_token(alice, alice_pw).await?;
    let bob_token = stack.user_token(bob, bob_pw).await?;
    let order = create_order(&orders, &alice_token, order_request(&[("SKU-E", 1, 4_200)])).await?;
    let id = order.order_transaction_id.clone();
    wait_payment(&payments, &alice_token, &id, Duration::from_secs(60)).await?;

    // Credentials an attacker might present.
    let kid = forge::kid_of(&alice_token)?;
    let identity_key = forge::find_signing_key(&stack.config.root.join("identity"), &kid)?;
    let user_claims = forge::claims_of(&alice_token)?;
    let mut expired = user_claims.clone();
    expired.exp = zte_auth::unix_now() - 600;
    expired.nbf = expired.exp - 900;
    let expired = forge::sign(&identity_key, &expired)?;
    let mut wrong_aud = user_claims.clone();
    wrong_aud.aud = zte_auth::claims::Audience::One("some-other-service".into());
    let wrong_aud = forge::sign(&identity_key, &wrong_aud)?;
    let mut wrong_iss = user_claims.clone();
    wrong_iss.iss = "http://127.0.0.1:1/evil".into();
    let wrong_iss = forge::sign(&identity_key, &wrong_iss)?;
    let reader = zte_testkit::consumer_from_start(&stack.config.kafka, &stack.config.topic)?;
    let record = zte_testkit::collect_records(&reader, 1, Duration::from_secs(30)).await;
    let event_token =
        forge::decode_envelope(record.first().and_then(|r| r.payload()).unwrap_or_default())?
            .access_token;

    let cases: Vec<(&str, Option<&str>, Code)> = vec![
        ("no token", None, Code::Unauthenticated),
        ("garbage token", Some("not-a-jwt"), Code::Unauthenticated),
        ("expired token", Some(&expired), Code::Unauthenticated),
        ("wrong audience", Some(&wrong_aud), Code::Unauthenticated),
        ("wrong issuer", Some(&wrong_iss), Code::Unauthenticated),
        (
            "event token (trigger_payments)",
            Some(&event_token),
            Code::PermissionDenied,
        ),
        ("another user's order", Some(&bob_token), Code::NotFound),
    ];
    let mut failures = Vec::new();
    for (name, token, expected) in &cases {
        let got_order = get_order(&orders, *token, &id)
            .await
            .err()
            .map(|s| s.code());
        let got_payment = get_payment(&payments, *token, &id)
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
    let created = create_order(&orders, &event_token, order_request(&[("SKU-X", 1, 1)])).await;
    if created.as_ref().err().map(tonic::Status::code) != Some(Code::PermissionDenied) {
        failures.push(format!(
            "CreateOrder with an event token: {:?}",
            created.map(|o| o.order_transaction_id)
        ));
    }
    // The owner still sees it.
    if get_order(&orders, Some(&alice_token), &id).await.is_err() {
        failures.push("the owner cannot read their own order".into());
    }
    assert!(
        failures.is_empty(),
        "gRPC edge properties broken:\n  {}",
        failures.join("\n  ")
    );
    Ok(())
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
