//! Generates `proto/testdata/event_verification_cases.json`: Kafka records that try to break
//! event verification, each with the JWKS and verifier settings to check it against and the
//! outcome Payments gives (`accepted`, or the reason name of its dead-letter header).
//!
//! Rust (`shared/event/tests/adversarial.rs`, the real `EventVerifier`), Python, Go, Java and
//! TypeScript (`clients/`) read the same file and must agree case by case. Regenerate (when
//! adding a case) with:
//!
//! ```sh
//! cargo run -q -p zte-event --example gen_adversarial > proto/testdata/event_verification_cases.json
//! ```
//!
//! Deterministic except for the signatures: the keys are fixed test keys checked in next to
//! this file (`keys/`, made once with `openssl genpkey`, never used anywhere else), the
//! claims, ids and `now` are constants, and valid tokens expire in 2100, so every outcome
//! holds for any clock from `NOW` until `NOT_BEFORE_FAR` (2096). PS256 and ECDSA signatures
//! are randomized, so a regenerated file differs only in signature bytes.
//!
//! ES256 cases are signed here directly: the verifiers' allow-list is `["ES256", "PS256"]`
//! even while Identity issues PS256 only.

use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use prost::Message;
use ring::{
    rand::SystemRandom,
    signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair},
};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use zte_auth::{AccessTokenClaims, SigningKey};
use zte_proto::events::v1::{EventEnvelope, ORDER_CREATED_TYPE, OrderCreated, OrderItem};

/// The verifiers' clock for every case (2026-01-01T00:00:00Z).
const NOW: i64 = 1_767_225_600;
/// `exp` of every token meant to be in date (2100-01-01T00:00:00Z).
const VALID_UNTIL: i64 = 4_102_444_800;
/// `nbf` of the not-yet-valid token (2096-10-02).
const NOT_BEFORE_FAR: i64 = 4_000_000_000;
const ISSUER: &str = "https://identity.example";
const AUDIENCE: &str = "payments-service";
const PRODUCER: &str = "orders-service";
const USER: &str = "demouser";

type Error = Box<dyn std::error::Error>;

/// The fixed test keys and what the JWKS publishes of them.
struct Keys {
    issuer_rsa: RsaKeyPair,
    issuer_rsa_kid: String,
    issuer_ec: EcdsaKeyPair,
    issuer_ec_kid: String,
    foreign_rsa: RsaKeyPair,
    foreign_rsa_kid: String,
    foreign_ec: EcdsaKeyPair,
    /// The issuer's JWKS: its PS256 and ES256 keys, plus the foreign RSA key published for
    /// encryption only (`use: enc`), which no verifier may use for signatures.
    jwks: Value,
}

const ENC_ONLY_KID: &str = "encryption-only-key";

fn pem_to_der(pem: &str) -> Result<Vec<u8>, Error> {
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    Ok(STANDARD.decode(body)?)
}

fn rsa_key(pem: &str) -> Result<(RsaKeyPair, SigningKey), Error> {
    let der = pem_to_der(pem)?;
    let pair = RsaKeyPair::from_pkcs8(&der).map_err(|e| format!("RSA key: {e}"))?;
    Ok((pair, SigningKey::from_pkcs8_der(&der)?))
}

fn ec_key(pem: &str) -> Result<(EcdsaKeyPair, Value), Error> {
    let der = pem_to_der(pem)?;
    let pair = EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &der,
        &SystemRandom::new(),
    )
    .map_err(|e| format!("P-256 key: {e}"))?;
    // Uncompressed point: 0x04 || x || y.
    let point = pair.public_key().as_ref();
    let (x, y) = (
        URL_SAFE_NO_PAD.encode(&point[1..33]),
        URL_SAFE_NO_PAD.encode(&point[33..65]),
    );
    // RFC 7638 thumbprint: required members in lexicographic order, no whitespace.
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
    let jwk = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig"});
    Ok((pair, jwk))
}

