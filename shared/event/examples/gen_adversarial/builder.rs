//! What one case is (a record, the JWKS and verifier settings, the expected outcome) and the
//! builder that makes the records: fresh orders, the claims Identity's token exchange gives
//! them, and the envelope around payload and token.

use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use prost::Message;
use serde::Serialize;
use serde_json::{Value, json};
use zte_auth::AccessTokenClaims;
use zte_proto::events::v1::{EventEnvelope, ORDER_CREATED_TYPE, OrderCreated, OrderItem};

use crate::{
    AUDIENCE, Error, ISSUER, NOW, PRODUCER, USER, VALID_UNTIL,
    jws::{Jws, Keys},
};

#[derive(Serialize)]
pub(crate) struct Settings {
    issuer: &'static str,
    audience: &'static str,
    trusted_producers: Vec<&'static str>,
    allowed_algs: Vec<&'static str>,
    now: i64,
    leeway_seconds: i64,
    pub(crate) max_record_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            issuer: ISSUER,
            audience: AUDIENCE,
            trusted_producers: vec![PRODUCER],
            allowed_algs: vec!["ES256", "PS256"],
            now: NOW,
            leeway_seconds: 5,
            max_record_bytes: 256 * 1024,
        }
    }
}

#[derive(Serialize)]
struct Record {
    /// UTF-8 record key; `null` for a record without a key.
    key: Option<String>,
    /// The record value, standard base64.
    value_b64: String,
}

#[derive(Serialize)]
pub(crate) struct Case {
    name: String,
    description: &'static str,
    /// `accepted`, or the reason name Payments dead-letters the record with.
    expect: &'static str,
    record: Record,
    jwks: Value,
    pub(crate) settings: Settings,
    /// A decoded view of the value for reviewers; verifiers read `record` only.
    envelope: Option<Value>,
}

/// Decoded view of an envelope (and its token's header and claims) for reviewing the file.
fn view(value: &[u8]) -> Option<Value> {
    if value.is_empty() {
        return None;
    }
    let envelope = EventEnvelope::decode(value).ok()?;
    let part = |i: usize| -> Value {
        envelope
            .access_token
            .split('.')
            .nth(i)
            .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or(Value::Null)
    };
    Some(json!({
        "event_type": envelope.event_type,
        "payload_hex": hex::encode(&envelope.payload),
        "token_header": part(0),
        "token_claims": part(1),
    }))
}

/// A distinct, readable order id per case.
pub(crate) fn order_id(n: u32) -> String {
    format!("0d0e0f10-2026-4000-8000-{n:012}")
}

/// A valid order: two items adding up to its total.
pub(crate) fn order(id: &str) -> OrderCreated {
    OrderCreated {
        order_transaction_id: id.to_owned(),
        user_id: USER.to_owned(),
        created_at: Some(prost_types::Timestamp {
            seconds: NOW - 120,
            nanos: 0,
        }),
        items: vec![item("BOOK-1", 2, 1999), item("PEN-BLUE", 1, 250)],
        currency: "EUR".to_owned(),
        total_minor: 2 * 1999 + 250,
    }
}

pub(crate) fn item(sku: &str, quantity: u32, unit_price_minor: i64) -> OrderItem {
    OrderItem {
        sku: sku.to_owned(),
        quantity,
        unit_price_minor,
    }
}

/// The claims Identity's token exchange gives an event token for `payload`.
fn event_claims(name: &str, order_transaction_id: &str, payload: &[u8]) -> Result<Value, Error> {
    let mut claims = AccessTokenClaims::issued(
        ISSUER,
        USER,
        &[],
        "trigger_payments",
        PRODUCER,
        NOW - 60,
        std::time::Duration::from_secs(u64::try_from(VALID_UNTIL - (NOW - 60))?),
    )
    .for_event(
        AUDIENCE,
        order_transaction_id,
        &zte_event::payload_hash(payload),
    );
    claims.jti = format!("jti-{name}");
    Ok(serde_json::to_value(claims)?)
}

pub(crate) fn envelope(event_type: &str, payload: &[u8], token: &str) -> Vec<u8> {
    EventEnvelope {
        event_type: event_type.to_owned(),
        payload: payload.to_vec(),
        access_token: token.to_owned(),
    }
    .encode_to_vec()
}

/// An event token made over the claims of a valid exchanged token.
pub(crate) enum Token<'a> {
    /// A compact JWS of the claims.
    Jws(Jws<'a>),
    /// This string, whatever the claims.
    Literal(&'static str),
    /// A JWS whose claims part is replaced, after signing, by the claims changed by this.
    EditedAfterSigning(Jws<'a>, fn(&mut Value)),
}

impl<'a> From<Jws<'a>> for Token<'a> {
    fn from(jws: Jws<'a>) -> Self {
        Self::Jws(jws)
    }
}

impl Token<'_> {
    fn make(&self, claims: &Value) -> Result<String, Error> {
        match self {
            Self::Jws(jws) => jws.sign(claims),
            Self::Literal(token) => Ok((*token).to_owned()),
            Self::EditedAfterSigning(jws, edit) => {
                let signed = jws.sign(claims)?;
                let mut parts: Vec<String> = signed.split('.').map(str::to_owned).collect();
                let mut changed = claims.clone();
                edit(&mut changed);
                parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&changed)?);
                Ok(parts.join("."))
            }
        }
    }
}

/// A fresh order's id, its encoded payload and an event token for it.
pub(crate) struct Signed {
    pub(crate) id: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) token: String,
}

