//! Signing keys over real HTTP: persisted owner-only and reused after a restart, rotated
//! without breaking tokens already issued, and nothing outside the JWKS accepted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use zte_auth::{Algorithm, KeySpec, TokenError};
use zte_testkit::{
    forge::{self, AT_JWT},
    identity::IdentitySetup,
    tokens::{test_key, user_claims},
};

#[tokio::test]
async fn key_file_is_owner_only_and_reused_after_a_restart() {
    let root = tempfile::tempdir().unwrap();
    let first = IdentitySetup::in_dir(root.path().to_path_buf())
        .spawn()
        .await;
    let kid = first.active_kid.clone();
    let first_issuer = first.issuer.clone();
    let token = first.user_token().await;
    let key_file = first.data_dir.join("keys").join(format!("{kid}.pk8"));
    first.stop().await;

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "key file mode {mode:o}");
        let dir_mode = std::fs::metadata(key_file.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700, "key directory mode {dir_mode:o}");
    }

    // Same address, so the issuer (and so every token's iss) is the same.
    let addr: std::net::SocketAddr = first_issuer.trim_start_matches("http://").parse().unwrap();
    let mut second = IdentitySetup::in_dir(root.path().to_path_buf());
    second.config.listen = addr;
    let second = second.spawn().await;
    assert_eq!(second.active_kid, kid, "a restart must reuse the key");
    let jwks = second.get("/jwks").await;
    assert_eq!(jwks.body["keys"].as_array().unwrap().len(), 1);
    // A token from before the restart still validates and can still be exchanged.
    second
        .validator("orders-service")
        .validate(&token)
        .await
        .unwrap();
    second.exchange(&token, &[]).await.token();
    second.stop().await;
}

#[tokio::test]
async fn rotation_from_ps256_to_es256_keeps_earlier_tokens_valid_and_signs_new_ones_with_the_new_key()
 {
    // A server whose first key is PS256 (RSA), as every deployment before ES256 had.
    let mut setup = IdentitySetup::new();
    setup.config.key_reload_interval = Duration::from_millis(100);
    setup.config.signing_alg = Algorithm::Ps256;
    let app = setup.spawn().await;
    let old_kid = app.active_kid.clone();
    let before = app.user_token().await;
    assert_eq!(forge::header_of(&before)["alg"], "PS256");
    let old_event = app.exchange(&before, &[]).await.token();
    assert_eq!(forge::header_of(&old_event)["alg"], "PS256");

    // The same function `identity rotate-key` runs (its default: ES256), while the server is
    // up.
    let new_kid = identity::rotate(&app.data_dir, KeySpec::Es256, zte_auth::unix_now()).unwrap();
    assert_ne!(new_kid, old_kid);
    let kids = zte_testkit::wait_until(
        "the JWKS to publish the new key",
        Duration::from_secs(10),
        || async {
            let jwks = app.get("/jwks").await;
            let kids: Vec<String> = jwks.body["keys"]
                .as_array()?
                .iter()
                .filter_map(|k| k["kid"].as_str().map(str::to_owned))
                .collect();
            kids.contains(&new_kid).then_some(kids)
        },
    )
    .await
    .unwrap();
    assert_eq!(
        kids,
        vec![new_kid.clone(), old_kid.clone()],
        "active first, retired kept"
    );
    // One JWKS with keys of both algorithms during the migration.
    let jwks = app.get("/jwks").await;
    let types: Vec<(&str, &str)> = jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["kty"].as_str().unwrap(), k["alg"].as_str().unwrap()))
        .collect();
    assert_eq!(types, [("EC", "ES256"), ("RSA", "PS256")]);

    let after = app.user_token().await;
    assert_eq!(forge::header_of(&after)["kid"], new_kid.as_str());
    assert_eq!(forge::header_of(&after)["alg"], "ES256");
    // A fresh validator (cold JWKS cache) accepts both, and the PS256 event token issued
    // before the rotation stays valid for Payments.
    let validator = app.validator("orders-service");
    validator.validate(&before).await.unwrap();
    validator.validate(&after).await.unwrap();
    app.validator("payments-service")
        .validate(&old_event)
        .await
        .unwrap();
    // The pre-rotation token can still be exchanged; the event token uses the new key.
    let event = app.exchange(&before, &[]).await.token();
    assert_eq!(forge::header_of(&event)["kid"], new_kid.as_str());
    assert_eq!(forge::header_of(&event)["alg"], "ES256");

    // A token signed by a key that is not in the JWKS fails, here and at the exchange.
    let stranger = test_key();
    let forged = forge::sign(
        &stranger,
        AT_JWT,
        &user_claims(&app.issuer, "demouser", "orders payments"),
    );
    assert_eq!(
        validator.validate(&forged).await,
        Err(TokenError::UnknownKey(stranger.kid().to_owned()))
    );
    app.exchange(&forged, &[])
        .await
        .assert_error(400, "invalid_grant");
    app.stop().await;
}

