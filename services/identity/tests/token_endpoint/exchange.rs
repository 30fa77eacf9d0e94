//! RFC 8693 token exchange: an event token bound to the order through the shared client, and
//! refusals of bad subject tokens, scope escalation and malformed parameters.

use std::time::Duration;

use zte_auth::{
    Actor, TokenError,
    claims::Audience,
    names::{PARAM_EVENT_PAYLOAD_HASH, PARAM_ORDER_TRANSACTION_ID},
    oauth_client::{ClientCredentials, OAuthClientError, TokenClient, TokenExchange},
};
use zte_testkit::{
    forge::{self, AT_JWT},
    identity::{ACCESS_TOKEN_TYPE, IdentityApp},
    tokens::{ORDERS_SERVICE, test_key, user_claims},
};

#[tokio::test]
async fn token_exchange_issues_an_event_token_bound_to_the_order_via_the_shared_client() {
    let app = IdentityApp::spawn().await;
    let user_token = app.user_token().await;
    let client = TokenClient::new(app.token_endpoint(), Duration::from_secs(5)).unwrap();
    let credentials = ClientCredentials {
        client_id: ORDERS_SERVICE.into(),
        key: app.orders_key.clone(),
        assertion_audience: app.issuer.clone(),
    };
    let order = uuid::Uuid::new_v4().to_string();
    let hash = "0123456789abcdef".repeat(4);
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
    assert_eq!(
        response.expires_in,
        Some(7 * 24 * 3600),
        "the topic's retention"
    );
    let claims = app
        .validator("payments-service")
        .validate(&response.access_token)
        .await
        .unwrap();
    assert_eq!(claims.sub, "demouser");
    assert_eq!(claims.client_id, ORDERS_SERVICE);
    assert_eq!(
        claims.act,
        Some(Actor {
            sub: ORDERS_SERVICE.into()
        })
    );
    assert_eq!(claims.aud, Audience::One("payments-service".into()));
    assert_eq!(claims.scope, "trigger_payments");
    assert_eq!(claims.order_transaction_id.as_deref(), Some(order.as_str()));
    assert_eq!(claims.event_payload_hash.as_deref(), Some(hash.as_str()));
    assert_eq!(claims.exp - claims.iat, 7 * 24 * 3600);
    assert_eq!(forge::header_of(&response.access_token)["typ"], "at+jwt");
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
async fn exchange_refuses_subject_tokens_that_are_expired_foreign_or_event_tokens() {
    let app = IdentityApp::spawn().await;
    let key = app.server_key(&app.active_kid);
    let sign = |c: &zte_auth::AccessTokenClaims| forge::sign(&key, AT_JWT, c);
    let now = zte_auth::unix_now();

    let mut expired = user_claims(&app.issuer, "demouser", "orders payments");
    expired.exp = now - 60;
    expired.nbf = now - 960;
    expired.iat = now - 960;
    let mut foreign_issuer = user_claims("http://evil.example", "demouser", "orders payments");
    foreign_issuer.iss = "http://evil.example".into();
    let mut not_for_orders = user_claims(&app.issuer, "demouser", "orders payments");
    not_for_orders.aud = Audience::One("payments-service".into());
    let foreign_key = test_key();
    let foreign_signed = forge::sign(
        &foreign_key,
        AT_JWT,
        &user_claims(&app.issuer, "demouser", "orders"),
    );
    let wrong_typ = forge::sign(&key, "JWT", &user_claims(&app.issuer, "demouser", "orders"));

    // A real event token from a real exchange.
    let event = app.exchange(&app.user_token().await, &[]).await.token();
    // A forged "user" token whose only scope is trigger_payments (an event-token shape).
    let trigger_only = sign(&user_claims(&app.issuer, "demouser", "trigger_payments"));

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
        reply.assert_refused(400, "invalid_grant", case);
    }
    // `orders` from a trigger_payments token: refused; such a token is never a subject.
    let trigger_only = sign(&user_claims(&app.issuer, "demouser", "trigger_payments"));
    app.exchange(&trigger_only, &[("scope", "orders")])
        .await
        .assert_error(400, "invalid_grant");
    app.stop().await;
}

#[tokio::test]
async fn exchange_refuses_scope_escalation() {
    let app = IdentityApp::spawn().await;
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
    assert_eq!(forge::claims_of(&event).scope, "trigger_payments");
    // Scope is required for an exchange.
    app.exchange(&full, &[("scope", "")])
        .await
        .assert_error(400, "invalid_request");
    app.stop().await;
}

#[tokio::test]
async fn exchange_refuses_malformed_or_missing_parameters() {
    let app = IdentityApp::spawn().await;
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
        reply.assert_refused(400, "invalid_request", &format!("{name}={value:?}"));
    }
    app.exchange(&user, &[("audience", "orders-service")])
        .await
        .assert_error(400, "invalid_target");
    app.exchange(&user, &[("audience", "payments-service")])
        .await
        .token();
    app.stop().await;
}
