//! Compact JWS (RFC 7515) signing and verification, PS256 only.
//!
//! The header is parsed *without trusting it* first ([`UntrustedHeader::parse`]): the
//! algorithm allow-list is enforced before any key is looked up, so `alg: none`, HS256 with a
//! public key as the secret, and every other algorithm are rejected up front (RFC 8725 §3.1).

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use biscuit::{
    CompactJson, Empty,
    jwa::SignatureAlgorithm,
    jws::{Compact, Header, RegisteredHeader},
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::keys::{ALG_PS256, SigningKey, VerifyingKey};

/// The `typ` of access tokens (RFC 9068 §2.1).
pub const TYP_ACCESS_TOKEN: &str = "at+jwt";
/// Largest token accepted, in bytes; anything longer is refused before decoding.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Why a JWS could not be parsed or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// Not a compact JWS, bad base64url, bad JSON, or too large.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The header names an algorithm other than PS256.
    #[error("algorithm {0:?} is not allowed (only PS256)")]
    DisallowedAlgorithm(String),
    /// The signature does not verify with the selected key.
    #[error("signature does not verify")]
    BadSignature,
    /// Signing failed.
    #[error("signing failed: {0}")]
    Signing(String),
}

/// The JOSE header as sent, before anything in it is trusted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UntrustedHeader {
    /// `alg`, as a string so unknown values are reported rather than failing to parse.
    pub alg: String,
    /// `typ`, if present.
    pub typ: Option<String>,
    /// `kid`, if present.
    pub kid: Option<String>,
    /// `crit`: extensions we would have to understand. We understand none.
    pub crit: Option<serde_json::Value>,
}

impl UntrustedHeader {
    /// Parses the header of a compact JWS and enforces the algorithm allow-list.
    pub fn parse(token: &str) -> Result<Self, JwsError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JwsError::Malformed(format!(
                "longer than {MAX_TOKEN_BYTES} bytes"
            )));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwsError::Malformed("not three dot-separated parts".into()));
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| JwsError::Malformed("header is not base64url".into()))?;
        let header: Self = serde_json::from_slice(&bytes)
            .map_err(|_| JwsError::Malformed("header is not a JSON object with an alg".into()))?;
        if header.alg != ALG_PS256 {
            return Err(JwsError::DisallowedAlgorithm(header.alg));
        }
        if header.crit.is_some() {
            return Err(JwsError::Malformed("unsupported crit header".into()));
        }
        Ok(header)
    }

    /// True when `typ` is `at+jwt` (or its full media type, case-insensitively; RFC 9068 §4).
    pub fn is_access_token(&self) -> bool {
        self.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(TYP_ACCESS_TOKEN) || t.eq_ignore_ascii_case("application/at+jwt")
        })
    }
}

/// Signs `claims` as a compact PS256 JWS with the key's `kid` and the given `typ`.
pub fn sign<T>(key: &SigningKey, typ: &str, claims: &T) -> Result<String, JwsError>
where
    T: Serialize + DeserializeOwned + CompactJson + Clone,
{
    let header = Header {
        registered: RegisteredHeader {
            algorithm: SignatureAlgorithm::PS256,
            media_type: Some(typ.to_owned()),
            key_id: Some(key.kid().to_owned()),
            ..Default::default()
        },
        private: Empty {},
    };
    let encoded = Compact::<T, Empty>::new_decoded(header, claims.clone())
        .into_encoded(&key.secret())
        .map_err(|e| JwsError::Signing(e.to_string()))?;
    let compact = encoded
        .encoded()
        .map_err(|e| JwsError::Signing(e.to_string()))?;
    Ok(compact.to_string())
}

/// Verifies the PS256 signature of `token` with `key` and decodes its claims.
///
/// Call [`UntrustedHeader::parse`] first; this function checks the algorithm again anyway.
pub fn verify<T>(token: &str, key: &VerifyingKey) -> Result<T, JwsError>
where
    T: Serialize + DeserializeOwned + CompactJson,
{
    // Re-check here so no caller can reach biscuit with a non-RSA algorithm.
    UntrustedHeader::parse(token)?;
    let decoded = Compact::<T, Empty>::new_encoded(token)
        .decode(&key.secret(), SignatureAlgorithm::PS256)
        .map_err(|e| match e {
            biscuit::errors::Error::ValidationError(_) => JwsError::BadSignature,
            other => JwsError::Malformed(other.to_string()),
        })?;
    let (_, claims) = decoded.unwrap_decoded();
    Ok(claims)
}