#[tokio::test]
async fn a_bad_configuration_fails_the_build_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut small = identity::IdentityConfig::local(dir.path());
    small.key_bits = 1024;
    let error = identity::Application::build(small).await.unwrap_err();
    assert!(error.to_string().contains("key-bits"), "{error}");

    let mut issuer = identity::IdentityConfig::local(dir.path());
    issuer.issuer = Some("ftp://x/?q".into());
    let error = identity::Application::build(issuer).await.unwrap_err();
    assert!(error.to_string().contains("--issuer"), "{error}");

    let mut jwk = identity::IdentityConfig::local(dir.path());
    jwk.demo = true;
    jwk.orders_client_jwk = Some(dir.path().join("missing.json"));
    let error = identity::Application::build(jwk).await.unwrap_err();
    assert!(error.to_string().contains("missing.json"), "{error}");

    let mut lifetime = identity::IdentityConfig::local(dir.path());
    lifetime.event_token_lifetime = Duration::from_secs(31 * 24 * 3600);
    let error = identity::Application::build(lifetime).await.unwrap_err();
    assert!(
        error.to_string().contains("--max-token-lifetime"),
        "{error}"
    );
}

/// The kids `app`'s JWKS serves now.
async fn served_kids(app: &zte_testkit::identity::IdentityApp) -> Vec<String> {
    app.get("/jwks").await.body["keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .filter_map(|k| k["kid"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_revoked_key_leaves_the_jwks_and_validators_stop_accepting_it_within_their_refresh_interval()
 {
    const RELOAD: Duration = Duration::from_millis(100);
    const MAX_AGE: Duration = Duration::from_secs(1);
    let mut setup = IdentitySetup::new();
    setup.config.key_reload_interval = RELOAD;
    setup.config.jwks_max_age = MAX_AGE;
    let app = setup.spawn().await;
    let compromised = app.active_kid.clone();
    let user_token = app.user_token().await;
    let event_token = app.exchange(&user_token, &[]).await.token();
    // Validators as Orders and Payments hold them: the key is cached, refreshed on the
    // JWKS's max-age.
    let orders = app.validator("orders-service");
    let payments = app.validator("payments-service");
    orders.validate(&user_token).await.unwrap();
    payments.validate(&event_token).await.unwrap();

    // What `identity revoke-key <kid>` runs, while the server is up: the active key, so a new
    // one replaces it.
    let revoked_at = std::time::Instant::now();
    let revoked = identity::revoke(
        &app.data_dir,
        &compromised,
        KeySpec::Es256,
        zte_auth::unix_now(),
    )
    .unwrap();
    let replacement = revoked.new_active.expect("a new active key");
    zte_testkit::wait_until(
        "the JWKS to drop the revoked key",
        Duration::from_secs(10),
        || async { (served_kids(&app).await == [replacement.clone()]).then_some(()) },
    )
    .await
    .unwrap();
    let unpublished = revoked_at.elapsed();
    // The validators stop accepting it at their next refresh, without being told.
    zte_testkit::wait_until(
        "the validators to refuse the revoked key",
        Duration::from_secs(10),
        || async {
            let refused = orders.validate(&user_token).await
                == Err(TokenError::UnknownKey(compromised.clone()))
                && payments.validate(&event_token).await
                    == Err(TokenError::UnknownKey(compromised.clone()));
            refused.then_some(())
        },
    )
    .await
    .unwrap();
    let refused = revoked_at.elapsed();
    // Bound: the server's reload, then one refresh interval; 1.5 s of slack for a loaded
    // machine (a validator that never refreshed would still accept after 10 s).
    let bound = RELOAD + MAX_AGE + Duration::from_millis(1_500);
    assert!(
        refused <= bound,
        "unpublished after {unpublished:?}, refused after {refused:?} (bound {bound:?})"
    );
    // And for good: the server refuses to exchange it, new tokens use the new key.
    app.exchange(&user_token, &[])
        .await
        .assert_error(400, "invalid_grant");
    let fresh = app.user_token().await;
    assert_eq!(forge::header_of(&fresh)["kid"], replacement.as_str());
    orders.validate(&fresh).await.unwrap();
    assert_eq!(
        orders.validate(&user_token).await,
        Err(TokenError::UnknownKey(compromised.clone()))
    );
    app.stop().await;
}
