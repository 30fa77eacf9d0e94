//! A storm of forged records, as an insider with write access to the event topic would send
//! them: the kinds that used to stall or trick the consumer, in turn.
//!
//! | kind | what it is | dead-letter reason |
//! |---|---|---|
//! | [`Forgery::UnknownKid`] | a token naming a `kid` nobody published (each one new), junk signature | `unknown_key` |
//! | [`Forgery::Oversized`] | a value just above the consumer's limit | `oversized_record` |
//! | [`Forgery::Garbage`] | bytes that are not an envelope | `malformed_envelope` |
//! | [`Forgery::SpoofedHeaders`] | an `alg: none` token, with headers that claim a dead-letter reason, a source position and a retry schedule | `disallowed_algorithm` |
//!
//! Nothing here needs a signing key: the storm costs the attacker nothing.

use zte_event::encode_order_created;
use zte_proto::events::v1::ORDER_CREATED_TYPE;

use crate::{
    events::{envelope, order_created},
    forge::{self, AT_JWT},
    kafka::Record,
    tokens::event_claims,
};

/// One kind of forged record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Forgery {
    /// A `kid` never published.
    UnknownKid,
    /// Larger than the consumer accepts.
    Oversized,
    /// Not an envelope.
    Garbage,
    /// `alg: none`, with spoofed DLQ and retry headers.
    SpoofedHeaders,
}

impl Forgery {
    /// Every kind, in the storm's order.
    pub const ALL: [Self; 4] = [
        Self::UnknownKid,
        Self::Oversized,
        Self::Garbage,
        Self::SpoofedHeaders,
    ];

    /// The reason Payments must dead-letter it with.
    pub fn reason(self) -> &'static str {
        match self {
            Self::UnknownKid => "unknown_key",
            Self::Oversized => "oversized_record",
            Self::Garbage => "malformed_envelope",
            Self::SpoofedHeaders => "disallowed_algorithm",
        }
    }
}

/// The headers a [`Forgery::SpoofedHeaders`] record carries (none may survive into a copy).
pub const SPOOFED_HEADERS: [(&str, &str); 5] = [
    ("dlq-reason", "none"),
    ("dlq-source-offset", "0"),
    ("DLQ-Attempts", "1"),
    ("retry-not-before", "99999999999999"),
    ("retry-attempts", "0"),
];

/// A forged record and what it is.
#[derive(Debug, Clone)]
pub struct Forged {
    /// Its kind.
    pub kind: Forgery,
    /// The record.
    pub record: Record,
}

/// `count` forged records, the kinds in turn ([`Forgery::ALL`]), with tokens naming
/// `issuer`; oversized ones exceed `max_record_bytes` by a little.
pub fn storm(count: usize, issuer: &str, max_record_bytes: usize) -> Vec<Forged> {
    let order = order_created("demouser");
    let encoded = encode_order_created(&order);
    let claims = event_claims(issuer, &order, &encoded.payload_hash);
    (0..count)
        .map(|i| {
            let kind = Forgery::ALL[i % Forgery::ALL.len()];
            let key = uuid::Uuid::new_v4().to_string();
            let record = match kind {
                Forgery::UnknownKid => {
                    let header = format!(
                        r#"{{"alg":"PS256","typ":"{AT_JWT}","kid":"storm-{}"}}"#,
                        uuid::Uuid::new_v4().simple()
                    );
                    let token = forge::raw_jws(&header, &claims, b"not a signature");
                    Record::new(key, envelope(ORDER_CREATED_TYPE, &encoded.payload, &token))
                }
                Forgery::Oversized => Record::new(key, vec![b'x'; max_record_bytes + 1]),
                Forgery::Garbage => Record::new(key, format!("garbage {i} \u{0}\u{ff}")),
                Forgery::SpoofedHeaders => {
                    let header = format!(r#"{{"alg":"none","typ":"{AT_JWT}","kid":"k"}}"#);
                    let token = forge::raw_jws(&header, &claims, b"");
                    SPOOFED_HEADERS.iter().fold(
                        Record::new(key, envelope(ORDER_CREATED_TYPE, &encoded.payload, &token)),
                        |record, (name, value)| record.with_header(name, *value),
                    )
                }
            };
            Forged { kind, record }
        })
        .collect()
}
