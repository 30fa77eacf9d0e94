//! Compact JWS (RFC 7515) signing and verification, ES256 and PS256.
//!
//! The header is parsed *without trusting it* first ([`UntrustedHeader::parse`]): the
//! caller's algorithm allow-list is enforced before any key is looked up, so `alg: none`,
//! HS256 with a public key as the secret, and every algorithm not on the list are rejected
//! up front (RFC 8725 §3.1). [`verify`] then uses a key only with its own algorithm: a
//! header naming the other one is a bad signature, whichever way round.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use biscuit::{
    CompactJson, Empty,
    jws::{Compact, Header, RegisteredHeader},
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{
    algorithm::Algorithm,
    keys::{SigningKey, VerifyingKey},
};

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
    /// The header names an algorithm that is not on the allow-list.
    #[error("algorithm {0:?} is not allowed")]
    DisallowedAlgorithm(String),
    /// The signature does not verify with the selected key (or the header names an
    /// algorithm other than the key's).
    #[error("signature does not verify")]
    BadSignature,
    /// Signing failed.
    #[error("signing failed: {0}")]
    Signing(String),
}

/// The JOSE header as sent, before anything in it is trusted (but with its `alg` checked
/// against an allow-list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UntrustedHeader {
    /// `alg`, one of the allowed algorithms.
    pub alg: Algorithm,
    /// `typ`, if present.
    pub typ: Option<String>,
    /// `kid`, if present.
    pub kid: Option<String>,
}

/// The header as decoded: `alg` as a string so unknown values are reported rather than
/// failing to parse.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
    /// Extensions we would have to understand. We understand none.
    crit: Option<serde_json::Value>,
}

impl UntrustedHeader {
    /// Parses the header of a compact JWS and enforces the algorithm allow-list `allowed`,
    /// then refuses `crit`.
    pub fn parse(token: &str, allowed: &[Algorithm]) -> Result<Self, JwsError> {
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
        let raw: RawHeader = serde_json::from_slice(&bytes)
            .map_err(|_| JwsError::Malformed("header is not a JSON object with an alg".into()))?;
        let alg = Algorithm::parse(&raw.alg)
            .filter(|alg| allowed.contains(alg))
            .ok_or(JwsError::DisallowedAlgorithm(raw.alg))?;
        if raw.crit.is_some() {
            return Err(JwsError::Malformed("unsupported crit header".into()));
        }
        Ok(Self {
            alg,
            typ: raw.typ,
            kid: raw.kid,
        })
    }

    /// True when `typ` is `at+jwt` (or its full media type, case-insensitively; RFC 9068 §4).
    pub fn is_access_token(&self) -> bool {
        self.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(TYP_ACCESS_TOKEN) || t.eq_ignore_ascii_case("application/at+jwt")
        })
    }
}

