//! Client authentication (`private_key_jwt`, RFC 7523): every spoiled or forged assertion is
//! `invalid_client`, a `jti` is never accepted twice, and public clients may not exchange.

use zte_auth::claims::Audience;
use zte_testkit::{forge, identity::IdentityApp, tokens::test_key};

#[tokio::test]
async fn client_assertion_attacks_are_refused_as_invalid_client() {
    let app = IdentityApp::spawn().await;
    let user = app.user_token().await;
    let valid = app.assertion_claims();
    let now = zte_auth::unix_now();
    let spoil = |f: &dyn Fn(&mut zte_auth::ClientAssertionClaims)| {
        let mut c = app.assertion_claims();
        f(&mut c);
        app.sign_assertion(&c)
    };
    let foreign = test_key();
    let victim = &app.orders_key;
    let foreign_signed = forge::sign(&foreign, "JWT", &valid);
    let spliced = forge::foreign_key_under_kid(&foreign, victim, "JWT", &valid);
    let none = forge::alg_none(victim, "JWT", &valid);
    let hs256 = forge::hs256_keyed_with_public_key(victim, "JWT", &valid);
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
        ("foreign key under the registered kid", spliced),
        ("alg none", none),
        ("HS256 with the public key", hs256),
        ("a user access token", user.clone()),
        ("garbage", "a.b.c".into()),
    ];
    for (case, assertion) in cases {
        let reply = app
            .post_owned(&app.exchange_form(&assertion, &user, &[]))
            .await;
        reply.assert_refused(401, "invalid_client", case);
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
