//! Opaque tokens of internet clients, their introspection by the gateway (RFC 7662, RFC 9701)
//! and their revocation (RFC 7009): only the gateway learns what a token stands for, and
//! never for a token that is unknown, expired or revoked.

use std::time::Duration;

use serde_json::Value;
use zte_auth::{IntrospectionJwtClaims, jws, names::INTROSPECTION_JWT_HEADER};
use zte_testkit::{
    forge,
    identity::{IdentityApp, IdentitySetup, JWT_BEARER, Reply},
    tokens::{DEMO_CLIENT, DEMO_INTERNET_CLIENT, GATEWAY_CLIENT},
    wait_until,
};

/// Asserts an inactive answer: `{"active": false}` and no JWT anywhere.
#[track_caller]
fn assert_inactive(reply: &Reply, case: &str) {
    assert_eq!(reply.status, 200, "{case}: {}", reply.body);
    assert_eq!(reply.body, serde_json::json!({"active": false}), "{case}");
    assert!(
        !reply.headers.contains_key(INTROSPECTION_JWT_HEADER),
        "{case}: a JWT for an inactive token"
    );
    assert_eq!(reply.headers["cache-control"], "no-store", "{case}");
}

fn jwt_of(reply: &Reply) -> String {
    reply.headers[INTROSPECTION_JWT_HEADER]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn an_internet_client_gets_an_opaque_token_the_gateway_swaps_for_the_same_jwt() {
    let app = IdentityApp::spawn().await;
    let (user, password) = ("demouser", "Password1");
    let reply = app
        .post_form(&[
            ("grant_type", "password"),
            ("client_id", DEMO_INTERNET_CLIENT),
            ("username", user),
            ("password", password),
            ("scope", "orders payments"),
        ])
        .await;
    assert_eq!(
        (&reply.body["token_type"], &reply.body["expires_in"]),
        (&"Bearer".into(), &900.into())
    );
    let opaque = reply.token();
    assert!(
        opaque.starts_with("zto_") && !opaque.contains('.'),
        "{opaque}"
    );
    assert!(opaque.len() >= 4 + 43, "at least 256 bits: {opaque}");
    // A client that is not an internet client still gets a JWT.
    let jwt = app.password_grant(user, password, "orders").await.token();
    assert_eq!(jwt.split('.').count(), 3);

    let answer = app.introspect(&opaque, None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.headers["cache-control"], "no-store");
    let b = &answer.body;
    assert_eq!(
        (&b["active"], &b["token_type"]),
        (&true.into(), &"Bearer".into())
    );
    assert_eq!(
        (&b["sub"], &b["client_id"]),
        (&user.into(), &DEMO_INTERNET_CLIENT.into())
    );
    assert_eq!(b["scope"], "orders payments");
    // The JWT behind it: valid for both APIs, with exactly the claims introspection shows.
    let behind = jwt_of(&answer);
    for audience in ["orders-service", "payments-service"] {
        let claims = app.validator(audience).validate(&behind).await.unwrap();
        assert_eq!(serde_json::to_value(&claims).unwrap()["jti"], b["jti"]);
        assert_eq!(
            (claims.exp, claims.iat),
            (b["exp"].as_i64().unwrap(), b["iat"].as_i64().unwrap())
        );
        assert_eq!(claims.exp - claims.iat, 900, "the same lifetime");
    }
    app.stop().await;
}

#[tokio::test]
async fn introspection_is_refused_to_anyone_but_an_authenticated_introspecting_client() {
    let app = IdentityApp::spawn().await;
    let opaque = app.opaque_token().await;
    let cases: [(&str, Vec<(&str, String)>); 4] = [
        ("no client authentication", vec![]),
        (
            "a public client",
            vec![("client_id", DEMO_INTERNET_CLIENT.into())],
        ),
        (
            "a confidential client not registered for introspection",
            vec![
                ("client_assertion_type", JWT_BEARER.into()),
                ("client_assertion", app.assertion()),
            ],
        ),
        (
            "the gateway's id without its assertion",
            vec![("client_id", GATEWAY_CLIENT.into())],
        ),
    ];
    for (case, auth) in cases {
        let mut form: Vec<(&str, &str)> = auth.iter().map(|(n, v)| (*n, v.as_str())).collect();
        form.push(("token", &opaque));
        let reply = app.post_form_to("/introspect", &form).await;
        reply.assert_refused(401, "invalid_client", case);
        assert!(
            !reply.headers.contains_key(INTROSPECTION_JWT_HEADER),
            "{case}"
        );
        assert!(
            !reply.body.to_string().contains("eyJ"),
            "{case}: a JWT in the body"
        );
    }
    // A replayed gateway assertion is refused too.
    let assertion = app.gateway_assertion();
    let form = [
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion.as_str()),
        ("token", opaque.as_str()),
    ];
    assert_eq!(app.post_form_to("/introspect", &form).await.status, 200);
    app.post_form_to("/introspect", &form).await.assert_refused(
        401,
        "invalid_client",
        "a replayed assertion",
    );
    // The gateway without a token parameter.
    let form = [
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", &app.gateway_assertion()),
    ];
    app.post_form_to("/introspect", &form)
        .await
        .assert_error(400, "invalid_request");
    app.stop().await;
}

