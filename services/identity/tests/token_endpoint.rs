//! The token endpoint, metadata and JWKS over real HTTP with real crypto: every rule has a
//! test that tries to break it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use support::*;
use zte_auth::{
    Actor, SigningKey, TokenError,
    claims::Audience,
    jws,
    names::{PARAM_EVENT_PAYLOAD_HASH, PARAM_ORDER_TRANSACTION_ID},
    oauth_client::{ClientCredentials, OAuthClientError, TokenClient, TokenExchange},
};

#[tokio::test]
async fn metadata_jwks_and_health_describe_a_ps256_private_key_jwt_server() {
    let app = spawn_app().await;
    let meta = app.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(meta.status, 200);
    let b = &meta.body;
    assert_eq!(b["issuer"], app.issuer.as_str());
    assert_eq!(b["token_endpoint"], app.token_endpoint().as_str());
    assert_eq!(b["jwks_uri"], format!("{}/jwks", app.issuer).as_str());
    assert_eq!(
        b["grant_types_supported"],
        serde_json::json!(["password", EXCHANGE])
    );
    assert!(
        b["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&"private_key_jwt".into())
    );
    assert_eq!(
        b["token_endpoint_auth_signing_alg_values_supported"],
        serde_json::json!(["PS256"])
    );

    let jwks = app.get("/jwks").await;
    assert_eq!(jwks.status, 200);
    assert!(
        jwks.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let keys = jwks.body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(
        (&key["kid"], &key["alg"], &key["use"], &key["kty"]),
        (
            &app.active_kid.as_str().into(),
            &"PS256".into(),
            &"sig".into(),
            &"RSA".into()
        )
    );
    for private in ["d", "p", "q", "dp", "dq", "qi"] {
        assert!(key.get(private).is_none(), "JWKS leaks {private}");
    }
    let health = app.get("/healthz").await;
    assert_eq!((health.status, &health.body["status"]), (200, &"ok".into()));
    app.stop().await;
}

#[tokio::test]
async fn password_grant_issues_a_short_lived_user_token_that_validates_against_the_jwks() {
    let app = spawn_app().await;
    let reply = app
        .password_grant("demouser", "Password1", "orders payments")
        .await;
    assert_eq!(reply.headers["cache-control"], "no-store");
    assert_eq!(reply.body["token_type"], "Bearer");
    assert_eq!(reply.body["expires_in"], 900);
    assert_eq!(reply.body["scope"], "orders payments");
    let token = reply.token();
    let header = header_of(&token);
    assert_eq!(
        (&header["alg"], &header["typ"], &header["kid"]),
        (
            &"PS256".into(),
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
    assert_eq!(claims_of(&narrow.token()).scope, "orders");
    assert_eq!(claims_of(&narrow.token()).sub, "demouser2");
    let default = app
        .post_form(&[
            ("grant_type", PASSWORD),
            ("client_id", "demo-cli"),
            ("username", "demouser"),
            ("password", "Password1"),
        ])
        .await;
    assert_eq!(claims_of(&default.token()).scope, "orders payments");
    // Two tokens never share a jti.
    let again = app.user_token().await;
    assert_ne!(claims_of(&token).jti, claims_of(&again).jti);
    app.stop().await;
}

#[tokio::test]
async fn password_grant_refuses_bad_credentials_unknown_clients_and_scopes_beyond_the_client() {
    let app = spawn_app().await;
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
    app.post_form(&form(ORDERS))
        .await
        .assert_error(401, "invalid_client");
    // ... and when authenticated it still may not use the password grant.
    let assertion = app.assertion();
    let mut authenticated = form(ORDERS);
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
    let app = spawn_app().await;
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
async fn token_exchange_issues_an_event_token_bound_to_the_order_via_the_shared_client() {
    let app = spawn_app().await;
    let user_token = app.user_token().await;
    let client = TokenClient::new(app.token_endpoint(), Duration::from_secs(5)).unwrap();
    let credentials = ClientCredentials {
        client_id: ORDERS.into(),
        key: app.orders_key.clone(),
        assertion_audience: app.issuer.clone(),
    };
    let order = uuid::Uuid::new_v4().to_string();
    let hash = "0123456789abcdef".repeat(4);
    // The event-token exchange as Orders asks for it.
    let binding = [
        (PARAM_ORDER_TRANSACTION_ID, order.as_str()),
        (PARAM_EVENT_PAYLOAD_HASH, hash.as_str()),
    ];
    let event_exchange = |subject_token| TokenExchange {
        subject_token,
        scope: "trigger_payments",
        extra: &binding,
    };
    let response = client
        .token_exchange(&credentials, event_exchange(&user_token))
        .await
        .unwrap();
    assert_eq!(response.token_type, "Bearer");
    assert_eq!(
        response.issued_token_type.as_deref(),
        Some(ACCESS_TOKEN_TYPE)
    );
    assert_eq!(response.scope.as_deref(), Some("trigger_payments"));
    assert_eq!(response.expires_in, Some(365 * 24 * 3600));
    let claims = app
        .validator("payments-service")
        .validate(&response.access_token)
        .await
        .unwrap();
    assert_eq!(claims.sub, "demouser");
    assert_eq!(claims.client_id, ORDERS);
    assert_eq!(claims.act, Some(Actor { sub: ORDERS.into() }));
    assert_eq!(claims.aud, Audience::One("payments-service".into()));
    assert_eq!(claims.scope, "trigger_payments");
    assert_eq!(claims.order_transaction_id.as_deref(), Some(order.as_str()));
    assert_eq!(claims.event_payload_hash.as_deref(), Some(hash.as_str()));
    assert_eq!(claims.exp - claims.iat, 365 * 24 * 3600);
    assert_eq!(header_of(&response.access_token)["typ"], "at+jwt");
    // Not usable where user tokens go.
    assert_eq!(
        app.validator("orders-service")
            .validate(&response.access_token)
            .await,
        Err(TokenError::WrongAudience)
    );
    // The token endpoint URL is an accepted assertion audience too.
    let via_endpoint = ClientCredentials {
        assertion_audience: app.token_endpoint(),
        ..credentials
    };
    client
        .token_exchange(&via_endpoint, event_exchange(&user_token))
        .await
        .unwrap();
    // The shared client's error mapping against the real server: a 4xx is not transient.
    let error = client
        .token_exchange(&via_endpoint, event_exchange("not-a-token"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, OAuthClientError::Rejected { status: 400, error, .. } if error == "invalid_grant"),
        "{error:?}"
    );
    let error = client
        .password_grant("demo-cli", "demouser", "nope", "orders")
        .await
        .unwrap_err();
    assert!(!error.is_transient());
    app.stop().await;
}

#[tokio::test]
async fn client_assertion_attacks_are_refused_as_invalid_client() {
    let app = spawn_app().await;
    let user = app.user_token().await;
    let valid = app.assertion_claims();
    let now = zte_auth::unix_now();
    let spoil = |f: &dyn Fn(&mut zte_auth::ClientAssertionClaims)| {
        let mut c = app.assertion_claims();
        f(&mut c);
        app.sign_assertion(&c)
    };
    let foreign = SigningKey::generate(2048).unwrap();
    let foreign_signed = jws::sign(&foreign, "JWT", &valid).unwrap();
    // The foreign signature under the registered kid.
    let mut spliced: Vec<String> = foreign_signed.split('.').map(str::to_owned).collect();
    spliced[0] = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"alg":"PS256","typ":"JWT","kid":"{}"}}"#,
        app.orders_key.kid()
    ));
    let kid = app.orders_key.kid().to_owned();
    let none = raw_jws(&format!(r#"{{"alg":"none","kid":"{kid}"}}"#), &valid, b"");
    let hs_header = format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{kid}"}}"#);
    let hs_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&hs_header),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&valid).unwrap())
    );
    let secret = serde_json::to_vec(&app.orders_key.public_jwk()).unwrap();
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret),
        hs_input.as_bytes(),
    );
    let hs256 = format!("{hs_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
    let cases: Vec<(&str, String)> = vec![
        (
            "wrong aud",
            spoil(&|c| c.aud = Audience::One("http://other-as".into())),
        ),
        ("expired", spoil(&|c| c.exp = now - 60)),
        ("exp too far ahead", spoil(&|c| c.exp = now + 3600)),
        ("nbf in the future", spoil(&|c| c.nbf = Some(now + 120))),
        ("iss != sub", spoil(&|c| c.sub = "demouser".into())),
        (
            "unknown client",
            spoil(&|c| {
                c.iss = "evil".into();
                c.sub = "evil".into();
            }),
        ),
        (
            "public client",
            spoil(&|c| {
                c.iss = "demo-cli".into();
                c.sub = "demo-cli".into();
            }),
        ),
        ("empty jti", spoil(&|c| c.jti = String::new())),
        ("foreign key", foreign_signed),
        ("foreign key under the registered kid", spliced.join(".")),
        ("alg none", none),
        ("HS256 with the public key", hs256),
        ("a user access token", user.clone()),
        ("garbage", "a.b.c".into()),
    ];
    for (case, assertion) in cases {
        let reply = app
            .post_owned(&app.exchange_form(&assertion, &user, &[]))
            .await;
        assert_eq!(
            (reply.status, reply.error()),
            (401, "invalid_client"),
            "{case}: {}",
            reply.body
        );
        reply.assert_error(401, "invalid_client");
    }

    // Replay: the first use works, the second is refused.
    let once = app.sign_assertion(&app.assertion_claims());
    app.post_owned(&app.exchange_form(&once, &user, &[]))
        .await
        .token();
    app.post_owned(&app.exchange_form(&once, &user, &[]))
        .await
        .assert_error(401, "invalid_client");
    // A jti is refused again even if the first request failed after authentication.
    let burned = app.sign_assertion(&app.assertion_claims());
    app.post_owned(&app.exchange_form(&burned, &user, &[("scope", "orders")]))
        .await
        .assert_error(400, "invalid_scope");
    app.post_owned(&app.exchange_form(&burned, &user, &[]))
        .await
        .assert_error(401, "invalid_client");

    // client_id that contradicts the assertion; wrong assertion type; assertion without type.
    app.exchange(&user, &[("client_id", "demo-cli")])
        .await
        .assert_error(401, "invalid_client");
    app.exchange(&user, &[("client_assertion_type", "urn:example:saml")])
        .await
        .assert_error(401, "invalid_client");
    app.exchange(&user, &[("client_assertion_type", "")])
        .await
        .assert_error(400, "invalid_request");
    // A public client may not exchange at all.
    let mut public = app.exchange_form("", &user, &[("client_assertion_type", "")]);
    public.retain(|(n, _)| *n != "client_assertion");
    public.push(("client_id", "demo-cli".into()));
    app.post_owned(&public)
        .await
        .assert_error(400, "unauthorized_client");
    app.stop().await;
}