impl Keys {
    fn load() -> Result<Self, Error> {
        let (issuer_rsa, issuer_signing) = rsa_key(include_str!("keys/issuer-rsa.pem"))?;
        let (foreign_rsa, foreign_signing) = rsa_key(include_str!("keys/foreign-rsa.pem"))?;
        let (issuer_ec, issuer_ec_jwk) = ec_key(include_str!("keys/issuer-p256.pem"))?;
        let (foreign_ec, _) = ec_key(include_str!("keys/foreign-p256.pem"))?;
        let mut enc_only = serde_json::to_value(foreign_signing.public_jwk())?;
        enc_only["kid"] = json!(ENC_ONLY_KID);
        enc_only["use"] = json!("enc");
        if let Some(jwk) = enc_only.as_object_mut() {
            jwk.remove("alg");
        }
        let jwks = json!({"keys": [
            serde_json::to_value(issuer_signing.public_jwk())?,
            issuer_ec_jwk.clone(),
            enc_only,
        ]});
        Ok(Self {
            issuer_rsa,
            issuer_rsa_kid: issuer_signing.kid().to_owned(),
            issuer_ec,
            issuer_ec_kid: issuer_ec_jwk["kid"].as_str().unwrap_or_default().to_owned(),
            foreign_rsa,
            foreign_rsa_kid: foreign_signing.kid().to_owned(),
            foreign_ec,
            jwks,
        })
    }
}

