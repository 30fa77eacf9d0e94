//! The tokens of the tests: the shared test keys, the demo users, and the claims of user and
//! event tokens as the identity service issues them (for signing, or spoiling one claim).

use std::{sync::LazyLock, time::Duration};

use zte_auth::{AccessTokenClaims, KeySpec, SigningKey};
use zte_proto::events::v1::OrderCreated;

/// The users (and passwords) the identity service provisions in demo mode.
pub const DEMO_USERS: [(&str, &str); 2] = [("demouser", "Password1"), ("demouser2", "Password2")];
/// The public client allowed the password grant in demo mode.
pub const DEMO_CLIENT: &str = zte_auth::names::DEMO_CLIENT_ID;
/// The public internet client of demo mode: its tokens are opaque (phantom tokens).
pub const DEMO_INTERNET_CLIENT: &str = zte_auth::names::DEMO_INTERNET_CLIENT_ID;
/// The gateway's client id (allowed to introspect).
pub const GATEWAY_CLIENT: &str = zte_auth::names::GATEWAY_CLIENT_ID;
/// The Orders service: its audience and its OAuth client id.
pub const ORDERS_SERVICE: &str = zte_auth::names::ORDERS_CLIENT_ID;
/// The Payments service: the audience of event tokens.
pub const PAYMENTS_SERVICE: &str = zte_auth::names::PAYMENTS_AUDIENCE;
/// The scopes of a user token.
pub const USER_SCOPE: &str = "orders payments";

/// RSA size of the PS256 keys made for tests: the smallest the validators accept (generation
/// is the slow part of a test's start).
const TEST_RSA_KEY_BITS: usize = 2048;

/// The `orders-service` client key: the stand-in checks client assertions against it, the
/// Orders app signs with it, the identity app registers its public JWK. Made once per test
/// binary.
pub fn orders_client_key() -> SigningKey {
    static KEY: LazyLock<SigningKey> = LazyLock::new(test_key);
    KEY.clone()
}

/// The `gateway` client key: the identity app registers its public JWK, the gateway signs
/// its introspection requests with it. Made once per test binary.
pub fn gateway_client_key() -> SigningKey {
    static KEY: LazyLock<SigningKey> = LazyLock::new(test_key);
    KEY.clone()
}

/// A fresh ES256 (P-256) key, the default kind of key.
pub fn test_key() -> SigningKey {
    SigningKey::generate(KeySpec::Es256).expect("generating a P-256 test key")
}

/// A fresh PS256 (RSA) key of the size the tests use.
pub fn test_rsa_key() -> SigningKey {
    SigningKey::generate(KeySpec::Ps256 {
        bits: TEST_RSA_KEY_BITS,
    })
    .expect("generating an RSA test key")
}

/// Claims of a user token for `sub` with `scope`, as the password grant issues it: both APIs
/// as audience, the demo client, valid for ten minutes from now.
pub fn user_claims(issuer: &str, sub: &str, scope: &str) -> AccessTokenClaims {
    AccessTokenClaims::issued(
        issuer,
        sub,
        &[ORDERS_SERVICE, PAYMENTS_SERVICE],
        scope,
        DEMO_CLIENT,
        zte_auth::unix_now(),
        Duration::from_secs(600),
    )
}

/// Claims of the event token the identity service issues by token exchange for `order` with
/// payload hash `payload_hash`: issued 5 s ago (clock skew between processes), valid for an
/// hour from now.
pub fn event_claims(issuer: &str, order: &OrderCreated, payload_hash: &str) -> AccessTokenClaims {
    AccessTokenClaims::issued(
        issuer,
        &order.user_id,
        &[],
        zte_auth::names::SCOPE_TRIGGER_PAYMENTS,
        ORDERS_SERVICE,
        zte_auth::unix_now() - 5,
        Duration::from_secs(3_605),
    )
    .for_event(PAYMENTS_SERVICE, &order.order_transaction_id, payload_hash)
}
