//! Access tokens for the whole system: issuing (RFC 9068 `at+jwt`, PS256) and validating them
//! the way RFC 8725 asks, with a JWKS cache shared by every service.
//!
//! - [`keys`]: RSA signing keys (PKCS#8 on disk, owner-only) and their public JWKs.
//! - [`jws`]: compact JWS signing and the untrusted-header checks done before any key lookup.
//! - [`claims`]: the claim sets (user and event tokens, client assertions) and scopes.
//! - [`jwks`]: the JWKS cache (refresh on unknown `kid`, rate-limited, survives outages).
//! - [`validator`]: the full validation pipeline with one named error per failure.
//! - [`grpc`]: the tower layer that authenticates gRPC calls and the scope check.
//! - [`oauth_client`]: token-endpoint client (password grant, token exchange with a
//!   `private_key_jwt` client assertion) and public-JWK files for client registration.

pub mod claims;
pub mod grpc;
pub mod jwks;
pub mod jws;
pub mod keys;
pub mod oauth_client;
pub mod validator;

pub use claims::{AccessTokenClaims, Actor, ClientAssertionClaims, Scopes};
pub use grpc::{AuthLayer, Caller, ProtectedService};
pub use jwks::{JwksCache, JwksError};
pub use keys::{JwkSet, KeyError, PublicJwk, SigningKey, VerifyingKey};
pub use validator::{TokenError, TokenValidator, ValidatorConfig};

/// Current Unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
