//! Verification of a received `OrderCreated` record, in a fixed order where every failure has
//! a stable reason name (used in dead-letter headers and metrics):
//!
//! 1. size limit (`oversized_record`); decode the envelope (`malformed_envelope`,
//!    `unexpected_event_type`);
//! 2. validate the token (the validator's reasons, e.g. `disallowed_algorithm`,
//!    `unknown_key`, `bad_signature`, `token_expired`, `wrong_audience`);
//! 3. scope `trigger_payments` (`insufficient_scope`); the acting client (`act.sub`, the
//!    service that exchanged the user's token) is a trusted producer (`untrusted_producer`);
//! 4. SHA-256 of the received payload bytes, before decoding, equals `event_payload_hash`,
//!    compared in constant time (`payload_hash_mismatch`);
//! 5. decode `OrderCreated` (`malformed_payload`); its id equals the token claim and the record
//!    key (`transaction_mismatch`); `user_id` equals `sub` (`subject_mismatch`); the total
//!    recomputed from the items equals `total_minor` (`amount_mismatch`).

use std::time::SystemTime;

use prost::Message;
use subtle::ConstantTimeEq;
use zte_auth::{
    AccessTokenClaims, TokenError, TokenValidator,
    names::{ORDERS_CLIENT_ID, SCOPE_TRIGGER_PAYMENTS},
};
use zte_proto::events::v1::{EventEnvelope, ORDER_CREATED_TYPE, OrderCreated};

use crate::{payload_hash, total_minor};

/// Why a record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The record is larger than the configured limit.
    #[error("record of {0} bytes exceeds the limit")]
    OversizedRecord(usize),
    /// The value is missing or not an `EventEnvelope`.
    #[error("malformed envelope: {0}")]
    MalformedEnvelope(String),
    /// `event_type` is not `events.v1.OrderCreated`.
    #[error("unexpected event type {0:?}")]
    UnexpectedEventType(String),
    /// The token failed validation.
    #[error("token rejected: {0}")]
    Token(TokenError),
    /// The token lacks `trigger_payments`.
    #[error("token lacks the trigger_payments scope")]
    InsufficientScope,
    /// The token's acting client (`act.sub`) is not a trusted producer of this event.
    #[error("event token was not obtained by a trusted producer")]
    UntrustedProducer,
    /// The payload bytes do not hash to the token's `event_payload_hash`.
    #[error("payload hash does not match the token")]
    PayloadHashMismatch,
    /// The payload is not an `OrderCreated`.
    #[error("malformed payload: {0}")]
    MalformedPayload(String),
    /// Order id differs between payload, token claim and record key.
    #[error("transaction id mismatch: {0}")]
    TransactionMismatch(String),
    /// Payload `user_id` differs from the token's `sub`.
    #[error("payload user does not match the token subject")]
    SubjectMismatch,
    /// The items do not add up to `total_minor` (or the sum overflows).
    #[error("items do not add up to total_minor")]
    AmountMismatch,
}

impl Rejection {
    /// Stable snake_case reason name.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::OversizedRecord(_) => "oversized_record",
            Self::MalformedEnvelope(_) => "malformed_envelope",
            Self::UnexpectedEventType(_) => "unexpected_event_type",
            Self::Token(e) => e.reason(),
            Self::InsufficientScope => "insufficient_scope",
            Self::UntrustedProducer => "untrusted_producer",
            Self::PayloadHashMismatch => "payload_hash_mismatch",
            Self::MalformedPayload(_) => "malformed_payload",
            Self::TransactionMismatch(_) => "transaction_mismatch",
            Self::SubjectMismatch => "subject_mismatch",
            Self::AmountMismatch => "amount_mismatch",
        }
    }

    /// True when the record may be valid and should be retried, not dead-lettered.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Token(e) if e.is_transient())
    }

    /// For a record whose key the JWKS cache could not decide yet: when the refresh that
    /// decides it is due.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Token(e) => e.retry_after(),
            _ => None,
        }
    }
}

/// A record that passed every check.
#[derive(Debug, Clone)]
pub struct VerifiedEvent {
    /// The decoded event.
    pub order: OrderCreated,
    /// The validated event token's claims.
    pub claims: AccessTokenClaims,
}

/// Limits and policy of a verifier.
#[derive(Debug, Clone)]
pub struct VerifierLimits {
    /// Largest record value accepted, in bytes.
    pub max_record_bytes: usize,
    /// Client ids allowed as the event token's acting party (`act.sub`): the services that
    /// may exchange a user's token to trigger a payment.
    pub trusted_producers: Vec<String>,
}

impl Default for VerifierLimits {
    fn default() -> Self {
        Self {
            max_record_bytes: 256 * 1024,
            trusted_producers: vec![ORDERS_CLIENT_ID.to_owned()],
        }
    }
}

/// Verifies `OrderCreated` records. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventVerifier {
    validator: TokenValidator,
    limits: VerifierLimits,
}

