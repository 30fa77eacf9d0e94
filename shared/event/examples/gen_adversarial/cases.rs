//! The cases, in the order of the file: each a name, what it tries, the outcome Payments
//! gives, and how its record differs from a valid one. Order ids are handed out in this
//! order: a case inserted before others renumbers their ids, so new cases go last.

use prost::Message;
use serde_json::json;
use zte_proto::events::v1::ORDER_CREATED_TYPE;

use crate::{
    AUDIENCE, Error, ISSUER, NOT_BEFORE_FAR, NOW,
    builder::{Builder, Case, Names, Token, envelope, item, order, order_id},
    jws::{ENC_ONLY_KID, Jws, Keys, Signer},
};

pub(crate) fn cases(keys: &Keys) -> Result<Vec<Case>, Error> {
    let mut b = Builder::new(keys);
    accepted(&mut b)?;
    the_envelope(&mut b)?;
    header_and_signature(&mut b, keys)?;
    claims(&mut b)?;
    binding(&mut b)?;
    Ok(b.cases)
}

fn accepted(b: &mut Builder<'_>) -> Result<(), Error> {
    let k = b.keys;
    b.case(
        "valid_ps256",
        "An event token as Identity issues it today: PS256 by the issuer's RSA key.",
        "accepted",
    )
    .token(k.ps256())?;
    b.case(
        "valid_es256",
        "The same event token signed ES256 by the issuer's P-256 key (JOSE r||s signature).",
        "accepted",
    )
    .token(k.es256())?;
    b.case(
        "typ_full_media_type_any_case",
        "typ `application/AT+JWT`: media types compare case-insensitively and the `application/` prefix may be present (RFC 9068 §4, RFC 7515 §4.1.9).",
        "accepted",
    )
    .token(k.ps256().with("typ", json!("application/AT+JWT")))
}

fn the_envelope(b: &mut Builder<'_>) -> Result<(), Error> {
    b.case(
        "garbage_envelope",
        "The value is not a protobuf message at all (an unterminated varint tag).",
        "malformed_envelope",
    )
    .record(Some(order_id(900).as_str()), vec![0xff; 16]);
    b.case(
        "empty_value",
        "An empty value (a tombstone): refused before decoding, although it would decode as an empty envelope.",
        "malformed_envelope",
    )
    .record(Some(order_id(901).as_str()), Vec::new());
    let valid = b.valid("unexpected_event_type")?;
    b.case(
        "unexpected_event_type",
        "A valid event under another event_type: refused before the token is looked at.",
        "unexpected_event_type",
    )
    .record(
        Some(valid.id.as_str()),
        envelope("events.v1.OrderCancelled", &valid.payload, &valid.token),
    );
    b.case(
        "oversized_record",
        "A valid record over a 512-byte max_record_bytes (key + value counted).",
        "oversized_record",
    )
    .record(Some(valid.id.as_str()), valid.value())
    .settings
    .max_record_bytes = 512;
    Ok(())
}

