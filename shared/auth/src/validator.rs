//! Access-token validation, in the order RFC 8725 asks for:
//!
//! 1. parse the header without trusting it: `alg` must be PS256 (checked before any key
//!    lookup), `typ` must be `at+jwt`, a `kid` must be present;
//! 2. select the key by `kid` from the [`JwksCache`]: requests ([`TokenValidator::validate`])
//!    may wait for a fetch that can start at once, never for a cooldown; records
//!    ([`TokenValidator::validate_arrived`]) never wait at all, an undecided kid is a
//!    transient error;
//! 3. verify the signature, then `iss` (exact), `aud` (contains ours), `exp`/`nbf` with leeway.
//!
//! Authorization (scopes, event binding) is the caller's job: `zte-grpc`'s auth layer and
//! `zte-event`'s verifier.

use std::time::{Duration, SystemTime};

use crate::{
    claims::AccessTokenClaims,
    jwks::{JwksCache, JwksError},
    jws::{self, JwsError, UntrustedHeader},
    keys::VerifyingKey,
};

/// Why a token was refused. [`TokenError::reason`] gives a stable snake_case name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a well-formed JWS / JWT.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// `alg` is not PS256 (includes `none` and HS*).
    #[error("algorithm {0:?} is not allowed")]
    DisallowedAlgorithm(String),
    /// `typ` is not `at+jwt`.
    #[error("token type {0:?} is not at+jwt")]
    WrongType(String),
    /// No `kid` in the header.
    #[error("token has no kid")]
    MissingKeyId,
    /// The `kid` is not in the issuer's JWKS.
    #[error("unknown signing key {0:?}")]
    UnknownKey(String),
    /// The JWKS could not be fetched to look the `kid` up. Transient.
    #[error("signing keys unavailable: {0}")]
    KeysUnavailable(String),
    /// The `kid` is not cached and the JWKS has not been fetched since the token arrived;
    /// a refresh is due in about the given time. Transient.
    #[error("signing key not checked yet (JWKS refresh due in {0:?})")]
    KeyNotYetChecked(Duration),
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// `iss` is not the configured issuer.
    #[error("wrong issuer {0:?}")]
    WrongIssuer(String),
    /// `aud` does not contain our audience.
    #[error("token is not for this audience")]
    WrongAudience,
    /// `exp` has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token not yet valid")]
    NotYetValid,
}

impl TokenError {
    /// A stable, machine-readable name for logs, metrics and dead-letter headers.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed_token",
            Self::DisallowedAlgorithm(_) => "disallowed_algorithm",
            Self::WrongType(_) => "wrong_token_type",
            Self::MissingKeyId => "missing_kid",
            Self::UnknownKey(_) => "unknown_key",
            Self::KeysUnavailable(_) => "keys_unavailable",
            Self::KeyNotYetChecked(_) => "key_not_yet_checked",
            Self::BadSignature => "bad_signature",
            Self::WrongIssuer(_) => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::Expired => "token_expired",
            Self::NotYetValid => "token_not_yet_valid",
        }
    }

    /// True when retrying later may succeed (the JWKS was unreachable, or not fetched yet
    /// since the token arrived).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::KeysUnavailable(_) | Self::KeyNotYetChecked(_))
    }

    /// For [`Self::KeyNotYetChecked`]: when the JWKS refresh that decides it is due.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::KeyNotYetChecked(after) => Some(*after),
            _ => None,
        }
    }
}

impl From<JwksError> for TokenError {
    fn from(error: JwksError) -> Self {
        match error {
            JwksError::UnknownKey(kid) => Self::UnknownKey(kid),
            JwksError::Unavailable(why) => Self::KeysUnavailable(why),
            JwksError::NotYetChecked { retry_after } => Self::KeyNotYetChecked(retry_after),
        }
    }
}