/// Signs `claims` as a compact JWS with the key's own algorithm, its `kid` and the given
/// `typ`.
pub fn sign<T>(key: &SigningKey, typ: &str, claims: &T) -> Result<String, JwsError>
where
    T: Serialize + DeserializeOwned + CompactJson + Clone,
{
    let header = Header {
        registered: RegisteredHeader {
            algorithm: key.algorithm().biscuit(),
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

/// Verifies the signature of `token` with `key`, in the key's own algorithm, and decodes its
/// claims. A header naming another algorithm than the key's is [`JwsError::BadSignature`]
/// (ES256 header with an RSA key, PS256 header with an EC key); one naming no supported
/// algorithm is [`JwsError::DisallowedAlgorithm`].
///
/// Call [`UntrustedHeader::parse`] with the caller's allow-list first.
pub fn verify<T>(token: &str, key: &VerifyingKey) -> Result<T, JwsError>
where
    T: Serialize + DeserializeOwned + CompactJson,
{
    // Checked here too so that no caller reaches biscuit with an algorithm the key is not
    // for (biscuit panics on an RSA key with ES256).
    if UntrustedHeader::parse(token, &Algorithm::ALL)?.alg != key.algorithm() {
        return Err(JwsError::BadSignature);
    }
    let decoded = Compact::<T, Empty>::new_encoded(token)
        .decode(&key.secret(), key.algorithm().biscuit())
        .map_err(|e| match e {
            biscuit::errors::Error::ValidationError(_) => JwsError::BadSignature,
            other => JwsError::Malformed(other.to_string()),
        })?;
    let (_, claims) = decoded.unwrap_decoded();
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        claims::{Audience, ClientAssertionClaims},
        keys::KeySpec,
    };

    fn claims() -> ClientAssertionClaims {
        ClientAssertionClaims {
            iss: "c".into(),
            sub: "c".into(),
            aud: Audience::One("a".into()),
            exp: 1,
            iat: None,
            nbf: None,
            jti: "j".into(),
        }
    }

    /// `token` with its header replaced by `header_json` (claims and signature kept).
    fn with_header(token: &str, header_json: &str) -> String {
        let (_, rest) = token.split_once('.').unwrap();
        format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header_json))
    }

    #[test]
    fn each_key_signs_and_verifies_only_its_own_algorithm() {
        let ec = SigningKey::generate(KeySpec::Es256).unwrap();
        let rsa = SigningKey::generate(KeySpec::Ps256 { bits: 2048 }).unwrap();
        for (key, other) in [(&ec, &rsa), (&rsa, &ec)] {
            let token = sign(key, "JWT", &claims()).unwrap();
            let header = UntrustedHeader::parse(&token, &Algorithm::ALL).unwrap();
            assert_eq!(header.alg, key.algorithm());
            assert_eq!(header.kid.as_deref(), Some(key.kid()));
            let decoded: ClientAssertionClaims = verify(&token, key.verifying_key()).unwrap();
            assert_eq!(decoded, claims());
            // The other key, whatever the header says.
            assert_eq!(
                verify::<ClientAssertionClaims>(&token, other.verifying_key()),
                Err(JwsError::BadSignature)
            );
            let relabelled = with_header(
                &token,
                &format!(r#"{{"alg":"{}","kid":"{}"}}"#, other.algorithm(), key.kid()),
            );
            assert_eq!(
                verify::<ClientAssertionClaims>(&relabelled, key.verifying_key()),
                Err(JwsError::BadSignature),
                "{} key under a {} header",
                key.algorithm(),
                other.algorithm()
            );
        }
        // ES256 signatures are JOSE r||s: 64 bytes.
        let token = sign(&ec, "JWT", &claims()).unwrap();
        let signature = URL_SAFE_NO_PAD
            .decode(token.rsplit('.').next().unwrap())
            .unwrap();
        assert_eq!(signature.len(), 64);
        let zeroed = format!(
            "{}.{}",
            token.rsplit_once('.').unwrap().0,
            URL_SAFE_NO_PAD.encode([0u8; 64])
        );
        assert_eq!(
            verify::<ClientAssertionClaims>(&zeroed, ec.verifying_key()),
            Err(JwsError::BadSignature)
        );
    }

    #[test]
    fn the_allow_list_is_enforced_before_anything_else() {
        let ec = SigningKey::generate(KeySpec::Es256).unwrap();
        let token = sign(&ec, "at+jwt", &claims()).unwrap();
        assert_eq!(
            UntrustedHeader::parse(&token, &[Algorithm::Ps256]),
            Err(JwsError::DisallowedAlgorithm("ES256".into()))
        );
        assert_eq!(
            UntrustedHeader::parse(&token, &[]),
            Err(JwsError::DisallowedAlgorithm("ES256".into()))
        );
        // An unknown algorithm is refused even with crit present (alg first).
        let crit = with_header(&token, r#"{"alg":"HS256","crit":["x"]}"#);
        assert_eq!(
            UntrustedHeader::parse(&crit, &Algorithm::ALL),
            Err(JwsError::DisallowedAlgorithm("HS256".into()))
        );
        let crit = with_header(&token, r#"{"alg":"ES256","crit":["x"]}"#);
        assert!(matches!(
            UntrustedHeader::parse(&crit, &Algorithm::ALL),
            Err(JwsError::Malformed(_))
        ));
        assert!(
            UntrustedHeader::parse(&token, &Algorithm::ALL)
                .unwrap()
                .is_access_token()
        );
    }
}
