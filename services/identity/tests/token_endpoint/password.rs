//! The password grant (demo users, scripted use): short-lived user tokens, refusals of bad
//! credentials and clients, and RFC 6749 errors for malformed requests.

use zte_testkit::{
    forge,
    identity::{IdentityApp, JWT_BEARER, PASSWORD},
    tokens::ORDERS_SERVICE,
};

#[tokio::test]
async fn password_grant_issues_a_short_lived_user_token_that_validates_against_the_jwks() {
    let app = IdentityApp::spawn().await;
    let reply = app
        .password_grant("demouser", "Password1", "orders payments")
        .await;
    assert_eq!(reply.headers["cache-control"], "no-store");
    assert_eq!(reply.body["token_type"], "Bearer");
    assert_eq!(reply.body["expires_in"], 900);
    assert_eq!(reply.body["scope"], "orders payments");
    let token = reply.token();
    let header = forge::header_of(&token);
    assert_eq!(
        (&header["alg"], &header["typ"], &header["kid"]),
        (
            &"ES256".into(),
            &"at+jwt".into(),
            &app.active_kid.as_str().into()
        )
    );
    for audience in ["orders-service", "payments-service"] {
        let claims = app.validator(audience).validate(&token).await.unwrap();
        assert_eq!(claims.sub, "demouser");
        assert_eq!(claims.client_id, "demo-cli");
        assert_eq!(claims.exp - claims.iat, 900);
        assert!(claims.nbf <= claims.iat && claims.act.is_none() && !claims.is_event_token());
    }
    // A narrower scope is granted as asked; no scope means everything the client may have.
    let narrow = app.password_grant("demouser2", "Password2", "orders").await;
    assert_eq!(forge::claims_of(&narrow.token()).scope, "orders");
    assert_eq!(forge::claims_of(&narrow.token()).sub, "demouser2");
    let default = app
        .post_form(&[
            ("grant_type", PASSWORD),
            ("client_id", "demo-cli"),
            ("username", "demouser"),
            ("password", "Password1"),
        ])
        .await;
    assert_eq!(forge::claims_of(&default.token()).scope, "orders payments");
    // Two tokens never share a jti.
    let again = app.user_token().await;
    assert_ne!(forge::claims_of(&token).jti, forge::claims_of(&again).jti);
    app.stop().await;
}

#[tokio::test]
async fn password_grant_refuses_bad_credentials_unknown_clients_and_scopes_beyond_the_client() {
    let app = IdentityApp::spawn().await;
    app.password_grant("demouser", "Password2", "orders")
        .await
        .assert_error(400, "invalid_grant");
    app.password_grant("demouser", "password1", "orders")
        .await
        .assert_error(400, "invalid_grant");
    app.password_grant("nobody", "Password1", "orders")
        .await
        .assert_error(400, "invalid_grant");
    for scope in ["trigger_payments", "orders admin", "orders\u{7f}"] {
        app.password_grant("demouser", "Password1", scope)
            .await
            .assert_error(400, "invalid_scope");
    }
    let form = |client: &'static str| {
        vec![
            ("grant_type", PASSWORD),
            ("client_id", client),
            ("username", "demouser"),
            ("password", "Password1"),
        ]
    };
    app.post_form(&form("evil-cli"))
        .await
        .assert_error(401, "invalid_client");
    // A confidential client cannot skip authentication by naming itself ...
    app.post_form(&form(ORDERS_SERVICE))
        .await
        .assert_error(401, "invalid_client");
    // ... and when authenticated it still may not use the password grant.
    let assertion = app.assertion();
    let mut authenticated = form(ORDERS_SERVICE);
    authenticated.extend([
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion.as_str()),
    ]);
    app.post_form(&authenticated)
        .await
        .assert_error(400, "unauthorized_client");
    // No client at all.
    app.post_form(&[
        ("grant_type", PASSWORD),
        ("username", "demouser"),
        ("password", "Password1"),
    ])
    .await
    .assert_error(401, "invalid_client");
    app.stop().await;
}