fn header_and_signature(b: &mut Builder<'_>, k: &Keys) -> Result<(), Error> {
    b.case(
        "alg_none",
        "`alg: none` with an empty signature under the issuer's kid.",
        "disallowed_algorithm",
    )
    .token(Jws::new(
        "none",
        &k.issuer_rsa_kid,
        Signer::Fixed(Vec::new()),
    ))?;
    let public_jwk = serde_json::to_vec(&k.jwks["keys"][0])?;
    b.case(
        "hs256_keyed_with_public_key",
        "HS256 whose HMAC secret is the issuer's public JWK (the key-confusion attack): refused before any key lookup.",
        "disallowed_algorithm",
    )
    .token(Jws::new("HS256", &k.issuer_rsa_kid, Signer::Hs256(&public_jwk)))?;
    b.case(
        "rs256_signed_by_issuer_key",
        "RS256 (PKCS#1 v1.5), correctly signed by the issuer's own RSA key: the algorithm is not on the allow-list, whoever signed.",
        "disallowed_algorithm",
    )
    .token(Jws::new("RS256", &k.issuer_rsa_kid, Signer::Rs256(&k.issuer_rsa)))?;
    b.case(
        "alg_lowercase_ps256",
        "`alg: ps256`: algorithm names are case-sensitive (RFC 7515 §4.1.1).",
        "disallowed_algorithm",
    )
    .token(k.ps256().with("alg", json!("ps256")))?;
    b.case(
        "crit_header",
        "A correctly signed token with a `crit` header: no extension is understood, so it is refused.",
        "malformed_token",
    )
    .token(k.ps256().with("crit", json!(["exp"])))?;
    b.case(
        "token_not_a_jws",
        "The access_token is not three dot-separated parts.",
        "malformed_token",
    )
    .token(Token::Literal("not-a-token"))?;
    b.case(
        "wrong_typ_jwt",
        "typ `JWT` (an ID token or any other JWT is not an access token).",
        "wrong_token_type",
    )
    .token(k.ps256().with("typ", json!("JWT")))?;
    b.case("missing_typ", "No typ header.", "wrong_token_type")
        .token(k.ps256().without("typ"))?;
    b.case(
        "missing_kid",
        "No kid header: the key cannot be selected.",
        "missing_kid",
    )
    .token(k.ps256().without("kid"))?;
    b.case(
        "unknown_kid",
        "Signed by a foreign RSA key under its own kid, which the JWKS does not hold.",
        "unknown_key",
    )
    .token(Jws::new(
        "PS256",
        &k.foreign_rsa_kid,
        Signer::Ps256(&k.foreign_rsa),
    ))?;
    b.case(
        "kid_of_encryption_only_key",
        "Signed by the key the JWKS publishes with `use: enc`, under that key's kid: a key for encryption is never used to verify signatures.",
        "unknown_key",
    )
    .token(Jws::new("PS256", ENC_ONLY_KID, Signer::Ps256(&k.foreign_rsa)))?;
    b.case(
        "foreign_key_under_known_kid_ps256",
        "Signed PS256 by a foreign RSA key, with the issuer's RSA kid spliced in.",
        "bad_signature",
    )
    .token(k.ps256().signed_by(Signer::Ps256(&k.foreign_rsa)))?;
    b.case(
        "foreign_key_under_known_kid_es256",
        "Signed ES256 by a foreign P-256 key, with the issuer's EC kid spliced in.",
        "bad_signature",
    )
    .token(k.es256().signed_by(Signer::Es256(&k.foreign_ec)))?;
    b.case(
        "es256_header_with_rsa_kid",
        "`alg: ES256` naming the issuer's RSA key: each key verifies only its own algorithm.",
        "bad_signature",
    )
    .token(k.es256().with("kid", json!(k.issuer_rsa_kid)))?;
    b.case(
        "ps256_header_with_ec_kid",
        "`alg: PS256` naming the issuer's P-256 key: each key verifies only its own algorithm.",
        "bad_signature",
    )
    .token(k.ps256().with("kid", json!(k.issuer_ec_kid)))?;
    b.case(
        "es256_zero_signature",
        "ES256 with r = s = 0 (the 'psychic signature', CVE-2022-21449 in Java 15-18.0.1).",
        "bad_signature",
    )
    .token(k.es256().signed_by(Signer::Fixed(vec![0; 64])))?;
    b.case(
        "es256_der_signature",
        "A valid ECDSA signature by the issuer's P-256 key, but DER-encoded instead of the JOSE r||s form (RFC 7518 §3.4).",
        "bad_signature",
    )
    .token(k.es256().signed_by(Signer::Es256Der(&k.issuer_ec)))?;
    b.case(
        "tampered_claims",
        "A valid PS256 token whose claims were edited after signing (sub changed).",
        "bad_signature",
    )
    .token(Token::EditedAfterSigning(k.ps256(), |c| {
        c["sub"] = json!("mallory")
    }))
}

fn claims(b: &mut Builder<'_>) -> Result<(), Error> {
    b.case(
        "wrong_issuer",
        "iss with a trailing slash: the issuer is compared exactly.",
        "wrong_issuer",
    )
    .claims(|c| c["iss"] = json!(format!("{ISSUER}/")))?;
    b.case(
        "expired",
        "exp an hour before now (beyond any leeway).",
        "token_expired",
    )
    .claims(|c| {
        c["iat"] = json!(NOW - 7200);
        c["nbf"] = json!(NOW - 7200);
        c["exp"] = json!(NOW - 3600);
    })?;
    b.case("not_yet_valid", "nbf in 2096.", "token_not_yet_valid")
        .claims(|c| c["nbf"] = json!(NOT_BEFORE_FAR))?;
    b.case(
        "wrong_audience",
        "aud names the Orders API, not Payments.",
        "wrong_audience",
    )
    .claims(|c| c["aud"] = json!("orders-service"))?;
    b.case(
        "user_token_without_trigger_payments",
        "A user token (scope `orders payments`, aud both APIs, no act) bound to this payload: it lacks `trigger_payments`.",
        "insufficient_scope",
    )
    .claims(|c| {
        c["scope"] = json!("orders payments");
        c["aud"] = json!(["orders-service", AUDIENCE]);
        c["client_id"] = json!("demo-cli");
        if let Some(claims) = c.as_object_mut() {
            claims.remove("act");
        }
    })?;
    b.case(
        "scope_lookalike",
        "scope `trigger_payments_admin`: scopes are whole space-separated words, not substrings.",
        "insufficient_scope",
    )
    .claims(|c| c["scope"] = json!("trigger_payments_admin"))?;
    b.case(
        "untrusted_producer",
        "A valid event token exchanged by another client (act.sub `reporting-service`).",
        "untrusted_producer",
    )
    .claims(|c| {
        c["act"] = json!({"sub": "reporting-service"});
        c["client_id"] = json!("reporting-service");
    })?;
    b.case(
        "event_token_without_act",
        "trigger_payments scope but no act claim: no producer to trust.",
        "untrusted_producer",
    )
    .claims(|c| {
        if let Some(claims) = c.as_object_mut() {
            claims.remove("act");
        }
    })
}