#[tokio::test]
async fn exchange_refuses_subject_tokens_that_are_expired_foreign_or_event_tokens() {
    let app = spawn_app().await;
    let key = app.server_key(&app.active_kid);
    let sign = |c: &zte_auth::AccessTokenClaims| jws::sign(&key, "at+jwt", c).unwrap();
    let now = zte_auth::unix_now();

    let mut expired = user_claims(&app.issuer, "orders payments");
    expired.exp = now - 60;
    expired.nbf = now - 960;
    expired.iat = now - 960;
    let mut foreign_issuer = user_claims("http://evil.example", "orders payments");
    foreign_issuer.iss = "http://evil.example".into();
    let mut not_for_orders = user_claims(&app.issuer, "orders payments");
    not_for_orders.aud = Audience::One("payments-service".into());
    let foreign_key = SigningKey::generate(2048).unwrap();
    let foreign_signed =
        jws::sign(&foreign_key, "at+jwt", &user_claims(&app.issuer, "orders")).unwrap();
    let wrong_typ = jws::sign(&key, "JWT", &user_claims(&app.issuer, "orders")).unwrap();

    // A real event token from a real exchange.
    let event = app.exchange(&app.user_token().await, &[]).await.token();
    // A forged "user" token whose only scope is trigger_payments (an event-token shape).
    let trigger_only = sign(&user_claims(&app.issuer, "trigger_payments"));

    let cases: Vec<(&str, String)> = vec![
        ("expired", sign(&expired)),
        ("foreign issuer", sign(&foreign_issuer)),
        ("audience without orders-service", sign(&not_for_orders)),
        ("signed by a key not in the JWKS", foreign_signed),
        ("typ JWT", wrong_typ),
        ("event token", event),
        ("trigger_payments token", trigger_only),
        ("garbage", "x.y.z".into()),
    ];
    for (case, subject) in cases {
        let reply = app.exchange(&subject, &[]).await;
        assert_eq!(
            (reply.status, reply.error()),
            (400, "invalid_grant"),
            "{case}: {}",
            reply.body
        );
    }
    // `orders` from a trigger_payments token: refused; such a token is never a subject.
    let trigger_only = sign(&user_claims(&app.issuer, "trigger_payments"));
    app.exchange(&trigger_only, &[("scope", "orders")])
        .await
        .assert_error(400, "invalid_grant");
    app.stop().await;
}