/// How the signing input `header.claims` is signed.
enum Signer<'a> {
    Ps256(&'a RsaKeyPair),
    Rs256(&'a RsaKeyPair),
    Es256(&'a EcdsaKeyPair),
    /// HMAC-SHA256 with these bytes as the secret.
    Hs256(&'a [u8]),
    /// These exact signature bytes (empty for `alg: none`).
    Fixed(Vec<u8>),
}

fn sign(header: &Value, claims: &Value, signer: Signer<'_>) -> Result<String, Error> {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(header)?),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
    );
    let rng = SystemRandom::new();
    let signature = match signer {
        Signer::Ps256(key) | Signer::Rs256(key) => {
            let padding: &dyn signature::RsaEncoding = if matches!(signer, Signer::Ps256(_)) {
                &signature::RSA_PSS_SHA256
            } else {
                &signature::RSA_PKCS1_SHA256
            };
            let mut out = vec![0; key.public().modulus_len()];
            key.sign(padding, &rng, input.as_bytes(), &mut out)
                .map_err(|e| format!("RSA signing: {e}"))?;
            out
        }
        Signer::Es256(key) => key
            .sign(&rng, input.as_bytes())
            .map_err(|e| format!("ECDSA signing: {e}"))?
            .as_ref()
            .to_vec(),
        Signer::Hs256(secret) => ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret),
            input.as_bytes(),
        )
        .as_ref()
        .to_vec(),
        Signer::Fixed(bytes) => bytes,
    };
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

fn header(alg: &str, kid: &str) -> Value {
    json!({"alg": alg, "typ": "at+jwt", "kid": kid})
}

/// A distinct, readable order id per case.
fn order_id(n: u32) -> String {
    format!("0d0e0f10-2026-4000-8000-{n:012}")
}

fn order(id: &str) -> OrderCreated {
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

fn item(sku: &str, quantity: u32, unit_price_minor: i64) -> OrderItem {
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

fn envelope(event_type: &str, payload: &[u8], token: &str) -> Vec<u8> {
    EventEnvelope {
        event_type: event_type.to_owned(),
        payload: payload.to_vec(),
        access_token: token.to_owned(),
    }
    .encode_to_vec()
}

#[derive(Serialize)]
struct CaseFile {
    description: &'static str,
    reasons: Vec<&'static str>,
    cases: Vec<Case>,
}

#[derive(Serialize)]
struct Settings {
    issuer: &'static str,
    audience: &'static str,
    trusted_producers: Vec<&'static str>,
    allowed_algs: Vec<&'static str>,
    now: i64,
    leeway_seconds: i64,
    max_record_bytes: usize,
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
struct Case {
    name: String,
    description: &'static str,
    /// `accepted`, or the reason name Payments dead-letters the record with.
    expect: &'static str,
    record: Record,
    jwks: Value,
    settings: Settings,
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

struct Builder<'a> {
    keys: &'a Keys,
    cases: Vec<Case>,
    next_id: u32,
}

impl Builder<'_> {
    fn next_order_id(&mut self) -> String {
        self.next_id += 1;
        order_id(self.next_id)
    }

    fn push(
        &mut self,
        name: &str,
        description: &'static str,
        expect: &'static str,
        key: Option<&str>,
        value: Vec<u8>,
    ) {
        self.push_with(name, description, expect, key, value, Settings::default());
    }

    fn push_with(
        &mut self,
        name: &str,
        description: &'static str,
        expect: &'static str,
        key: Option<&str>,
        value: Vec<u8>,
        settings: Settings,
    ) {
        self.cases.push(Case {
            name: name.to_owned(),
            description,
            expect,
            record: Record {
                key: key.map(str::to_owned),
                value_b64: STANDARD.encode(&value),
            },
            jwks: self.keys.jwks.clone(),
            settings,
            envelope: view(&value),
        });
    }

    /// A record of a fresh order whose event token is built by `token(claims, payload)`:
    /// the claims are those of a valid exchanged token for this payload.
    fn token_case(
        &mut self,
        name: &str,
        description: &'static str,
        expect: &'static str,
        token: impl FnOnce(&Keys, Value) -> Result<String, Error>,
    ) -> Result<(), Error> {
        let id = self.next_order_id();
        let payload = order(&id).encode_to_vec();
        let claims = event_claims(name, &id, &payload)?;
        let token = token(self.keys, claims)?;
        let value = envelope(ORDER_CREATED_TYPE, &payload, &token);
        self.push(name, description, expect, Some(id.as_str()), value);
        Ok(())
    }

    /// A PS256 token by the issuer's key over claims changed by `change`.
    fn claims_case(
        &mut self,
        name: &str,
        description: &'static str,
        expect: &'static str,
        change: impl FnOnce(&mut Value),
    ) -> Result<(), Error> {
        self.token_case(name, description, expect, |keys, mut claims| {
            change(&mut claims);
            sign(
                &header("PS256", &keys.issuer_rsa_kid),
                &claims,
                Signer::Ps256(&keys.issuer_rsa),
            )
        })
    }

    /// A validly signed PS256 event token over `event` as given (which may be inconsistent).
    fn payload_case(
        &mut self,
        name: &str,
        description: &'static str,
        expect: &'static str,
        key: Option<&str>,
        payload: &[u8],
        claimed_id: &str,
    ) -> Result<(), Error> {
        let claims = event_claims(name, claimed_id, payload)?;
        let token = sign(
            &header("PS256", &self.keys.issuer_rsa_kid),
            &claims,
            Signer::Ps256(&self.keys.issuer_rsa),
        )?;
        let value = envelope(ORDER_CREATED_TYPE, payload, &token);
        self.push(name, description, expect, key, value);
        Ok(())
    }

    /// A fresh order changed by `change`, whose key and validly signed token both name it.
    fn event_case(
        &mut self,
        name: &str,
        description: &'static str,
        expect: &'static str,
        change: impl FnOnce(&mut OrderCreated),
    ) -> Result<(), Error> {
        let id = self.next_order_id();
        let mut event = order(&id);
        change(&mut event);
        self.payload_case(
            name,
            description,
            expect,
            Some(id.as_str()),
            &event.encode_to_vec(),
            &id,
        )
    }
}

fn cases(keys: &Keys) -> Result<Vec<Case>, Error> {
    let mut b = Builder {
        keys,
        cases: Vec::new(),
        next_id: 0,
    };
    let ps256 = |keys: &Keys, claims: Value| {
        sign(
            &header("PS256", &keys.issuer_rsa_kid),
            &claims,
            Signer::Ps256(&keys.issuer_rsa),
        )
    };
    let es256 = |keys: &Keys, claims: Value| {
        sign(
            &header("ES256", &keys.issuer_ec_kid),
            &claims,
            Signer::Es256(&keys.issuer_ec),
        )
    };

    // --- Accepted ---
    b.token_case(
        "valid_ps256",
        "An event token as Identity issues it today: PS256 by the issuer's RSA key.",
        "accepted",
        ps256,
    )?;
    b.token_case(
        "valid_es256",
        "The same event token signed ES256 by the issuer's P-256 key (JOSE r||s signature).",
        "accepted",
        es256,
    )?;
    b.token_case(
        "typ_full_media_type_any_case",
        "typ `application/AT+JWT`: media types compare case-insensitively and the `application/` prefix may be present (RFC 9068 §4, RFC 7515 §4.1.9).",
        "accepted",
        |keys, claims| {
            let mut h = header("PS256", &keys.issuer_rsa_kid);
            h["typ"] = json!("application/AT+JWT");
            sign(&h, &claims, Signer::Ps256(&keys.issuer_rsa))
        },
    )?;

    // --- The envelope ---
    b.push(
        "garbage_envelope",
        "The value is not a protobuf message at all (an unterminated varint tag).",
        "malformed_envelope",
        Some(order_id(900).as_str()),
        vec![0xff; 16],
    );
    b.push(
        "empty_value",
        "An empty value (a tombstone): refused before decoding, although it would decode as an empty envelope.",
        "malformed_envelope",
        Some(order_id(901).as_str()),
        Vec::new(),
    );
    {
        let id = b.next_order_id();
        let payload = order(&id).encode_to_vec();
        let token = ps256(keys, event_claims("unexpected_event_type", &id, &payload)?)?;
        b.push(
            "unexpected_event_type",
            "A valid event under another event_type: refused before the token is looked at.",
            "unexpected_event_type",
            Some(id.as_str()),
            envelope("events.v1.OrderCancelled", &payload, &token),
        );
        b.push_with(
            "oversized_record",
            "A valid record over a 512-byte max_record_bytes (key + value counted).",
            "oversized_record",
            Some(id.as_str()),
            envelope(ORDER_CREATED_TYPE, &payload, &token),
            Settings {
                max_record_bytes: 512,
                ..Settings::default()
            },
        );
    }

    // --- The token's header and signature ---
    b.token_case(
        "alg_none",
        "`alg: none` with an empty signature under the issuer's kid.",
        "disallowed_algorithm",
        |keys, claims| {
            sign(
                &header("none", &keys.issuer_rsa_kid),
                &claims,
                Signer::Fixed(Vec::new()),
            )
        },
    )?;
    b.token_case(
        "hs256_keyed_with_public_key",
        "HS256 whose HMAC secret is the issuer's public JWK (the key-confusion attack): refused before any key lookup.",
        "disallowed_algorithm",
        |keys, claims| {
            let secret = serde_json::to_vec(&keys.jwks["keys"][0])?;
            sign(&header("HS256", &keys.issuer_rsa_kid), &claims, Signer::Hs256(&secret))
        },
    )?;
    b.token_case(
        "rs256_signed_by_issuer_key",
        "RS256 (PKCS#1 v1.5), correctly signed by the issuer's own RSA key: the algorithm is not on the allow-list, whoever signed.",
        "disallowed_algorithm",
        |keys, claims| {
            sign(&header("RS256", &keys.issuer_rsa_kid), &claims, Signer::Rs256(&keys.issuer_rsa))
        },
    )?;
    b.token_case(
        "alg_lowercase_ps256",
        "`alg: ps256`: algorithm names are case-sensitive (RFC 7515 §4.1.1).",
        "disallowed_algorithm",
        |keys, claims| {
            sign(
                &header("ps256", &keys.issuer_rsa_kid),
                &claims,
                Signer::Ps256(&keys.issuer_rsa),
            )
        },
    )?;
    b.token_case(
        "crit_header",
        "A correctly signed token with a `crit` header: no extension is understood, so it is refused.",
        "malformed_token",
        |keys, claims| {
            let mut h = header("PS256", &keys.issuer_rsa_kid);
            h["crit"] = json!(["exp"]);
            sign(&h, &claims, Signer::Ps256(&keys.issuer_rsa))
        },
    )?;
    b.token_case(
        "token_not_a_jws",
        "The access_token is not three dot-separated parts.",
        "malformed_token",
        |_, _| Ok("not-a-token".to_owned()),
    )?;
    b.token_case(
        "wrong_typ_jwt",
        "typ `JWT` (an ID token or any other JWT is not an access token).",
        "wrong_token_type",
        |keys, claims| {
            let mut h = header("PS256", &keys.issuer_rsa_kid);
            h["typ"] = json!("JWT");
            sign(&h, &claims, Signer::Ps256(&keys.issuer_rsa))
        },
    )?;
    b.token_case(
        "missing_typ",
        "No typ header.",
        "wrong_token_type",
        |keys, claims| {
            let h = json!({"alg": "PS256", "kid": keys.issuer_rsa_kid});
            sign(&h, &claims, Signer::Ps256(&keys.issuer_rsa))
        },
    )?;
    b.token_case(
        "missing_kid",
        "No kid header: the key cannot be selected.",
        "missing_kid",
        |keys, claims| {
            let h = json!({"alg": "PS256", "typ": "at+jwt"});
            sign(&h, &claims, Signer::Ps256(&keys.issuer_rsa))
        },
    )?;
    b.token_case(
        "unknown_kid",
        "Signed by a foreign RSA key under its own kid, which the JWKS does not hold.",
        "unknown_key",
        |keys, claims| {
            sign(
                &header("PS256", &keys.foreign_rsa_kid),
                &claims,
                Signer::Ps256(&keys.foreign_rsa),
            )
        },
    )?;
    b.token_case(
        "kid_of_encryption_only_key",
        "Signed by the key the JWKS publishes with `use: enc`, under that key's kid: a key for encryption is never used to verify signatures.",
        "unknown_key",
        |keys, claims| {
            sign(&header("PS256", ENC_ONLY_KID), &claims, Signer::Ps256(&keys.foreign_rsa))
        },
    )?;
    b.token_case(
        "foreign_key_under_known_kid_ps256",
        "Signed PS256 by a foreign RSA key, with the issuer's RSA kid spliced in.",
        "bad_signature",
        |keys, claims| {
            sign(
                &header("PS256", &keys.issuer_rsa_kid),
                &claims,
                Signer::Ps256(&keys.foreign_rsa),
            )
        },
    )?;
    b.token_case(
        "foreign_key_under_known_kid_es256",
        "Signed ES256 by a foreign P-256 key, with the issuer's EC kid spliced in.",
        "bad_signature",
        |keys, claims| {
            sign(
                &header("ES256", &keys.issuer_ec_kid),
                &claims,
                Signer::Es256(&keys.foreign_ec),
            )
        },
    )?;
    b.token_case(
        "es256_header_with_rsa_kid",
        "`alg: ES256` naming the issuer's RSA key: each key verifies only its own algorithm.",
        "bad_signature",
        |keys, claims| {
            sign(
                &header("ES256", &keys.issuer_rsa_kid),
                &claims,
                Signer::Es256(&keys.issuer_ec),
            )
        },
    )?;
    b.token_case(
        "ps256_header_with_ec_kid",
        "`alg: PS256` naming the issuer's P-256 key: each key verifies only its own algorithm.",
        "bad_signature",
        |keys, claims| {
            sign(
                &header("PS256", &keys.issuer_ec_kid),
                &claims,
                Signer::Ps256(&keys.issuer_rsa),
            )
        },
    )?;
    b.token_case(
        "es256_zero_signature",
        "ES256 with r = s = 0 (the 'psychic signature', CVE-2022-21449 in Java 15-18.0.1).",
        "bad_signature",
        |keys, claims| {
            sign(
                &header("ES256", &keys.issuer_ec_kid),
                &claims,
                Signer::Fixed(vec![0; 64]),
            )
        },
    )?;
    b.token_case(
        "es256_der_signature",
        "A valid ECDSA signature by the issuer's P-256 key, but DER-encoded instead of the JOSE r||s form (RFC 7518 §3.4).",
        "bad_signature",
        |keys, claims| {
            let signed = sign(&header("ES256", &keys.issuer_ec_kid), &claims, Signer::Es256(&keys.issuer_ec))?;
            let (input, raw) = signed.rsplit_once('.').ok_or("no signature part")?;
            let raw = URL_SAFE_NO_PAD.decode(raw)?;
            Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(der_signature(&raw[..32], &raw[32..]))))
        },
    )?;
    b.token_case(
        "tampered_claims",
        "A valid PS256 token whose claims were edited after signing (sub changed).",
        "bad_signature",
        |keys, claims| {
            let signed = ps256(keys, claims.clone())?;
            let mut parts: Vec<String> = signed.split('.').map(str::to_owned).collect();
            let mut changed = claims;
            changed["sub"] = json!("mallory");
            parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&changed)?);
            Ok(parts.join("."))
        },
    )?;

    // --- The token's claims ---
    b.claims_case(
        "wrong_issuer",
        "iss with a trailing slash: the issuer is compared exactly.",
        "wrong_issuer",
        |c| {
            c["iss"] = json!(format!("{ISSUER}/"));
        },
    )?;
    b.claims_case(
        "expired",
        "exp an hour before now (beyond any leeway).",
        "token_expired",
        |c| {
            c["iat"] = json!(NOW - 7200);
            c["nbf"] = json!(NOW - 7200);
            c["exp"] = json!(NOW - 3600);
        },
    )?;
    b.claims_case(
        "not_yet_valid",
        "nbf in 2096.",
        "token_not_yet_valid",
        |c| {
            c["nbf"] = json!(NOT_BEFORE_FAR);
        },
    )?;
    b.claims_case(
        "wrong_audience",
        "aud names the Orders API, not Payments.",
        "wrong_audience",
        |c| {
            c["aud"] = json!("orders-service");
        },
    )?;
    b.claims_case(
        "user_token_without_trigger_payments",
        "A user token (scope `orders payments`, aud both APIs, no act) bound to this payload: it lacks `trigger_payments`.",
        "insufficient_scope",
        |c| {
            c["scope"] = json!("orders payments");
            c["aud"] = json!(["orders-service", AUDIENCE]);
            c["client_id"] = json!("demo-cli");
            if let Some(claims) = c.as_object_mut() {
                claims.remove("act");
            }
        },
    )?;
    b.claims_case(
        "scope_lookalike",
        "scope `trigger_payments_admin`: scopes are whole space-separated words, not substrings.",
        "insufficient_scope",
        |c| c["scope"] = json!("trigger_payments_admin"),
    )?;
    b.claims_case(
        "untrusted_producer",
        "A valid event token exchanged by another client (act.sub `reporting-service`).",
        "untrusted_producer",
        |c| {
            c["act"] = json!({"sub": "reporting-service"});
            c["client_id"] = json!("reporting-service");
        },
    )?;
    b.claims_case(
        "event_token_without_act",
        "trigger_payments scope but no act claim: no producer to trust.",
        "untrusted_producer",
        |c| {
            if let Some(claims) = c.as_object_mut() {
                claims.remove("act");
            }
        },
    )?;

    // --- The binding between token, payload and record ---
    {
        let id = b.next_order_id();
        let payload = order(&id).encode_to_vec();
        let token = ps256(keys, event_claims("tampered_payload_byte", &id, &payload)?)?;
        let mut tampered = payload.clone();
        // The last byte is the low byte of total_minor's varint: the amount changes.
        let last = tampered.len() - 1;
        tampered[last] ^= 0x01;
        b.push(
            "tampered_payload_byte",
            "One payload byte changed after the token was issued (the last byte of the total_minor varint: 4248 becomes 4120).",
            "payload_hash_mismatch",
            Some(id.as_str()),
            envelope(ORDER_CREATED_TYPE, &tampered, &token),
        );
    }
    {
        let id_a = b.next_order_id();
        let id_b = b.next_order_id();
        let payload_a = order(&id_a).encode_to_vec();
        let payload_b = order(&id_b).encode_to_vec();
        let token_b = ps256(
            keys,
            event_claims("token_from_another_event", &id_b, &payload_b)?,
        )?;
        b.push(
            "token_from_another_event",
            "Event A's payload and key carrying the (valid) token issued for event B.",
            "payload_hash_mismatch",
            Some(id_a.as_str()),
            envelope(ORDER_CREATED_TYPE, &payload_a, &token_b),
        );
    }
    b.payload_case(
        "payload_not_order_created",
        "The token's hash matches, but the payload bytes are not an OrderCreated (a truncated length-delimited field): hashed before decoding, then refused.",
        "malformed_payload",
        Some(order_id(902).as_str()),
        &[0x0a, 0x24, 0x61, 0x62],
        &order_id(902),
    )?;
    {
        let event = order("order-42");
        b.payload_case(
            "order_id_not_a_uuid",
            "Consistent key, claim and payload, but the order id is not a UUID.",
            "malformed_payload",
            Some("order-42"),
            &event.encode_to_vec(),
            "order-42",
        )?;
    }
    {
        let id = b.next_order_id();
        let other = b.next_order_id();
        b.payload_case(
            "claim_order_id_differs_from_payload",
            "The token is bound to these payload bytes but its order_transaction_id claim names another order.",
            "transaction_mismatch",
            Some(id.as_str()),
            &order(&id).encode_to_vec(),
            &other,
        )?;
    }
    {
        let id = b.next_order_id();
        let other = b.next_order_id();
        b.payload_case(
            "record_key_differs_from_order_id",
            "Payload and token agree, but the record key names another order (the partitioning key was forged).",
            "transaction_mismatch",
            Some(other.as_str()),
            &order(&id).encode_to_vec(),
            &id,
        )?;
    }
    {
        let id = b.next_order_id();
        b.payload_case(
            "missing_record_key",
            "Payload and token agree, but the record has no key.",
            "transaction_mismatch",
            None,
            &order(&id).encode_to_vec(),
            &id,
        )?;
    }
    b.event_case(
        "payload_user_differs_from_sub",
        "The payload's user_id (demouser2) is not the token's sub (demouser).",
        "subject_mismatch",
        |event| {
            event.user_id = "demouser2".into();
        },
    )?;
    b.event_case(
        "items_do_not_add_up",
        "total_minor 1 while the items add up to 4248.",
        "amount_mismatch",
        |event| {
            event.total_minor = 1;
        },
    )?;
    b.event_case(
        "items_overflow_int64_wrapping_to_total",
        "4 x 2^62 + 100 overflows int64; wrapping arithmetic would give exactly total_minor 100. Sums are overflow-checked.",
        "amount_mismatch",
        |event| {
            event.items = vec![item("BIG", 4, 1 << 62), item("PEN-BLUE", 1, 100)];
            event.total_minor = 100;
        },
    )?;
    b.event_case(
        "negative_unit_price",
        "Items -200 + 300 = total_minor 100: a negative unit price is never accepted.",
        "amount_mismatch",
        |event| {
            event.items = vec![item("REFUND", 1, -200), item("PEN-BLUE", 1, 300)];
            event.total_minor = 100;
        },
    )?;
    b.event_case(
        "no_items_zero_total",
        "No items and total_minor 0: nothing to pay is not a payment.",
        "amount_mismatch",
        |event| {
            event.items.clear();
            event.total_minor = 0;
        },
    )?;
    Ok(b.cases)
}