/// The binding between token, payload and record.
fn binding(b: &mut Builder<'_>) -> Result<(), Error> {
    let mut tampered = b.valid("tampered_payload_byte")?;
    // The last byte is the low byte of total_minor's varint: the amount changes.
    if let Some(last) = tampered.payload.last_mut() {
        *last ^= 0x01;
    }
    b.case(
        "tampered_payload_byte",
        "One payload byte changed after the token was issued (the last byte of the total_minor varint: 4248 becomes 4120).",
        "payload_hash_mismatch",
    )
    .record(Some(tampered.id.as_str()), tampered.value());
    let id_a = b.next_order_id();
    let event_b = b.valid("token_from_another_event")?;
    b.case(
        "token_from_another_event",
        "Event A's payload and key carrying the (valid) token issued for event B.",
        "payload_hash_mismatch",
    )
    .record(
        Some(id_a.as_str()),
        envelope(
            ORDER_CREATED_TYPE,
            &order(&id_a).encode_to_vec(),
            &event_b.token,
        ),
    );
    b.case(
        "payload_not_order_created",
        "The token's hash matches, but the payload bytes are not an OrderCreated (a truncated length-delimited field): hashed before decoding, then refused.",
        "malformed_payload",
    )
    .payload(Some(order_id(902).as_str()), &[0x0a, 0x24, 0x61, 0x62], &order_id(902))?;
    b.case(
        "order_id_not_a_uuid",
        "Consistent key, claim and payload, but the order id is not a UUID.",
        "malformed_payload",
    )
    .payload(
        Some("order-42"),
        &order("order-42").encode_to_vec(),
        "order-42",
    )?;
    b.case(
        "claim_order_id_differs_from_payload",
        "The token is bound to these payload bytes but its order_transaction_id claim names another order.",
        "transaction_mismatch",
    )
    .binding(Names::ThisOrder, Names::AnotherOrder)?;
    b.case(
        "record_key_differs_from_order_id",
        "Payload and token agree, but the record key names another order (the partitioning key was forged).",
        "transaction_mismatch",
    )
    .binding(Names::AnotherOrder, Names::ThisOrder)?;
    b.case(
        "missing_record_key",
        "Payload and token agree, but the record has no key.",
        "transaction_mismatch",
    )
    .binding(Names::Nothing, Names::ThisOrder)?;
    b.case(
        "payload_user_differs_from_sub",
        "The payload's user_id (demouser2) is not the token's sub (demouser).",
        "subject_mismatch",
    )
    .event(|event| event.user_id = "demouser2".into())?;
    b.case(
        "items_do_not_add_up",
        "total_minor 1 while the items add up to 4248.",
        "amount_mismatch",
    )
    .event(|event| event.total_minor = 1)?;
    b.case(
        "items_overflow_int64_wrapping_to_total",
        "4 x 2^62 + 100 overflows int64; wrapping arithmetic would give exactly total_minor 100. Sums are overflow-checked.",
        "amount_mismatch",
    )
    .event(|event| {
        event.items = vec![item("BIG", 4, 1 << 62), item("PEN-BLUE", 1, 100)];
        event.total_minor = 100;
    })?;
    b.case(
        "negative_unit_price",
        "Items -200 + 300 = total_minor 100: a negative unit price is never accepted.",
        "amount_mismatch",
    )
    .event(|event| {
        event.items = vec![item("REFUND", 1, -200), item("PEN-BLUE", 1, 300)];
        event.total_minor = 100;
    })?;
    b.case(
        "no_items_zero_total",
        "No items and total_minor 0: nothing to pay is not a payment.",
        "amount_mismatch",
    )
    .event(|event| {
        event.items.clear();
        event.total_minor = 0;
    })
}