#[tokio::test]
async fn exchange_refuses_scope_escalation() {
    let app = spawn_app().await;
    let full = app.user_token().await;
    // Scopes the client may not request, even though the user holds them.
    for scope in ["orders", "payments", "orders trigger_payments", "admin"] {
        app.exchange(&full, &[("scope", scope)])
            .await
            .assert_error(400, "invalid_scope");
    }
    // trigger_payments narrows `orders`: a token without `orders` cannot get it.
    let payments_only = app
        .password_grant("demouser", "Password1", "payments")
        .await
        .token();
    app.exchange(&payments_only, &[])
        .await
        .assert_error(400, "invalid_scope");
    // With `orders` it works.
    let orders_only = app
        .password_grant("demouser", "Password1", "orders")
        .await
        .token();
    let event = app.exchange(&orders_only, &[]).await.token();
    assert_eq!(claims_of(&event).scope, "trigger_payments");
    // Scope is required for an exchange.
    app.exchange(&full, &[("scope", "")])
        .await
        .assert_error(400, "invalid_request");
    app.stop().await;
}

#[tokio::test]
async fn exchange_refuses_malformed_or_missing_parameters() {
    let app = spawn_app().await;
    let user = app.user_token().await;
    let upper = "AB".repeat(32);
    let short = "ab".repeat(31);
    let nonhex = "zz".repeat(32);
    let long = "ab".repeat(33);
    let cases: Vec<(&'static str, &str)> = vec![
        ("order_transaction_id", "not-a-uuid"),
        (
            "order_transaction_id",
            "6F1C2B1E-2F7A-4A53-9D3C-0A6F1E2D3C4B",
        ),
        ("order_transaction_id", "6f1c2b1e2f7a4a539d3c0a6f1e2d3c4b"),
        ("order_transaction_id", ""),
        ("event_payload_hash", &upper),
        ("event_payload_hash", &short),
        ("event_payload_hash", &long),
        ("event_payload_hash", &nonhex),
        ("event_payload_hash", ""),
        ("subject_token", ""),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:id_token",
        ),
        ("subject_token_type", ""),
        (
            "requested_token_type",
            "urn:ietf:params:oauth:token-type:refresh_token",
        ),
        ("actor_token", "x.y.z"),
    ];
    for (name, value) in cases {
        let reply = app.exchange(&user, &[(name, value)]).await;
        assert_eq!(
            (reply.status, reply.error()),
            (400, "invalid_request"),
            "{name}={value:?}: {}",
            reply.body
        );
    }
    app.exchange(&user, &[("audience", "orders-service")])
        .await
        .assert_error(400, "invalid_target");
    app.exchange(&user, &[("audience", "payments-service")])
        .await
        .token();
    app.stop().await;
}
