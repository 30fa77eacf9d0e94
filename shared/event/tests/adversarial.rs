//! The shared adversarial cases (`proto/testdata/event_verification_cases.json`) against the
//! real `EventVerifier` Payments runs: every case must end as the file says, `accepted` or
//! refused with exactly the reason name Payments dead-letters it with. Python, Go, Java and
//! TypeScript run the same cases in `clients/`, so all five verifiers agree case by case.
//!
//! The verifier here reads the wall clock, not the file's `now`: the cases are built so that
//! every outcome holds from `now` until 2096.

// Helpers outside `#[test]` functions parse a fixture: a malformed file must fail loudly.
#![allow(clippy::expect_used)]

mod common;

use std::{collections::BTreeSet, time::Duration};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use prost::Message;
use serde_json::Value;
use zte_auth::{Algorithm, JwkSet, JwksCache, SigningKey, TokenValidator, ValidatorConfig};
use zte_event::{EventVerifier, VerifierLimits};
use zte_proto::events::v1::EventEnvelope;

use common::{array, str_of, strings, testdata};

fn case_file() -> Value {
    testdata("event_verification_cases.json")
}

fn cases() -> Vec<Value> {
    array(&case_file(), "cases").to_vec()
}

fn verifier(case: &Value) -> EventVerifier {
    let settings = &case["settings"];
    let jwks: JwkSet = serde_json::from_value(case["jwks"].clone()).expect("jwks is a JWK Set");
    let validator = TokenValidator::new(
        ValidatorConfig {
            issuer: str_of(settings, "issuer").to_owned(),
            audience: str_of(settings, "audience").to_owned(),
            leeway: Duration::from_secs(
                settings["leeway_seconds"]
                    .as_u64()
                    .expect("leeway_seconds is a number"),
            ),
            algorithms: strings(settings, "allowed_algs")
                .into_iter()
                .map(|alg| alg.parse().expect("allowed_algs names ES256 or PS256"))
                .collect(),
        },
        // A fixed key set: an unknown kid is a permanent `unknown_key`, as in every client.
        JwksCache::fixed(jwks),
    );
    EventVerifier::new(
        validator,
        VerifierLimits {
            max_record_bytes: usize::try_from(
                settings["max_record_bytes"]
                    .as_u64()
                    .expect("max_record_bytes is a number"),
            )
            .expect("max_record_bytes fits usize"),
            trusted_producers: strings(settings, "trusted_producers")
                .into_iter()
                .map(str::to_owned)
                .collect(),
        },
    )
}

#[tokio::test]
async fn every_case_ends_as_payments_says() {
    let mut failures = Vec::new();
    for case in cases() {
        let name = str_of(&case, "name");
        let expect = str_of(&case, "expect");
        let key = case["record"]["key"].as_str().map(str::as_bytes);
        let value = STANDARD
            .decode(str_of(&case["record"], "value_b64"))
            .expect("value_b64 is base64");
        let outcome = match verifier(&case).verify(key, Some(&value)).await {
            Ok(event) => {
                assert_eq!(
                    Some(event.order.order_transaction_id.as_bytes()),
                    key,
                    "{name}: an accepted event is the record key's order"
                );
                "accepted"
            }
            Err(rejection) => {
                assert!(
                    !rejection.is_transient(),
                    "{name}: a fixed JWKS never gives a transient rejection"
                );
                rejection.reason()
            }
        };
        // The consumer's path (never waits for the JWKS) ends the same way.
        let consumer_path =
            match verifier(&case).verify_arrived(key, Some(&value), std::time::SystemTime::now()) {
                Ok(_) => "accepted",
                Err(rejection) => rejection.reason(),
            };
        assert_eq!(consumer_path, outcome, "{name}: verify_arrived agrees");
        if outcome != expect {
            failures.push(format!("{name}: expected {expect}, got {outcome}"));
        }
    }
    assert!(
        failures.is_empty(),
        "cases disagree:\n{}",
        failures.join("\n")
    );
}