impl Signed {
    /// The record value: an `OrderCreated` envelope of payload and token.
    pub(crate) fn value(&self) -> Vec<u8> {
        envelope(ORDER_CREATED_TYPE, &self.payload, &self.token)
    }
}

/// Which order a record key or a token claim names.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Names {
    /// The order in the payload.
    ThisOrder,
    /// Another fresh order.
    AnotherOrder,
    /// None (a record without a key).
    Nothing,
}

pub(crate) struct Builder<'a> {
    pub(crate) keys: &'a Keys,
    pub(crate) cases: Vec<Case>,
    next_id: u32,
}

impl<'a> Builder<'a> {
    pub(crate) fn new(keys: &'a Keys) -> Self {
        Self {
            keys,
            cases: Vec::new(),
            next_id: 0,
        }
    }

    pub(crate) fn next_order_id(&mut self) -> String {
        self.next_id += 1;
        order_id(self.next_id)
    }

    /// A fresh order and `token` over the claims of a valid exchanged token for it, changed
    /// by `change` (the claims' `jti` names the case).
    pub(crate) fn signed(
        &mut self,
        name: &str,
        change: impl FnOnce(&mut Value),
        token: Token<'_>,
    ) -> Result<Signed, Error> {
        let id = self.next_order_id();
        let payload = order(&id).encode_to_vec();
        let mut claims = event_claims(name, &id, &payload)?;
        change(&mut claims);
        let token = token.make(&claims)?;
        Ok(Signed { id, payload, token })
    }

    /// A fresh order and a valid PS256 event token for it.
    pub(crate) fn valid(&mut self, name: &str) -> Result<Signed, Error> {
        let token = self.keys.ps256().into();
        self.signed(name, |_| {}, token)
    }

    /// The next case: what it is called, what it tries and how Payments ends it. Its record
    /// comes from the method called on the value returned.
    pub(crate) fn case<'b>(
        &'b mut self,
        name: &'static str,
        description: &'static str,
        expect: &'static str,
    ) -> NewCase<'b, 'a> {
        NewCase {
            builder: self,
            name,
            description,
            expect,
        }
    }
}

/// A case whose record is still to be made.
pub(crate) struct NewCase<'b, 'a> {
    builder: &'b mut Builder<'a>,
    name: &'static str,
    description: &'static str,
    expect: &'static str,
}

impl<'b> NewCase<'b, '_> {
    /// This record, checked with the default settings (which the caller may change on the
    /// case returned).
    pub(crate) fn record(self, key: Option<&str>, value: Vec<u8>) -> &'b mut Case {
        let cases = &mut self.builder.cases;
        cases.push(Case {
            name: self.name.to_owned(),
            description: self.description,
            expect: self.expect,
            record: Record {
                key: key.map(str::to_owned),
                value_b64: STANDARD.encode(&value),
            },
            jwks: self.builder.keys.jwks.clone(),
            settings: Settings::default(),
            envelope: view(&value),
        });
        let last = cases.len() - 1;
        &mut cases[last]
    }

    /// A fresh order, keyed by its id, whose event token is made as `token` says.
    pub(crate) fn token<'t>(self, token: impl Into<Token<'t>>) -> Result<(), Error> {
        self.signed_by(|_| {}, token.into())
    }

    /// The same, with a PS256 token by the issuer's key over claims changed by `change`.
    pub(crate) fn claims(self, change: impl FnOnce(&mut Value)) -> Result<(), Error> {
        let token = self.builder.keys.ps256().into();
        self.signed_by(change, token)
    }

    fn signed_by(self, change: impl FnOnce(&mut Value), token: Token<'_>) -> Result<(), Error> {
        let signed = self.builder.signed(self.name, change, token)?;
        self.record(Some(&signed.id), signed.value());
        Ok(())
    }

    /// A validly signed PS256 event token over `payload` as given (which may be inconsistent),
    /// claiming the order `claimed_id`.
    pub(crate) fn payload(
        self,
        key: Option<&str>,
        payload: &[u8],
        claimed_id: &str,
    ) -> Result<(), Error> {
        let claims = event_claims(self.name, claimed_id, payload)?;
        let token = self.builder.keys.ps256().sign(&claims)?;
        self.record(key, envelope(ORDER_CREATED_TYPE, payload, &token));
        Ok(())
    }

    /// A fresh order changed by `change`, whose key and validly signed token both name it.
    pub(crate) fn event(self, change: impl FnOnce(&mut OrderCreated)) -> Result<(), Error> {
        let id = self.builder.next_order_id();
        let mut event = order(&id);
        change(&mut event);
        self.payload(Some(&id), &event.encode_to_vec(), &id)
    }

    /// A fresh, valid order and token for its payload, whose record key and token claim name
    /// the orders `key` and `claim` say.
    pub(crate) fn binding(self, key: Names, claim: Names) -> Result<(), Error> {
        let id = self.builder.next_order_id();
        let other = if key == Names::AnotherOrder || claim == Names::AnotherOrder {
            self.builder.next_order_id()
        } else {
            id.clone()
        };
        let name_of = |names: Names| match names {
            Names::ThisOrder => Some(id.as_str()),
            Names::AnotherOrder => Some(other.as_str()),
            Names::Nothing => None,
        };
        let claimed = name_of(claim).ok_or("a token claims some order")?;
        self.payload(name_of(key), &order(&id).encode_to_vec(), claimed)
    }
}
