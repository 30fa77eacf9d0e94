//! The `OrderCreated` event on the wire: encode once, hash those exact bytes, wrap them in an
//! `EventEnvelope`; and on the consumer side, verify a received record step by step.
//!
//! The hash is SHA-256 over the protobuf bytes *as they travel*. The producer never
//! re-encodes after hashing and the consumer hashes before decoding, so the binding cannot be
//! broken by a serializer that orders, pads or formats differently (protobuf serialization is
//! not canonical; JSON even less so).

mod verify;

use prost::Message;
use sha2::{Digest, Sha256};
use zte_proto::events::v1::{EventEnvelope, ORDER_CREATED_TYPE, OrderCreated, OrderItem};

pub use verify::{EventVerifier, Rejection, VerifiedEvent, VerifierLimits};

/// An `OrderCreated` encoded once, with the hash of exactly those bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedEvent {
    /// The protobuf bytes that will travel as `EventEnvelope.payload`.
    pub payload: Vec<u8>,
    /// Lowercase hex SHA-256 of `payload`: the `event_payload_hash` claim.
    pub payload_hash: String,
}

/// Encodes `event` once and hashes the result.
pub fn encode_order_created(event: &OrderCreated) -> EncodedEvent {
    let payload = event.encode_to_vec();
    let payload_hash = payload_hash(&payload);
    EncodedEvent {
        payload,
        payload_hash,
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn payload_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// True for a well-formed `event_payload_hash`: 64 lowercase hex characters.
pub fn is_payload_hash(value: &str) -> bool {
    value.len() == 64
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `id` as a canonical order id (a UUID, lowercase and hyphenated), or `None` if it is not a
/// UUID in any of the forms the `uuid` crate parses (hyphenated in either case, simple,
/// braced, URN). Payments deduplicate by this form, so two spellings of one order id can
/// never be paid twice.
pub fn canonical_order_id(id: &str) -> Option<String> {
    uuid::Uuid::parse_str(id)
        .ok()
        .map(|u| u.hyphenated().to_string())
}

/// Builds the Kafka record value: the envelope around `payload` (pass the bytes that were
/// hashed, [`EncodedEvent::payload`], never a re-encoding) and the event token.
pub fn envelope(payload: &[u8], access_token: &str) -> Vec<u8> {
    EventEnvelope {
        event_type: ORDER_CREATED_TYPE.to_owned(),
        payload: payload.to_vec(),
        access_token: access_token.to_owned(),
    }
    .encode_to_vec()
}

/// Sum of `quantity * unit_price_minor` over `items`, or `None` on overflow or a negative
/// price.
pub fn total_minor(items: &[OrderItem]) -> Option<i64> {
    items.iter().try_fold(0i64, |total, item| {
        if item.unit_price_minor < 0 {
            return None;
        }
        item.unit_price_minor
            .checked_mul(i64::from(item.quantity))
            .and_then(|line| total.checked_add(line))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_over_the_encoded_bytes() {
        let event = OrderCreated {
            order_transaction_id: "0b6f1c1e-4e0e-4d59-9a53-2c2b8f0b7f43".into(),
            user_id: "demouser".into(),
            created_at: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            items: vec![OrderItem {
                sku: "SKU-1".into(),
                quantity: 2,
                unit_price_minor: 1250,
            }],
            currency: "EUR".into(),
            total_minor: 2500,
        };
        let encoded = encode_order_created(&event);
        assert_eq!(encoded.payload_hash, payload_hash(&event.encode_to_vec()));
        assert!(is_payload_hash(&encoded.payload_hash));
        let env = EventEnvelope::decode(envelope(&encoded.payload, "t").as_slice()).unwrap();
        assert_eq!(env.payload, encoded.payload);
        assert_eq!(env.event_type, "events.v1.OrderCreated");
    }

    #[test]
    fn totals_check_overflow() {
        let item = |q, p| OrderItem {
            sku: "s".into(),
            quantity: q,
            unit_price_minor: p,
        };
        assert_eq!(total_minor(&[item(2, 5), item(1, 7)]), Some(17));
        assert_eq!(total_minor(&[item(10_000, i64::MAX / 2)]), None);
        assert_eq!(total_minor(&[item(1, -1)]), None);
    }

    #[test]
    fn order_ids_have_one_canonical_form() {
        let canonical = "0b6f1c1e-4e0e-4d59-9a53-2c2b8f0b7f43";
        for spelling in [
            canonical,
            "0B6F1C1E-4E0E-4D59-9A53-2C2B8F0B7F43",
            "0b6f1c1e4e0e4d599a532c2b8f0b7f43",
            "{0b6f1c1e-4e0e-4d59-9a53-2c2b8f0b7f43}",
            "urn:uuid:0B6F1C1E-4E0E-4D59-9A53-2C2B8F0B7F43",
        ] {
            assert_eq!(canonical_order_id(spelling).as_deref(), Some(canonical));
        }
        assert_eq!(canonical_order_id("not-a-uuid"), None);
        assert!(!is_payload_hash(&"A".repeat(64)));
    }
}