impl From<JwsError> for TokenError {
    fn from(error: JwsError) -> Self {
        match error {
            JwsError::Malformed(m) | JwsError::Signing(m) => Self::Malformed(m),
            JwsError::DisallowedAlgorithm(alg) => Self::DisallowedAlgorithm(alg),
            JwsError::BadSignature => Self::BadSignature,
        }
    }
}

/// What a validator checks tokens against.
#[derive(Debug, Clone)]
pub struct ValidatorConfig {
    /// Exact expected `iss`.
    pub issuer: String,
    /// Audience that must appear in `aud`.
    pub audience: String,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway: Duration,
}

/// The `kid` of an access token, after the header checks done before any key lookup
/// (algorithm allow-list, `typ`).
fn key_id(token: &str) -> Result<String, TokenError> {
    let header = UntrustedHeader::parse(token)?;
    if !header.is_access_token() {
        return Err(TokenError::WrongType(header.typ.unwrap_or_default()));
    }
    header.kid.ok_or(TokenError::MissingKeyId)
}

/// Validates access tokens against one issuer's JWKS. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TokenValidator {
    config: ValidatorConfig,
    keys: JwksCache,
}

impl TokenValidator {
    /// A validator using `keys` for signature verification.
    pub fn new(config: ValidatorConfig, keys: JwksCache) -> Self {
        Self { config, keys }
    }

    /// The key cache (for health checks and refreshes).
    pub fn keys(&self) -> &JwksCache {
        &self.keys
    }

    /// The configuration.
    pub fn config(&self) -> &ValidatorConfig {
        &self.config
    }

    /// Fully validates `token` (signature, issuer, audience, lifetime) at the current time.
    pub async fn validate(&self, token: &str) -> Result<AccessTokenClaims, TokenError> {
        self.validate_at(token, crate::unix_now()).await
    }

    /// Like [`Self::validate`] at a given Unix time (for tests).
    pub async fn validate_at(
        &self,
        token: &str,
        now: i64,
    ) -> Result<AccessTokenClaims, TokenError> {
        let claims = self.verify_at(token, now).await?;
        self.check_audience(&claims)?;
        Ok(claims)
    }

    /// Everything but the audience: header, key, signature, `iss`, `exp`/`nbf`. Used where a
    /// verified token's other properties decide the error (an event token presented to a
    /// gRPC endpoint is `PERMISSION_DENIED` whatever its audience).
    pub async fn verify_at(&self, token: &str, now: i64) -> Result<AccessTokenClaims, TokenError> {
        let kid = key_id(token)?;
        let key = self.keys.key(&kid).await?;
        self.verify_with(token, &key, now)
    }

    /// Fully validates `token`, carried by work (an event record) that arrived at `arrived`,
    /// without ever waiting: an unknown `kid` is [`TokenError::UnknownKey`] once the JWKS was
    /// fetched after `arrived`, and otherwise a transient [`TokenError::KeyNotYetChecked`] or
    /// [`TokenError::KeysUnavailable`] (the caller sets the work aside and tries again).
    pub fn validate_arrived(
        &self,
        token: &str,
        now: i64,
        arrived: SystemTime,
    ) -> Result<AccessTokenClaims, TokenError> {
        let kid = key_id(token)?;
        let key = self.keys.lookup(&kid, arrived)?;
        let claims = self.verify_with(token, &key, now)?;
        self.check_audience(&claims)?;
        Ok(claims)
    }

    /// Signature, `iss`, `exp`/`nbf` with `key`.
    fn verify_with(
        &self,
        token: &str,
        key: &VerifyingKey,
        now: i64,
    ) -> Result<AccessTokenClaims, TokenError> {
        let claims: AccessTokenClaims = jws::verify(token, key)?;
        if claims.iss != self.config.issuer {
            return Err(TokenError::WrongIssuer(claims.iss));
        }
        let leeway = i64::try_from(self.config.leeway.as_secs()).unwrap_or(i64::MAX);
        if now > claims.exp.saturating_add(leeway) {
            return Err(TokenError::Expired);
        }
        if now.saturating_add(leeway) < claims.nbf {
            return Err(TokenError::NotYetValid);
        }
        Ok(claims)
    }