/// The file's JWKS names each of the generator's fixed issuer keys by the `kid` `zte_auth`
/// gives it (the RFC 7638 thumbprint), for the P-256 key as for the RSA key: what the file
/// publishes is what Identity would publish for the same key.
#[test]
fn the_files_kids_are_the_thumbprints_zte_auth_computes() {
    let file_kids: BTreeSet<String> = cases()
        .iter()
        .flat_map(|case| array(&case["jwks"], "keys").to_vec())
        .filter_map(|jwk| jwk["kid"].as_str().map(str::to_owned))
        .collect();
    for (pem, alg) in [
        (
            include_str!("../examples/gen_adversarial/keys/issuer-p256.pem"),
            Algorithm::Es256,
        ),
        (
            include_str!("../examples/gen_adversarial/keys/issuer-rsa.pem"),
            Algorithm::Ps256,
        ),
    ] {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let key = SigningKey::from_pkcs8_der(&STANDARD.decode(body).expect("PEM body is base64"))
            .expect("a fixed test key");
        assert_eq!(key.algorithm(), alg);
        assert!(
            file_kids.contains(key.kid()),
            "{alg} key's kid {} is not in the file's JWKS ({file_kids:?})",
            key.kid()
        );
        let jwk: JwkSet = serde_json::from_value(cases()[0]["jwks"].clone()).expect("a JWK Set");
        let published = jwk
            .keys
            .iter()
            .find(|k| k.kid.as_deref() == Some(key.kid()))
            .expect("published");
        assert_eq!(
            published.to_verifying_key().expect("usable"),
            *key.verifying_key()
        );
    }
}

#[test]
fn the_file_covers_every_attack_and_every_reason() {
    let file = case_file();
    let cases = cases();
    let names: Vec<&str> = cases.iter().map(|c| str_of(c, "name")).collect();
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len(), "case names are unique");
    for required in [
        "valid_ps256",
        "valid_es256",
        "tampered_payload_byte",
        "token_from_another_event",
        "alg_none",
        "hs256_keyed_with_public_key",
        "foreign_key_under_known_kid_ps256",
        "foreign_key_under_known_kid_es256",
        "unknown_kid",
        "expired",
        "wrong_issuer",
        "wrong_audience",
        "wrong_typ_jwt",
        "user_token_without_trigger_payments",
        "untrusted_producer",
        "record_key_differs_from_order_id",
        "payload_user_differs_from_sub",
        "items_do_not_add_up",
        "garbage_envelope",
    ] {
        assert!(unique.contains(required), "case {required} is missing");
    }
    // Every reason Payments can give for a record with a fixed JWKS is exercised, and no
    // case expects a name Payments does not give.
    let reasons: BTreeSet<&str> = strings(&file, "reasons").into_iter().collect();
    let expected: BTreeSet<&str> = cases.iter().map(|c| str_of(c, "expect")).collect();
    let mut all = reasons.clone();
    all.insert("accepted");
    assert_eq!(
        expected, all,
        "cases expect exactly `accepted` and every reason"
    );
    for case in &cases {
        let settings = &case["settings"];
        let algs = strings(settings, "allowed_algs");
        assert_eq!(algs, ["ES256", "PS256"], "{case}");
        assert!(
            settings["now"].as_i64().expect("now is a number") <= zte_auth::unix_now(),
            "the file's clock is not in the future"
        );
    }
}

/// The decoded `envelope` view reviewers read is exactly what the record holds.
#[test]
fn the_review_view_matches_the_record() {
    for case in cases() {
        let name = str_of(&case, "name");
        let value = STANDARD
            .decode(str_of(&case["record"], "value_b64"))
            .expect("value_b64 is base64");
        let view = &case["envelope"];
        match EventEnvelope::decode(value.as_slice()) {
            Ok(envelope) if !value.is_empty() => {
                assert_eq!(envelope.event_type, str_of(view, "event_type"), "{name}");
                assert_eq!(
                    hex::encode(&envelope.payload),
                    str_of(view, "payload_hex"),
                    "{name}"
                );
            }
            _ => assert!(view.is_null(), "{name}: no view of an undecodable value"),
        }
    }
}
