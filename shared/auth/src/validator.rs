//! Access-token validation, in the order RFC 8725 asks for:
//!
//! 1. parse the header without trusting it: `alg` must be on the validator's allow-list
//!    (checked before any key lookup), `typ` must be `at+jwt`, a `kid` must be present;
//! 2. select the key by `kid` from the [`JwksCache`]: requests ([`TokenValidator::validate`])
//!    may wait for a fetch that can start at once, never for a cooldown; records
//!    ([`TokenValidator::validate_arrived`]) never wait at all, an undecided kid is a
//!    transient error;
//! 3. verify the signature with the key's own algorithm (a header naming the other one is a
//!    bad signature), then `iss` (exact), `aud` (contains ours), `exp`/`nbf` with leeway.
//!
//! Authorization (scopes, event binding) is the caller's job: `zte-grpc`'s auth layer and
//! `zte-event`'s verifier.

use std::time::{Duration, SystemTime};

use crate::{
    algorithm::Algorithm,
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
    /// `alg` is not on the allow-list (includes `none` and HS*).
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
    /// The algorithms accepted (the allow-list); everything else is refused before any key
    /// lookup.
    pub algorithms: Vec<Algorithm>,
}

/// The `kid` of an access token, after the header checks done before any key lookup
/// (the algorithm allow-list `allowed`, `typ`).
fn key_id(token: &str, allowed: &[Algorithm]) -> Result<String, TokenError> {
    let header = UntrustedHeader::parse(token, allowed)?;
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
        let kid = key_id(token, &self.config.algorithms)?;
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
        let kid = key_id(token, &self.config.algorithms)?;
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
        keys::{JwkSet, KeySpec, SigningKey},
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

    /// An ES256 and a PS256 key, both published, and a validator accepting both algorithms.
    struct Setup {
        ec: SigningKey,
        rsa: SigningKey,
        v: TokenValidator,
    }

    impl Setup {
        fn keys(&self) -> [&SigningKey; 2] {
            [&self.ec, &self.rsa]
        }
    }

    fn config(algorithms: &[Algorithm]) -> ValidatorConfig {
        ValidatorConfig {
            issuer: ISS.into(),
            audience: "orders".into(),
            leeway: Duration::from_secs(5),
            algorithms: algorithms.to_vec(),
        }
    }

    fn jwks(keys: &[&SigningKey]) -> JwksCache {
        JwksCache::fixed(JwkSet {
            keys: keys.iter().map(|k| k.public_jwk()).collect(),
        })
    }

    fn setup() -> Setup {
        let ec = SigningKey::generate(KeySpec::Es256).unwrap();
        let rsa = SigningKey::generate(KeySpec::Ps256 { bits: 2048 }).unwrap();
        let v = TokenValidator::new(config(&Algorithm::ALL), jwks(&[&ec, &rsa]));
        Setup { ec, rsa, v }
    }

    fn forge(header: &str, claims: &AccessTokenClaims, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap()),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    /// `token` with its header replaced (claims and signature kept).
    fn rehead(token: &str, header: &str) -> String {
        let (_, rest) = token.split_once('.').unwrap();
        format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header))
    }

    #[tokio::test]
    async fn valid_token_passes_and_each_claim_check_can_fail() {
        let s = setup();
        let v = &s.v;
        for key in s.keys() {
            let now = crate::unix_now();
            let ok = jws::sign(key, "at+jwt", &claims(now)).unwrap();
            assert_eq!(v.validate_at(&ok, now).await.unwrap().sub, "alice");

            let mut c = claims(now);
            c.iss = "http://evil".into();
            let t = jws::sign(key, "at+jwt", &c).unwrap();
            assert_eq!(
                v.validate_at(&t, now).await,
                Err(TokenError::WrongIssuer("http://evil".into()))
            );

            let mut c = claims(now);
            c.aud = Audience::One("payments".into());
            let t = jws::sign(key, "at+jwt", &c).unwrap();
            assert_eq!(v.validate_at(&t, now).await, Err(TokenError::WrongAudience));

            assert_eq!(v.validate_at(&ok, now + 66).await, Err(TokenError::Expired));
            assert!(v.validate_at(&ok, now + 64).await.is_ok(), "within leeway");
            assert_eq!(
                v.validate_at(&ok, now - 6).await,
                Err(TokenError::NotYetValid)
            );

            let t = jws::sign(key, "JWT", &claims(now)).unwrap();
            assert_eq!(
                v.validate_at(&t, now).await,
                Err(TokenError::WrongType("JWT".into()))
            );
        }
    }

    #[tokio::test]
    async fn alg_none_and_hs256_key_confusion_are_rejected_before_key_lookup() {
        let s = setup();
        let now = crate::unix_now();
        for key in s.keys() {
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
                ("ES384", forge(&header("ES384"), &claims(now), b"x")),
            ] {
                assert_eq!(
                    s.v.validate_at(&token, now).await,
                    Err(TokenError::DisallowedAlgorithm(alg.into()))
                );
            }
        }
    }

    #[tokio::test]
    async fn disallowed_algorithms_never_reach_the_jwks() {
        // The JWKS is unreachable (closed loopback port): had the validator looked the kid
        // up, the answer would be `KeysUnavailable`, not the algorithm refusal.
        let unreachable = || {
            JwksCache::remote(
                "http://127.0.0.1:9/jwks",
                crate::http::OutboundHttp::new(Duration::from_secs(1)).unwrap(),
                Duration::from_secs(1),
                Duration::from_secs(60),
            )
        };
        let now = crate::unix_now();
        let token = |alg: &str| {
            forge(
                &format!(r#"{{"alg":"{alg}","typ":"at+jwt","kid":"unknown"}}"#),
                &claims(now),
                b"sig",
            )
        };
        let v = TokenValidator::new(config(&Algorithm::ALL), unreachable());
        for alg in ["none", "HS256", "RS256", "ES384", "PS384", "ps256", "es256"] {
            assert_eq!(
                v.validate_at(&token(alg), now).await,
                Err(TokenError::DisallowedAlgorithm(alg.into()))
            );
        }
        // A supported algorithm left off this validator's list is refused the same way.
        for (allowed, refused) in [(Algorithm::Es256, "PS256"), (Algorithm::Ps256, "ES256")] {
            let v = TokenValidator::new(config(&[allowed]), unreachable());
            assert_eq!(
                v.validate_at(&token(refused), now).await,
                Err(TokenError::DisallowedAlgorithm(refused.into()))
            );
            assert!(!v.keys().is_loaded(), "no JWKS fetch happened");
        }
        assert!(!v.keys().is_loaded(), "no JWKS fetch happened");
    }

    #[tokio::test]
    async fn a_validator_accepts_only_its_listed_algorithms() {
        let s = setup();
        let now = crate::unix_now();
        let es = jws::sign(&s.ec, "at+jwt", &claims(now)).unwrap();
        let ps = jws::sign(&s.rsa, "at+jwt", &claims(now)).unwrap();
        let only_es = TokenValidator::new(config(&[Algorithm::Es256]), jwks(&[&s.ec, &s.rsa]));
        assert!(only_es.validate_at(&es, now).await.is_ok());
        assert_eq!(
            only_es.validate_at(&ps, now).await,
            Err(TokenError::DisallowedAlgorithm("PS256".into()))
        );
        let only_ps = TokenValidator::new(config(&[Algorithm::Ps256]), jwks(&[&s.ec, &s.rsa]));
        assert!(only_ps.validate_at(&ps, now).await.is_ok());
        assert_eq!(
            only_ps.validate_at(&es, now).await,
            Err(TokenError::DisallowedAlgorithm("ES256".into()))
        );
    }

    #[tokio::test]
    async fn issuer_must_match_exactly() {
        let s = setup();
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
            let t = jws::sign(&s.ec, "at+jwt", &c).unwrap();
            assert_eq!(
                s.v.validate_at(&t, now).await,
                Err(TokenError::WrongIssuer(iss))
            );
        }
    }

    #[tokio::test]
    async fn foreign_key_under_a_known_kid_and_tampering_fail_the_signature() {
        let s = setup();
        let v = &s.v;
        let now = crate::unix_now();
        for (key, spec) in [
            (&s.ec, KeySpec::Es256),
            (&s.rsa, KeySpec::Ps256 { bits: 2048 }),
        ] {
            let alg = key.algorithm();
            let foreign = SigningKey::generate(spec).unwrap();
            // Sign with the foreign key, then splice in the trusted kid.
            let token = jws::sign(&foreign, "at+jwt", &claims(now)).unwrap();
            let spliced = rehead(
                &token,
                &format!(r#"{{"alg":"{alg}","typ":"at+jwt","kid":"{}"}}"#, key.kid()),
            );
            assert_eq!(
                v.validate_at(&spliced, now).await,
                Err(TokenError::BadSignature)
            );
            // Unknown kid (the foreign key's own).
            assert_eq!(
                v.validate_at(&token, now).await,
                Err(TokenError::UnknownKey(foreign.kid().into()))
            );
            // Tampered claims under a valid signature.
            let ok = jws::sign(key, "at+jwt", &claims(now)).unwrap();
            let mut parts: Vec<String> = ok.split('.').map(str::to_owned).collect();
            let mut c = claims(now);
            c.sub = "mallory".into();
            parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
            assert_eq!(
                v.validate_at(&parts.join("."), now).await,
                Err(TokenError::BadSignature)
            );
            // No kid at all.
            let nokid = forge(
                &format!(r#"{{"alg":"{alg}","typ":"at+jwt"}}"#),
                &claims(now),
                b"x",
            );
            assert_eq!(
                v.validate_at(&nokid, now).await,
                Err(TokenError::MissingKeyId)
            );
        }
    }

    #[tokio::test]
    async fn a_key_is_used_only_with_its_own_algorithm() {
        let s = setup();
        let now = crate::unix_now();
        // A genuine token of each key, its header relabelled with the other algorithm (and
        // the same kid): both algorithms are allowed, the key is known, and still it fails.
        for (key, other) in [(&s.ec, Algorithm::Ps256), (&s.rsa, Algorithm::Es256)] {
            let token = jws::sign(key, "at+jwt", &claims(now)).unwrap();
            let relabelled = rehead(
                &token,
                &format!(
                    r#"{{"alg":"{other}","typ":"at+jwt","kid":"{}"}}"#,
                    key.kid()
                ),
            );
            assert_eq!(
                s.v.validate_at(&relabelled, now).await,
                Err(TokenError::BadSignature)
            );
        }
        // ES256 signatures that are all zeros or DER-encoded (not JOSE r||s) fail.
        let token = jws::sign(&s.ec, "at+jwt", &claims(now)).unwrap();
        let (input, signature) = token.rsplit_once('.').unwrap();
        let rs = URL_SAFE_NO_PAD.decode(signature).unwrap();
        let der = der_ecdsa_signature(&rs[..32], &rs[32..]);
        for signature in [vec![0u8; 64], der] {
            let bad = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&signature));
            assert_eq!(
                s.v.validate_at(&bad, now).await,
                Err(TokenError::BadSignature)
            );
        }
    }

    /// The ASN.1 DER `ECDSA-Sig-Value` of `r`, `s` (what OpenSSL and Java produce, and
    /// what JOSE does not use).
    fn der_ecdsa_signature(r: &[u8], s: &[u8]) -> Vec<u8> {
        let integer = |v: &[u8]| {
            let v = &v[v.iter().position(|b| *b != 0).unwrap_or(v.len() - 1)..];
            let mut out = vec![0x02];
            if v[0] & 0x80 != 0 {
                out.push(u8::try_from(v.len() + 1).unwrap());
                out.push(0);
            } else {
                out.push(u8::try_from(v.len()).unwrap());
            }
            out.extend_from_slice(v);
            out
        };
        let body = [integer(r), integer(s)].concat();
        let mut out = vec![0x30, u8::try_from(body.len()).unwrap()];
        out.extend(body);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        #[test]
        fn arbitrary_input_never_panics_and_is_refused(input in ".{0,600}", bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let v = SHARED.v.clone();
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            for candidate in [input.clone(), String::from_utf8_lossy(&bytes).into_owned(), format!("{input}.{input}.{input}")] {
                let result = rt.block_on(v.validate(&candidate));
                prop_assert!(result.is_err());
            }
        }
    }

    static SHARED: std::sync::LazyLock<Setup> = std::sync::LazyLock::new(setup);
}