#[tokio::test]
async fn malformed_requests_get_rfc6749_errors_and_never_break_the_server() {
    let app = IdentityApp::spawn().await;
    app.post_form(&[("client_id", "demo-cli")])
        .await
        .assert_error(400, "invalid_request");
    for grant in [
        "authorization_code",
        "client_credentials",
        "token-exchange",
        "x",
    ] {
        app.post_form(&[("grant_type", grant), ("client_id", "demo-cli")])
            .await
            .assert_error(400, "unsupported_grant_type");
    }
    app.post_form(&[
        ("grant_type", PASSWORD),
        ("client_id", "demo-cli"),
        ("username", "demouser"),
    ])
    .await
    .assert_error(400, "invalid_request");
    app.post_form(&[
        ("grant_type", PASSWORD),
        ("grant_type", PASSWORD),
        ("client_id", "demo-cli"),
    ])
    .await
    .assert_error(400, "invalid_request");
    app.post_raw("application/json", br#"{"grant_type":"password"}"#.to_vec())
        .await
        .assert_error(400, "invalid_request");
    app.post_raw(
        "application/x-www-form-urlencoded",
        vec![0xff, 0xfe, b'=', 0x00, b'&', b'%'],
    )
    .await
    .assert_error(400, "invalid_request");
    // Oversized body: refused before parsing, with an RFC 6749 body.
    let big = format!(
        "grant_type=password&client_id=demo-cli&username=demouser&password={}",
        "A".repeat(20 * 1024)
    );
    let reply = app
        .post_raw("application/x-www-form-urlencoded", big.into_bytes())
        .await;
    assert_eq!((reply.status, reply.error()), (413, "invalid_request"));
    // Wrong method.
    let get = app.get("/token").await;
    assert_eq!(get.status, 405);
    // Still serving.
    app.user_token().await;
    app.stop().await;
}

#[tokio::test]
async fn a_token_asked_for_one_resource_names_only_that_api() {
    use zte_auth::{
        TokenError,
        names::{ORDERS_RESOURCE, PAYMENTS_RESOURCE},
    };
    let app = IdentityApp::spawn().await;
    let grant = |resources: &'static [&'static str]| {
        let mut form = vec![
            ("grant_type", PASSWORD),
            ("client_id", "demo-cli"),
            ("username", "demouser"),
            ("password", "Password1"),
            ("scope", "orders payments"),
        ];
        form.extend(resources.iter().map(|r| ("resource", *r)));
        form
    };
    // Asked for the Payments API only: a token captured there cannot create orders.
    let payments_only = app.post_form(&grant(&[PAYMENTS_RESOURCE])).await.token();
    app.validator("payments-service")
        .validate(&payments_only)
        .await
        .unwrap();
    assert_eq!(
        app.validator("orders-service")
            .validate(&payments_only)
            .await,
        Err(TokenError::WrongAudience)
    );
    let orders_only = app.post_form(&grant(&[ORDERS_RESOURCE])).await.token();
    app.validator("orders-service")
        .validate(&orders_only)
        .await
        .unwrap();
    assert_eq!(
        app.validator("payments-service")
            .validate(&orders_only)
            .await,
        Err(TokenError::WrongAudience)
    );
    // Both asked (RFC 8707 lets `resource` repeat), or none: both APIs.
    for resources in [&[ORDERS_RESOURCE, PAYMENTS_RESOURCE][..], &[]] {
        let token = app.post_form(&grant(resources)).await.token();
        for audience in ["orders-service", "payments-service"] {
            app.validator(audience).validate(&token).await.unwrap();
        }
    }
    // An unknown resource, or a URL of nothing this server issues for: invalid_target.
    for bad in [
        &["urn:zte:api:admin"][..],
        &["https://evil.example/api"],
        &[ORDERS_RESOURCE, "orders-service"],
    ] {
        app.post_form(&grant(bad))
            .await
            .assert_error(400, "invalid_target");
    }
    app.stop().await;
}

/// A 429 answer as RFC 6749 words errors, with the seconds to wait.
fn retry_after(reply: &zte_testkit::identity::Reply) -> u64 {
    reply.assert_error(429, "temporarily_unavailable");
    reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn password_attempts_are_limited_per_user_and_per_address_with_retry_after() {
    use std::num::NonZeroU32;
    let mut setup = zte_testkit::identity::IdentitySetup::new();
    setup.config.password_attempts_per_user = NonZeroU32::new(3).unwrap();
    setup.config.password_attempts_per_address = NonZeroU32::new(6).unwrap();
    let app = setup.spawn().await;
    // Three wrong guesses for demouser are answered; the fourth attempt is refused before
    // any check, even with the right password, for about a minute / 3.
    for _ in 0..3 {
        app.password_grant("demouser", "guess", "orders")
            .await
            .assert_error(400, "invalid_grant");
    }
    let refused = app.password_grant("demouser", "Password1", "orders").await;
    let wait = retry_after(&refused);
    assert!((1..=20).contains(&wait), "Retry-After {wait}");
    // Another user from the same address has a budget of its own ...
    app.password_grant("demouser2", "Password2", "orders")
        .await
        .token();
    app.password_grant("demouser2", "Password2", "orders")
        .await
        .token();
    // ... until the address has spent its six attempts, whoever they were for.
    let refused = app.password_grant("demouser2", "Password2", "orders").await;
    assert!(retry_after(&refused) >= 1);
    assert!(
        refused.body["error_description"]
            .as_str()
            .unwrap()
            .contains("address")
    );
    app.stop().await;
}

#[tokio::test]
async fn password_verifications_beyond_the_queue_are_refused_at_once_with_retry_after() {
    let mut setup = zte_testkit::identity::IdentitySetup::new();
    setup.config.password_queue = 0;
    setup.config.password_attempts_per_user = std::num::NonZeroU32::new(100).unwrap();
    let app = std::sync::Arc::new(setup.spawn().await);
    // 24 logins at once against 4 argon2 slots and no queue: some are served, the others
    // are told to come back in a second rather than piling up.
    let logins: Vec<_> = (0..24)
        .map(|i| {
            let app = app.clone();
            let (user, password) = if i % 2 == 0 {
                ("demouser", "Password1")
            } else {
                ("demouser2", "Password2")
            };
            tokio::spawn(async move { app.password_grant(user, password, "orders").await })
        })
        .collect();
    let (mut served, mut refused) = (0, 0);
    for login in logins {
        let reply = login.await.unwrap();
        if reply.status == 200 {
            served += 1;
        } else {
            assert_eq!(retry_after(&reply), 1);
            refused += 1;
        }
    }
    assert!(
        served >= 4 && refused >= 1,
        "served {served}, refused {refused}"
    );
}
