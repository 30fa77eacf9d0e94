//! `OrderCreated` events as Orders publishes them (encoded once, hashed, bound to an event
//! token), and the raw records a test produces or forges from them.

use std::time::Duration;

use prost::Message as _;
use rdkafka::{Message as _, consumer::StreamConsumer};
use zte_auth::{AccessTokenClaims, SigningKey, TokenValidator};
use zte_event::{EncodedEvent, encode_order_created};
use zte_proto::events::v1::{EventEnvelope, ORDER_CREATED_TYPE, OrderCreated, OrderItem};

use crate::{
    forge::{self, AT_JWT},
    kafka::{self, Record},
    tokens::{ORDERS_SERVICE, event_claims},
};

/// The total of [`order_created`]: 2 × 1250 + 1 × 499.
pub const ORDER_TOTAL_MINOR: i64 = 2_999;

/// A fresh, internally consistent order of `user`: two items adding up to
/// [`ORDER_TOTAL_MINOR`] EUR cents.
pub fn order_created(user: &str) -> OrderCreated {
    OrderCreated {
        order_transaction_id: uuid::Uuid::new_v4().to_string(),
        user_id: user.into(),
        created_at: Some(prost_types::Timestamp {
            seconds: zte_auth::unix_now(),
            nanos: 123_000_000,
        }),
        items: vec![
            OrderItem {
                sku: "SKU-1".into(),
                quantity: 2,
                unit_price_minor: 1250,
            },
            OrderItem {
                sku: "SKU-2".into(),
                quantity: 1,
                unit_price_minor: 499,
            },
        ],
        currency: "EUR".into(),
        total_minor: ORDER_TOTAL_MINOR,
    }
}

/// An event as Orders would publish it: the order, its payload encoded once with its hash, and
/// an event token bound to those bytes.
#[derive(Debug, Clone)]
pub struct Event {
    /// The order.
    pub order: OrderCreated,
    /// Its encoded payload and hash.
    pub encoded: EncodedEvent,
    /// The claims of the event token (to spoil one in a test).
    pub claims: AccessTokenClaims,
    /// The event token.
    pub token: String,
}

impl Event {
    /// `order` (whatever it contains) with an event token for its bytes, signed by `key` as
    /// the identity service at `issuer` would sign it.
    pub fn signed(order: OrderCreated, key: &SigningKey, issuer: &str) -> Self {
        let encoded = encode_order_created(&order);
        let claims = event_claims(issuer, &order, &encoded.payload_hash);
        let token = forge::sign(key, AT_JWT, &claims);
        Self {
            order,
            encoded,
            claims,
            token,
        }
    }

    /// The order id.
    pub fn id(&self) -> &str {
        &self.order.order_transaction_id
    }

    /// The record: key = order id, value = envelope(payload, token).
    pub fn record(&self) -> Record {
        self.record_with(&self.encoded.payload, &self.token)
    }

    /// The record with this event's key and another payload and token.
    pub fn record_with(&self, payload: &[u8], token: &str) -> Record {
        Record::new(self.id(), envelope(ORDER_CREATED_TYPE, payload, token))
    }
}

/// An encoded `EventEnvelope` of any type, payload and token (nothing checked).
pub fn envelope(event_type: &str, payload: &[u8], token: &str) -> Vec<u8> {
    EventEnvelope {
        event_type: event_type.into(),
        payload: payload.to_vec(),
        access_token: token.into(),
    }
    .encode_to_vec()
}

/// Decodes a record value as an envelope.
pub fn decode_envelope(value: &[u8]) -> EventEnvelope {
    EventEnvelope::decode(value).expect("the record value is an EventEnvelope")
}

/// The envelope of the one record `consumer` receives (until `quiet` passes without another):
/// asserts there is exactly one and that its key is `order_id`.
pub async fn only_event(
    consumer: &StreamConsumer,
    quiet: Duration,
    order_id: &str,
) -> EventEnvelope {
    let records = kafka::drain_records(consumer, quiet).await;
    assert_eq!(records.len(), 1, "exactly one record");
    assert_eq!(kafka::key_of(&records[0]), order_id);
    decode_envelope(records[0].payload().unwrap_or_default())
}

/// Validates the event token of `envelope` with `validator` (the consumer's view) and asserts
/// that it binds exactly the envelope's payload (by its SHA-256) and `order_id`, exchanged by
/// Orders (`act.sub`); returns its claims.
pub async fn assert_event_token(
    validator: &TokenValidator,
    envelope: &EventEnvelope,
    order_id: &str,
) -> AccessTokenClaims {
    let claims = validator
        .validate(&envelope.access_token)
        .await
        .expect("a valid event token");
    assert_binds_event(&claims, &envelope.payload, order_id);
    claims
}

#[track_caller]
fn assert_binds_event(claims: &AccessTokenClaims, payload: &[u8], order_id: &str) {
    assert_eq!(
        claims.event_payload_hash.as_deref(),
        Some(zte_event::payload_hash(payload).as_str())
    );
    assert_eq!(
        claims.act.as_ref().map(|a| a.sub.as_str()),
        Some(ORDERS_SERVICE)
    );
    assert_eq!(claims.order_transaction_id.as_deref(), Some(order_id));
}
