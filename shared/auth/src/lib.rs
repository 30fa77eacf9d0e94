//! Access tokens for the whole system: issuing (RFC 9068 `at+jwt`, ES256 or PS256) and
//! validating them the way RFC 8725 asks, with a JWKS cache shared by every service.
//!
//! - [`algorithm`]: the signature algorithms (ES256, the default for new keys, and PS256) and
//!   allow-lists of them.
//! - [`keys`]: signing keys (P-256 or RSA; PKCS#8 on disk, owner-only) and their public JWKs
//!   (JSON files for client registration).
//! - [`jws`]: compact JWS signing and the untrusted-header checks done before any key lookup.
//! - [`claims`]: the claim sets (user and event tokens, client assertions) and scopes.
//! - [`jwks`]: the JWKS cache (one background refresher: on the TTL and, at most once per
//!   cooldown, on unknown kids; lookups never sleep; negative cache; survives outages).
//! - [`http`]: outbound HTTP, hardened once (no redirects, timeouts, bodies capped while
//!   streaming), for JWKS fetches and the token endpoint.
//! - [`validator`]: the full validation pipeline with one named error per failure.
//! - [`oauth`]: OAuth 2.0 wire constants (grant and token types, parameters, error codes),
//!   shared by the authorization server and its clients.
//! - [`names`]: this system's client ids, audiences, scopes and event-binding parameters.
//! - [`oauth_client`]: token-endpoint client (password grant, generic RFC 8693 token exchange
//!   with a `private_key_jwt` client assertion).
//!
//! The gRPC authentication layer built on this is in `zte-grpc`.

pub mod algorithm;
pub mod claims;
pub mod http;
pub mod jwks;
pub mod jws;
pub mod keys;
pub mod names;
pub mod oauth;
pub mod oauth_client;
pub mod validator;

pub use algorithm::Algorithm;
pub use claims::{AccessTokenClaims, Actor, ClientAssertionClaims, IntrospectionJwtClaims, Scopes};
pub use http::{HttpError, OutboundHttp};
pub use jwks::{JwksCache, JwksError};
pub use keys::{JwkSet, KeyError, KeySpec, PublicJwk, SigningKey, VerifyingKey};
pub use validator::{TokenError, TokenValidator, ValidatorConfig};

/// Current Unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
