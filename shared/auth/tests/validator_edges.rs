//! The validator's checks at their edges: the token size cap, `exp` and `nbf` exactly at the
//! leeway. Each test here was written against a mutant `cargo mutants` found surviving (README,
//! "Mutation testing"): it fails if its check is weakened that way.

#![allow(clippy::unwrap_used)]

use std::{sync::LazyLock, time::Duration};

use zte_auth::{
    AccessTokenClaims, Algorithm, JwkSet, JwksCache, KeySpec, SigningKey, TokenError,
    TokenValidator, ValidatorConfig,
    jws::{self, JwsError, MAX_TOKEN_BYTES, UntrustedHeader},
};

const ISSUER: &str = "http://issuer.test";
const AUDIENCE: &str = "payments-service";
const LEEWAY: i64 = 5;

static KEY: LazyLock<SigningKey> = LazyLock::new(|| SigningKey::generate(KeySpec::Es256).unwrap());

fn validator() -> TokenValidator {
    TokenValidator::new(
        ValidatorConfig {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            leeway: Duration::from_secs(LEEWAY.unsigned_abs()),
            algorithms: Algorithm::ALL.to_vec(),
        },
        JwksCache::fixed(JwkSet {
            keys: vec![KEY.public_jwk()],
        }),
    )
}

/// A token valid from `nbf` = `now` to `exp` = `now + 60`.
fn token(now: i64) -> String {
    let claims = AccessTokenClaims::issued(
        ISSUER,
        "demouser",
        &[AUDIENCE],
        "payments",
        "demo-cli",
        now,
        Duration::from_secs(60),
    );
    jws::sign(&KEY, "at+jwt", &claims).unwrap()
}

/// `exp` and `nbf` each get exactly the leeway, on both paths, and not a second more.
#[tokio::test]
async fn lifetime_is_checked_to_the_second_of_the_leeway() {
    let v = validator();
    let issued = zte_auth::unix_now();
    let t = token(issued);
    let last = issued + 60 + LEEWAY;
    let first = issued - LEEWAY;
    for (now, expected) in [
        (last, Ok(())),
        (last + 1, Err(TokenError::Expired)),
        (first, Ok(())),
        (first - 1, Err(TokenError::NotYetValid)),
    ] {
        assert_eq!(
            v.validate_at(&t, now).await.map(|_| ()),
            expected,
            "at {now} (issued {issued})"
        );
    }
}

/// The size cap is 16 KiB: a token of one byte more is refused before it is read, a token of
/// exactly 16 KiB goes on to the next check.
#[test]
fn the_token_size_cap_is_16_kib_inclusive() {
    let at_cap = "a".repeat(16 * 1024);
    assert_eq!(
        UntrustedHeader::parse(&at_cap, &Algorithm::ALL),
        Err(JwsError::Malformed("not three dot-separated parts".into()))
    );
    let over = "a".repeat(16 * 1024 + 1);
    assert_eq!(
        UntrustedHeader::parse(&over, &Algorithm::ALL),
        Err(JwsError::Malformed(format!(
            "longer than {MAX_TOKEN_BYTES} bytes"
        )))
    );
}
