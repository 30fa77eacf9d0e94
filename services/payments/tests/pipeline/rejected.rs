//! Records that must be dead-lettered with their reason: forged tokens and tampered payloads,
//! tokens with wrong claims, malformed and oversized records, and records whose key, token
//! claims and payload disagree.

use zte_auth::{AccessTokenClaims, Actor, claims::Audience};
use zte_proto::events::v1::ORDER_CREATED_TYPE;
use zte_testkit::{
    events::{envelope, order_created},
    forge::{self, AT_JWT},
    kafka::Record,
    token_service::TokenService,
};

use crate::{Case, OTHER_USER, USER, assert_dead_lettered_and_next_valid_paid};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tokens_and_tampered_payloads_are_dead_lettered() {
    let tokens = TokenService::start().await;
    let event = tokens.event(USER);
    let claims = &event.claims;
    let payload = &event.encoded.payload;

    let mut tampered = payload.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    let donor = tokens.event(USER);

    let cases = vec![
        Case {
            name: "tampered payload byte",
            reason: "payload_hash_mismatch",
            record: event.record_with(&tampered, &event.token),
        },
        Case {
            name: "token swapped from another event",
            reason: "payload_hash_mismatch",
            record: event.record_with(payload, &donor.token),
        },
        Case {
            name: "foreign key under a known kid",
            reason: "bad_signature",
            record: event.record_with(
                payload,
                &forge::foreign_key_under_kid(&tokens.foreign, &tokens.key, AT_JWT, claims),
            ),
        },
        Case {
            name: "unpublished key",
            reason: "unknown_key",
            record: event.record_with(payload, &forge::sign(&tokens.foreign, AT_JWT, claims)),
        },
        Case {
            name: "alg none",
            reason: "disallowed_algorithm",
            record: event.record_with(payload, &forge::alg_none(&tokens.key, AT_JWT, claims)),
        },
        Case {
            name: "HS256 with the public key as secret",
            reason: "disallowed_algorithm",
            record: event.record_with(
                payload,
                &forge::hs256_keyed_with_public_key(&tokens.key, AT_JWT, claims),
            ),
        },
    ];
    assert_dead_lettered_and_next_valid_paid(tokens, cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_with_wrong_claims_are_dead_lettered() {
    let tokens = TokenService::start().await;
    let event = tokens.event(USER);
    let with = |change: &dyn Fn(&mut AccessTokenClaims)| {
        let mut c = event.claims.clone();
        change(&mut c);
        event.record_with(&event.encoded.payload, &tokens.sign(&c))
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
                c.act = Some(Actor {
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
                &forge::sign(&tokens.key, "JWT", &event.claims),
            ),
        },
    ];
    assert_dead_lettered_and_next_valid_paid(tokens, cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_records_are_dead_lettered() {
    let tokens = TokenService::start().await;
    let event = tokens.event(USER);
    let key = event.record().key;
    // Bytes that are not an OrderCreated (a truncated length-delimited field), with a token
    // correctly bound to exactly these bytes: only decoding can catch it.
    let not_an_order = vec![0x0a, 0xff, 0x01];
    let mut claims = event.claims.clone();
    claims.event_payload_hash = Some(zte_event::payload_hash(&not_an_order));
    let not_an_order_token = tokens.sign(&claims);
    let cases = vec![
        Case {
            name: "garbage bytes",
            reason: "malformed_envelope",
            record: Record {
                key: key.clone(),
                value: Some(vec![0xff, 0x00, 0x13, 0x37, 0xde, 0xad, 0xbe, 0xef]),
                ..Record::default()
            },
        },
        Case {
            name: "garbage with spoofed DLQ and retry headers",
            reason: "malformed_envelope",
            // Were the spoofed headers kept, the DLQ copy would show them first and the
            // reason, source offset and attempt checks would read them.
            record: Record {
                key: key.clone(),
                value: Some(b"not an envelope".to_vec()),
                ..Record::default()
            }
            .with_header("dlq-reason", "none")
            .with_header("DLQ-Source-Offset", "0")
            .with_header("dlq-attempts", "99")
            .with_header("retry-not-before", "99999999999999"),
        },
        Case {
            name: "empty value",
            reason: "malformed_envelope",
            record: Record {
                key: key.clone(),
                value: None,
                ..Record::default()
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
                key: key.clone(),
                value: Some(envelope(
                    "events.v1.OrderCancelled",
                    &event.encoded.payload,
                    &event.token,
                )),
                ..Record::default()
            },
        },
        Case {
            name: "oversized",
            reason: "oversized_record",
            record: Record {
                key,
                value: Some(envelope(
                    ORDER_CREATED_TYPE,
                    &event.encoded.payload,
                    &format!("{}{}", event.token, "A".repeat(20 * 1024)),
                )),
                ..Record::default()
            },
        },
    ];
    assert_dead_lettered_and_next_valid_paid(tokens, cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_whose_key_claims_and_payload_disagree_are_dead_lettered() {
    let tokens = TokenService::start().await;
    let event = tokens.event(USER);

    let other_id = uuid::Uuid::new_v4().to_string();
    let mut claim_mismatch = event.claims.clone();
    claim_mismatch.order_transaction_id = Some(other_id.clone());

    let mut user_mismatch = event.claims.clone();
    user_mismatch.sub = OTHER_USER.into();

    let mut bad_total = order_created(USER);
    bad_total.total_minor += 1;
    let amount_mismatch = tokens.event_for(bad_total);

    let cases = vec![
        Case {
            name: "record key is another order",
            reason: "transaction_mismatch",
            record: Record {
                key: Some(other_id.as_bytes().to_vec()),
                value: event.record().value,
                ..Record::default()
            },
        },
        Case {
            name: "no record key",
            reason: "transaction_mismatch",
            record: Record {
                key: None,
                value: event.record().value,
                ..Record::default()
            },
        },
        Case {
            name: "token claim is another order",
            reason: "transaction_mismatch",
            record: event.record_with(&event.encoded.payload, &tokens.sign(&claim_mismatch)),
        },
        Case {
            name: "token subject is another user",
            reason: "subject_mismatch",
            record: event.record_with(&event.encoded.payload, &tokens.sign(&user_mismatch)),
        },
        Case {
            name: "items do not add up to the total",
            reason: "amount_mismatch",
            record: amount_mismatch.record(),
        },
    ];
    assert_dead_lettered_and_next_valid_paid(tokens, cases).await;
}