    /// `aud` must contain the configured audience.
    pub fn check_audience(&self, claims: &AccessTokenClaims) -> Result<(), TokenError> {
        if claims.aud.contains(&self.config.audience) {
            Ok(())
        } else {
            Err(TokenError::WrongAudience)
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
    use proptest::prelude::*;

    use super::*;
    use crate::{
        claims::Audience,
        keys::{JwkSet, SigningKey},
    };

    const ISS: &str = "http://issuer.test";

    fn claims(now: i64) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: ISS.into(),
            sub: "alice".into(),
            aud: Audience::Many(vec!["orders".into(), "payments".into()]),
            exp: now + 60,
            nbf: now,
            iat: now,
            jti: "j1".into(),
            scope: "orders payments".into(),
            client_id: "cli".into(),
            act: None,
            order_transaction_id: None,
            event_payload_hash: None,
        }
    }

    fn setup() -> (SigningKey, TokenValidator) {
        let key = SigningKey::generate(2048).unwrap();
        let validator = TokenValidator::new(
            ValidatorConfig {
                issuer: ISS.into(),
                audience: "orders".into(),
                leeway: Duration::from_secs(5),
            },
            JwksCache::fixed(JwkSet {
                keys: vec![key.public_jwk()],
            }),
        );
        (key, validator)
    }

    fn forge(header: &str, claims: &AccessTokenClaims, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap()),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    #[tokio::test]
    async fn valid_token_passes_and_each_claim_check_can_fail() {
        let (key, v) = setup();
        let now = crate::unix_now();
        let ok = jws::sign(&key, "at+jwt", &claims(now)).unwrap();
        assert_eq!(v.validate_at(&ok, now).await.unwrap().sub, "alice");

        let mut c = claims(now);
        c.iss = "http://evil".into();
        let t = jws::sign(&key, "at+jwt", &c).unwrap();
        assert_eq!(
            v.validate_at(&t, now).await,
            Err(TokenError::WrongIssuer("http://evil".into()))
        );

        let mut c = claims(now);
        c.aud = Audience::One("payments".into());
        let t = jws::sign(&key, "at+jwt", &c).unwrap();
        assert_eq!(v.validate_at(&t, now).await, Err(TokenError::WrongAudience));

        assert_eq!(v.validate_at(&ok, now + 66).await, Err(TokenError::Expired));
        assert!(v.validate_at(&ok, now + 64).await.is_ok(), "within leeway");
        assert_eq!(
            v.validate_at(&ok, now - 6).await,
            Err(TokenError::NotYetValid)
        );

        let t = jws::sign(&key, "JWT", &claims(now)).unwrap();
        assert_eq!(
            v.validate_at(&t, now).await,
            Err(TokenError::WrongType("JWT".into()))
        );
    }

