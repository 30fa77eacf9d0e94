//! The token endpoint, metadata and JWKS over real HTTP with real crypto, against the real
//! server in-process (`zte_testkit::identity`): every rule has a test that tries to break it.
//! One module per concern: discovery, the password grant, token exchange, client
//! authentication.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod client_authentication;
mod discovery;
mod exchange;
mod introspection;
mod password;