#[tokio::test]
async fn unknown_tokens_jwts_and_revoked_tokens_are_inactive_and_never_yield_a_jwt() {
    let app = IdentityApp::spawn().await;
    let unknown = format!("zto_{}", "A".repeat(43));
    assert_inactive(&app.introspect(&unknown, None).await, "an unknown token");
    let jwt = app.user_token().await;
    assert_inactive(&app.introspect(&jwt, None).await, "a JWT");

    let opaque = app.opaque_token().await;
    assert_eq!(app.introspect(&opaque, None).await.body["active"], true);
    // Another client may not revoke it; the token stays active.
    app.post_form_to("/revoke", &[("client_id", DEMO_CLIENT), ("token", &opaque)])
        .await
        .assert_error(400, "unauthorized_client");
    assert_eq!(app.introspect(&opaque, None).await.body["active"], true);
    // Its own client revokes it (a public client by its client_id).
    let revoked = app
        .post_form_to(
            "/revoke",
            &[("client_id", DEMO_INTERNET_CLIENT), ("token", &opaque)],
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_inactive(&app.introspect(&opaque, None).await, "a revoked token");
    // Revoking it again, or an unknown token, is answered 200 (RFC 7009 §2.2); without
    // client authentication it is refused.
    for token in [opaque.as_str(), unknown.as_str()] {
        let again = app
            .post_form_to(
                "/revoke",
                &[("client_id", DEMO_INTERNET_CLIENT), ("token", token)],
            )
            .await;
        assert_eq!(again.status, 200);
    }
    app.post_form_to("/revoke", &[("token", &unknown)])
        .await
        .assert_error(401, "invalid_client");
    app.stop().await;
}

#[tokio::test]
async fn an_expired_opaque_token_is_inactive() {
    let mut setup = IdentitySetup::new();
    setup.config.user_token_lifetime = Duration::from_secs(1);
    let app = setup.spawn().await;
    let opaque = app.opaque_token().await;
    wait_until(
        "the opaque token to expire",
        Duration::from_secs(10),
        || async {
            let reply = app.introspect(&opaque, None).await;
            (reply.body["active"] == false).then_some(reply)
        },
    )
    .await
    .map(|reply| assert_inactive(&reply, "an expired token"))
    .unwrap();
    app.stop().await;
}

#[tokio::test]
async fn a_jwt_introspection_response_is_signed_by_the_server_for_the_gateway() {
    let app = IdentityApp::spawn().await;
    let opaque = app.opaque_token().await;
    let media = "application/token-introspection+jwt";
    let decode = |reply: &Reply| -> IntrospectionJwtClaims {
        assert_eq!(reply.status, 200);
        assert_eq!(reply.headers["content-type"], media);
        let Value::String(signed) = &reply.body else {
            panic!("not a JWT: {}", reply.body)
        };
        assert_eq!(forge::header_of(signed)["typ"], "token-introspection+jwt");
        let key = app.server_key(&forge::kid_of(signed));
        jws::verify(signed, key.verifying_key()).unwrap()
    };
    let active = app.introspect(&opaque, Some(media)).await;
    let claims = decode(&active);
    assert_eq!(
        (claims.iss.as_str(), claims.aud.as_str()),
        (app.issuer.as_str(), GATEWAY_CLIENT)
    );
    assert_eq!(claims.token_introspection["active"], true);
    assert_eq!(claims.token_introspection["sub"], "demouser");
    assert_eq!(
        claims.token_introspection["client_id"],
        DEMO_INTERNET_CLIENT
    );
    assert!(active.headers.contains_key(INTROSPECTION_JWT_HEADER));

    let inactive = app.introspect("zto_nothing", Some(media)).await;
    assert_eq!(
        decode(&inactive).token_introspection,
        serde_json::json!({"active": false})
    );
    assert!(!inactive.headers.contains_key(INTROSPECTION_JWT_HEADER));
    app.stop().await;
}