    #[tokio::test]
    async fn alg_none_and_hs256_key_confusion_are_rejected_before_key_lookup() {
        let (key, v) = setup();
        let now = crate::unix_now();
        let kid = key.kid();
        let header = |alg: &str| format!(r#"{{"alg":"{alg}","typ":"at+jwt","kid":"{kid}"}}"#);
        // HS256 "signed" with the public key's JWK as the HMAC secret.
        let secret = serde_json::to_vec(&key.public_jwk()).unwrap();
        let body = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header("HS256")),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(now)).unwrap())
        );
        let tag = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret),
            body.as_bytes(),
        );
        let hs = format!("{body}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
        for (alg, token) in [
            ("none", forge(&header("none"), &claims(now), b"")),
            ("HS256", hs),
            ("RS256", forge(&header("RS256"), &claims(now), b"x")),
        ] {
            assert_eq!(
                v.validate_at(&token, now).await,
                Err(TokenError::DisallowedAlgorithm(alg.into()))
            );
        }
    }

    #[tokio::test]
    async fn disallowed_algorithms_never_reach_the_jwks() {
        // The JWKS is unreachable (closed loopback port): had the validator looked the kid
        // up, the answer would be `KeysUnavailable`, not the algorithm refusal.
        let v = TokenValidator::new(
            ValidatorConfig {
                issuer: ISS.into(),
                audience: "orders".into(),
                leeway: Duration::from_secs(5),
            },
            JwksCache::remote(
                "http://127.0.0.1:9/jwks",
                crate::http::OutboundHttp::new(Duration::from_secs(1)).unwrap(),
                Duration::from_secs(1),
                Duration::from_secs(60),
            ),
        );
        let now = crate::unix_now();
        for alg in ["none", "HS256", "RS256", "ES256", "PS384", "ps256"] {
            let token = forge(
                &format!(r#"{{"alg":"{alg}","typ":"at+jwt","kid":"unknown"}}"#),
                &claims(now),
                b"sig",
            );
            assert_eq!(
                v.validate_at(&token, now).await,
                Err(TokenError::DisallowedAlgorithm(alg.into()))
            );
        }
        assert!(!v.keys().is_loaded(), "no JWKS fetch happened");
    }

    #[tokio::test]
    async fn issuer_must_match_exactly() {
        let (key, v) = setup();
        let now = crate::unix_now();
        for iss in [
            format!("{ISS}/"),
            ISS.to_uppercase(),
            format!("{ISS}.evil"),
            "http://issuer.tes".into(),
            String::new(),
        ] {
            let mut c = claims(now);
            c.iss = iss.clone();
            let t = jws::sign(&key, "at+jwt", &c).unwrap();
            assert_eq!(
                v.validate_at(&t, now).await,
                Err(TokenError::WrongIssuer(iss))
            );
        }
    }

    #[tokio::test]
    async fn foreign_key_under_a_known_kid_and_tampering_fail_the_signature() {
        let (key, v) = setup();
        let now = crate::unix_now();
        let foreign = SigningKey::generate(2048).unwrap();
        // Sign with the foreign key, then splice in the trusted kid.
        let token = jws::sign(&foreign, "at+jwt", &claims(now)).unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[0] = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"PS256","typ":"at+jwt","kid":"{}"}}"#,
            key.kid()
        ));
        assert_eq!(
            v.validate_at(&parts.join("."), now).await,
            Err(TokenError::BadSignature)
        );
        // Unknown kid (the foreign key's own).
        assert_eq!(
            v.validate_at(&token, now).await,
            Err(TokenError::UnknownKey(foreign.kid().into()))
        );
        // Tampered claims under a valid signature.
        let ok = jws::sign(&key, "at+jwt", &claims(now)).unwrap();
        let mut parts: Vec<String> = ok.split('.').map(str::to_owned).collect();
        let mut c = claims(now);
        c.sub = "mallory".into();
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
        assert_eq!(
            v.validate_at(&parts.join("."), now).await,
            Err(TokenError::BadSignature)
        );
        // No kid at all.
        let nokid = forge(r#"{"alg":"PS256","typ":"at+jwt"}"#, &claims(now), b"x");
        assert_eq!(
            v.validate_at(&nokid, now).await,
            Err(TokenError::MissingKeyId)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        #[test]
        fn arbitrary_input_never_panics_and_is_refused(input in ".{0,600}", bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let (_key, v) = SHARED.clone();
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            for candidate in [input.clone(), String::from_utf8_lossy(&bytes).into_owned(), format!("{input}.{input}.{input}")] {
                let result = rt.block_on(v.validate(&candidate));
                prop_assert!(result.is_err());
            }
        }
    }

    static SHARED: std::sync::LazyLock<(SigningKey, TokenValidator)> =
        std::sync::LazyLock::new(setup);
}
