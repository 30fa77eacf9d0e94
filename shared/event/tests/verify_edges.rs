//! The verifier's checks at their edges: the size limit at exactly the limit, zero prices,
//! an order that costs nothing, the default policy, which rejections the consumer retries, the
//! canonical order id, the event type a dead letter reports. Most were written against a
//! mutant `cargo mutants` found surviving (README, "Mutation testing"): each fails if its check
//! is weakened that way.

// The signed fixture is built outside `#[test]` functions; a failure there must fail loudly.
#![allow(clippy::unwrap_used)]

use std::{
    sync::LazyLock,
    time::{Duration, SystemTime},
};

use zte_auth::{
    AccessTokenClaims, Algorithm, JwkSet, JwksCache, KeySpec, SigningKey, TokenError,
    TokenValidator, ValidatorConfig, jws,
    names::{ORDERS_CLIENT_ID, PAYMENTS_AUDIENCE, SCOPE_TRIGGER_PAYMENTS},
};
use zte_event::{
    EventVerifier, Rejection, VerifiedEvent, VerifierLimits, encode_order_created, envelope,
};
use zte_proto::events::v1::{OrderCreated, OrderItem};

const ISSUER: &str = "http://issuer.test";
const ORDER_ID: &str = "0b6f1c1e-4e0e-4d59-9a53-2c2b8f0b7f43";

static KEY: LazyLock<SigningKey> = LazyLock::new(|| SigningKey::generate(KeySpec::Es256).unwrap());

fn verifier(limits: VerifierLimits) -> EventVerifier {
    let validator = TokenValidator::new(
        ValidatorConfig {
            issuer: ISSUER.into(),
            audience: PAYMENTS_AUDIENCE.into(),
            leeway: Duration::from_secs(5),
            algorithms: Algorithm::ALL.to_vec(),
        },
        JwksCache::fixed(JwkSet {
            keys: vec![KEY.public_jwk()],
        }),
    );
    EventVerifier::new(validator, limits)
}

fn item(quantity: u32, unit_price_minor: i64) -> OrderItem {
    OrderItem {
        sku: format!("SKU-{quantity}-{unit_price_minor}"),
        quantity,
        unit_price_minor,
    }
}

fn order(id: &str, items: Vec<OrderItem>, total_minor: i64) -> OrderCreated {
    OrderCreated {
        order_transaction_id: id.into(),
        user_id: "demouser".into(),
        created_at: None,
        items,
        currency: "EUR".into(),
        total_minor,
    }
}

/// The record Orders would publish for `order`: key, and envelope with a genuine event token.
fn record(order: &OrderCreated) -> (Vec<u8>, Vec<u8>) {
    let encoded = encode_order_created(order);
    let claims = AccessTokenClaims::issued(
        ISSUER,
        &order.user_id,
        &[PAYMENTS_AUDIENCE],
        SCOPE_TRIGGER_PAYMENTS,
        ORDERS_CLIENT_ID,
        zte_auth::unix_now(),
        Duration::from_secs(300),
    )
    .for_event(
        PAYMENTS_AUDIENCE,
        &order.order_transaction_id,
        &encoded.payload_hash,
    );
    let token = jws::sign(&KEY, "at+jwt", &claims).unwrap();
    (
        order.order_transaction_id.clone().into_bytes(),
        envelope(&encoded.payload, &token),
    )
}

fn verify(
    verifier: &EventVerifier,
    (key, value): &(Vec<u8>, Vec<u8>),
) -> Result<VerifiedEvent, Rejection> {
    verifier.verify_arrived(Some(key), Some(value), SystemTime::now())
}

fn default_verifier() -> EventVerifier {
    verifier(VerifierLimits::default())
}

#[test]
fn a_genuine_record_passes_with_the_default_policy() {
    let event = verify(
        &default_verifier(),
        &record(&order(ORDER_ID, vec![item(2, 1250)], 2500)),
    )
    .unwrap();
    assert_eq!(event.order.total_minor, 2500);
}

#[test]
fn the_default_policy_is_256_kib_and_orders_as_the_only_producer() {
    let limits = VerifierLimits::default();
    assert_eq!(limits.max_record_bytes, 256 * 1024);
    assert_eq!(limits.trusted_producers, [ORDERS_CLIENT_ID]);
}

/// The limit counts key and value together: a record of exactly the limit is read, one byte
/// more is refused with its full size.
#[test]
fn the_size_limit_counts_key_plus_value_inclusive() {
    let genuine = record(&order(ORDER_ID, vec![item(1, 100)], 100));
    let size = genuine.0.len() + genuine.1.len();
    let at = |max_record_bytes| {
        verifier(VerifierLimits {
            max_record_bytes,
            ..VerifierLimits::default()
        })
    };
    assert!(verify(&at(size), &genuine).is_ok(), "exactly the limit");
    assert_eq!(
        verify(&at(size - 1), &genuine).unwrap_err(),
        Rejection::OversizedRecord(size),
        "one byte over, the key counted"
    );
}

#[test]
fn zero_priced_items_add_nothing_to_the_total() {
    let event = verify(
        &default_verifier(),
        &record(&order(ORDER_ID, vec![item(3, 0), item(2, 500)], 1000)),
    )
    .unwrap();
    assert_eq!(event.order.items.len(), 2);
}

/// Items that are all free add up to a total of 0, which is still refused: nothing to pay.
#[test]
fn an_order_that_costs_nothing_is_refused() {
    assert_eq!(
        verify(
            &default_verifier(),
            &record(&order(ORDER_ID, vec![item(1, 0)], 0))
        )
        .unwrap_err(),
        Rejection::AmountMismatch
    );
}

/// The dead-letter header carries the event type as sent, cut to 80 characters.
#[test]
fn an_unexpected_event_type_is_reported_cut_to_80_characters() {
    use prost::Message;
    let value = zte_proto::events::v1::EventEnvelope {
        event_type: "x".repeat(200),
        payload: vec![1],
        access_token: "t".into(),
    }
    .encode_to_vec();
    assert_eq!(
        default_verifier()
            .verify_arrived(Some(b"k"), Some(&value), SystemTime::now())
            .unwrap_err(),
        Rejection::UnexpectedEventType("x".repeat(80))
    );
}

/// Payments deduplicate by the canonical id, however the producer spelled it.
#[test]
fn a_verified_event_gives_its_order_id_in_canonical_form() {
    let event = verify(
        &default_verifier(),
        &record(&order(&ORDER_ID.to_uppercase(), vec![item(1, 100)], 100)),
    )
    .unwrap();
    assert_eq!(event.order.order_transaction_id, ORDER_ID.to_uppercase());
    assert_eq!(event.canonical_order_id(), ORDER_ID);
}

/// Only an undecided signing key is retried, after the delay the JWKS cache gave; every other
/// rejection is final.
#[test]
fn only_an_undecided_key_is_retried_and_after_its_delay() {
    let undecided = Rejection::Token(TokenError::KeyNotYetChecked(Duration::from_secs(7)));
    assert!(undecided.is_transient());
    assert_eq!(undecided.retry_after(), Some(Duration::from_secs(7)));
    let unavailable = Rejection::Token(TokenError::KeysUnavailable("down".into()));
    assert!(unavailable.is_transient());
    assert_eq!(unavailable.retry_after(), None);
    for last in [
        Rejection::Token(TokenError::BadSignature),
        Rejection::AmountMismatch,
    ] {
        assert!(!last.is_transient(), "{last}");
        assert_eq!(last.retry_after(), None, "{last}");
    }
}