/// DER `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` of a raw r||s signature.
fn der_signature(r: &[u8], s: &[u8]) -> Vec<u8> {
    fn integer(bytes: &[u8]) -> Vec<u8> {
        let start = bytes
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(bytes.len() - 1);
        let mut value = bytes[start..].to_vec();
        if value[0] & 0x80 != 0 {
            value.insert(0, 0);
        }
        let mut out = vec![0x02, u8::try_from(value.len()).unwrap_or(0)];
        out.extend(value);
        out
    }
    let mut body = integer(r);
    body.extend(integer(s));
    let mut out = vec![0x30, u8::try_from(body.len()).unwrap_or(0)];
    out.extend(body);
    out
}

fn main() -> Result<(), Error> {
    let keys = Keys::load()?;
    let file = CaseFile {
        description: "Adversarial Kafka records for OrderCreated event verification, one shared \
                      file for the Rust, Python, Go, Java and TypeScript verifiers. Each case: \
                      the record (UTF-8 key or null, value as standard base64), the JWKS and \
                      verifier settings to check it with (issuer, audience, trusted producers, \
                      allowed algs, the clock `now` in Unix seconds, leeway, max record bytes), \
                      and `expect`: `accepted` or the reason name Payments dead-letters it with. \
                      Every outcome holds for any clock from `now` until 2096. `envelope` is a \
                      decoded view for reviewers; verifiers read `record` only. Generated by \
                      shared/event/examples/gen_adversarial with fixed test keys; regenerated \
                      files differ only in signature bytes.",
        reasons: vec![
            "oversized_record",
            "malformed_envelope",
            "unexpected_event_type",
            "malformed_token",
            "disallowed_algorithm",
            "wrong_token_type",
            "missing_kid",
            "unknown_key",
            "bad_signature",
            "wrong_issuer",
            "wrong_audience",
            "token_expired",
            "token_not_yet_valid",
            "insufficient_scope",
            "untrusted_producer",
            "payload_hash_mismatch",
            "malformed_payload",
            "transaction_mismatch",
            "subject_mismatch",
            "amount_mismatch",
        ],
        cases: cases(&keys)?,
    };
    println!("{}", serde_json::to_string_pretty(&file)?);
    Ok(())
}