impl VerifiedEvent {
    /// The order id in canonical form (lowercase, hyphenated): what payments are
    /// deduplicated by, however the event spelled it.
    pub fn canonical_order_id(&self) -> String {
        crate::canonical_order_id(&self.order.order_transaction_id)
            .unwrap_or_else(|| self.order.order_transaction_id.clone())
    }
}

impl EventVerifier {
    /// A verifier validating event tokens with `validator`.
    pub fn new(validator: TokenValidator, limits: VerifierLimits) -> Self {
        Self { validator, limits }
    }

    /// The token validator.
    pub fn validator(&self) -> &TokenValidator {
        &self.validator
    }

    /// Runs every check on one record (`key`, `value` as received), the token validated as
    /// a request is ([`TokenValidator::validate`]: an unknown `kid` may wait for a JWKS fetch
    /// that can start at once, never for a cooldown).
    pub async fn verify(
        &self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<VerifiedEvent, Rejection> {
        let envelope = self.open(key, value)?;
        let claims = self
            .validator
            .validate(&envelope.access_token)
            .await
            .map_err(Rejection::Token)?;
        self.bind(key, envelope, claims)
    }

    /// Runs every check on one record that arrived at `arrived`, without ever waiting (the
    /// consumer's path, safe to run on blocking threads in parallel): the token is validated
    /// with [`TokenValidator::validate_arrived`], so a `kid` the JWKS cache cannot decide yet
    /// is a transient rejection ([`Rejection::is_transient`], [`Rejection::retry_after`]).
    pub fn verify_arrived(
        &self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        arrived: SystemTime,
    ) -> Result<VerifiedEvent, Rejection> {
        let envelope = self.open(key, value)?;
        let claims = self
            .validator
            .validate_arrived(&envelope.access_token, zte_auth::unix_now(), arrived)
            .map_err(Rejection::Token)?;
        self.bind(key, envelope, claims)
    }

    /// Step 1: size limit, envelope, event type.
    fn open(&self, key: Option<&[u8]>, value: Option<&[u8]>) -> Result<EventEnvelope, Rejection> {
        let value = value.unwrap_or_default();
        let size = value.len() + key.map_or(0, <[u8]>::len);
        if size > self.limits.max_record_bytes {
            return Err(Rejection::OversizedRecord(size));
        }
        if value.is_empty() {
            return Err(Rejection::MalformedEnvelope("empty record value".into()));
        }
        let envelope = EventEnvelope::decode(value)
            .map_err(|e| Rejection::MalformedEnvelope(e.to_string()))?;
        if envelope.event_type != ORDER_CREATED_TYPE {
            return Err(Rejection::UnexpectedEventType(truncate(
                &envelope.event_type,
            )));
        }
        Ok(envelope)
    }

    /// Steps 3 to 5, with the validated token's `claims`.
    fn bind(
        &self,
        key: Option<&[u8]>,
        envelope: EventEnvelope,
        claims: AccessTokenClaims,
    ) -> Result<VerifiedEvent, Rejection> {
        if !claims.scopes().contains(SCOPE_TRIGGER_PAYMENTS) {
            return Err(Rejection::InsufficientScope);
        }
        let actor = claims.act.as_ref().map(|a| a.sub.as_str());
        if !actor.is_some_and(|a| self.limits.trusted_producers.iter().any(|t| t == a)) {
            return Err(Rejection::UntrustedProducer);
        }
        // Hash the bytes exactly as received, before decoding them.
        let received = payload_hash(&envelope.payload);
        let claimed = claims.event_payload_hash.as_deref().unwrap_or_default();
        if !bool::from(received.as_bytes().ct_eq(claimed.as_bytes())) {
            return Err(Rejection::PayloadHashMismatch);
        }
        let order = OrderCreated::decode(envelope.payload.as_slice())
            .map_err(|e| Rejection::MalformedPayload(e.to_string()))?;
        if uuid::Uuid::parse_str(&order.order_transaction_id).is_err() {
            return Err(Rejection::MalformedPayload(
                "order_transaction_id is not a UUID".into(),
            ));
        }
        if claims.order_transaction_id.as_deref() != Some(order.order_transaction_id.as_str()) {
            return Err(Rejection::TransactionMismatch(
                "payload and token claim differ".into(),
            ));
        }
        if key != Some(order.order_transaction_id.as_bytes()) {
            return Err(Rejection::TransactionMismatch(
                "payload and record key differ".into(),
            ));
        }
        if order.user_id != claims.sub {
            return Err(Rejection::SubjectMismatch);
        }
        if order.items.is_empty()
            || total_minor(&order.items) != Some(order.total_minor)
            || order.total_minor <= 0
        {
            return Err(Rejection::AmountMismatch);
        }
        Ok(VerifiedEvent { order, claims })
    }
}

fn truncate(value: &str) -> String {
    value.chars().take(80).collect()
}
