//! Tokens made the way an attacker makes them, and tokens read without verifying them.
//!
//! Every forger takes the claims as any serializable value (access tokens and client
//! assertions alike) and the `typ` to put in the header (`at+jwt` for access tokens, `JWT`
//! for client assertions). The "victim" is the key whose `kid` (and, for HS256, public JWK)
//! the forgery abuses.

use std::path::Path;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Serialize, de::DeserializeOwned};
use zte_auth::{AccessTokenClaims, SigningKey, jws};

/// What [`jws::sign`] can sign: access-token claims and client-assertion claims.
pub trait Signable: Serialize + DeserializeOwned + biscuit::CompactJson + Clone {}

impl<T: Serialize + DeserializeOwned + biscuit::CompactJson + Clone> Signable for T {}

/// `typ` of an access token (RFC 9068).
pub const AT_JWT: &str = jws::TYP_ACCESS_TOKEN;

/// Signs `claims` with `key` (its own algorithm) under `typ`: a genuine signature, whatever the
/// claims say.
pub fn sign(key: &SigningKey, typ: &str, claims: &impl Signable) -> String {
    jws::sign(key, typ, claims).expect("signing test claims")
}

/// A compact JWS with a raw header and signature.
pub fn raw_jws(header_json: &str, claims: &impl Serialize, signature: &[u8]) -> String {
    format!(
        "{}.{}",
        signing_input(header_json, claims),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

fn signing_input(header_json: &str, claims: &impl Serialize) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header_json),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"))
    )
}

fn header(alg: &str, typ: &str, kid: &str) -> String {
    format!(r#"{{"alg":"{alg}","typ":"{typ}","kid":"{kid}"}}"#)
}

/// An unsigned `alg: none` token naming `victim`'s `kid`.
pub fn alg_none(victim: &SigningKey, typ: &str, claims: &impl Serialize) -> String {
    raw_jws(&header("none", typ, victim.kid()), claims, b"")
}

/// HS256 "signed" with `victim`'s public JWK (its JSON) as the HMAC secret, naming its `kid`:
/// the classic key-confusion attack.
pub fn hs256_keyed_with_public_key(
    victim: &SigningKey,
    typ: &str,
    claims: &impl Serialize,
) -> String {
    let secret = serde_json::to_vec(&victim.public_jwk()).expect("JWK serializes");
    let input = signing_input(&header("HS256", typ, victim.kid()), claims);
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret),
        input.as_bytes(),
    );
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// Signed by `foreign` (its own algorithm) but naming `victim`'s `kid`: a valid signature by
/// the wrong key.
pub fn foreign_key_under_kid(
    foreign: &SigningKey,
    victim: &SigningKey,
    typ: &str,
    claims: &impl Signable,
) -> String {
    let token = sign(foreign, typ, claims);
    // Only the header changes: claims and signature stay exactly as `foreign` signed them.
    let (_, signed) = token.split_once('.').expect("a compact JWS");
    format!(
        "{}.{signed}",
        URL_SAFE_NO_PAD.encode(header(foreign.algorithm().as_str(), typ, victim.kid()))
    )
}

/// The (unverified) claims of a compact JWS.
pub fn claims_of(token: &str) -> AccessTokenClaims {
    let payload = token.split('.').nth(1).expect("a compact JWS");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url claims"))
        .expect("access-token claims")
}

/// The (unverified) header of a compact JWS.
pub fn header_of(token: &str) -> serde_json::Value {
    let header = token.split('.').next().unwrap_or_default();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url header"))
        .expect("a JSON header")
}

/// The `kid` in a compact JWS header.
pub fn kid_of(token: &str) -> String {
    header_of(token)["kid"]
        .as_str()
        .expect("the token names a kid")
        .to_owned()
}

/// Every PKCS#8 signing key under `dir` (an identity data directory): the test plays an
/// insider who stole the key files.
pub fn signing_keys(dir: &Path) -> Vec<SigningKey> {
    let mut keys = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("reading a key directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if let Ok(key) = SigningKey::load(&path) {
                keys.push(key);
            }
        }
    }
    keys
}

/// The signing key with `kid` under `dir`.
pub fn find_signing_key(dir: &Path, kid: &str) -> SigningKey {
    signing_keys(dir)
        .into_iter()
        .find(|k| k.kid() == kid)
        .unwrap_or_else(|| panic!("no key file with kid {kid} under {}", dir.display()))
}
