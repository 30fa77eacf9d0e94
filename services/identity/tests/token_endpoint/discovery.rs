//! What a client discovers: metadata, the JWKS (public parts only) and health.

use zte_testkit::identity::{EXCHANGE, IdentityApp};

#[tokio::test]
async fn metadata_jwks_and_health_describe_an_es256_private_key_jwt_server() {
    let app = IdentityApp::spawn().await;
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
        serde_json::json!(["ES256", "PS256"])
    );
    assert_eq!(
        b["introspection_endpoint"],
        format!("{}/introspect", app.issuer).as_str()
    );
    assert_eq!(
        b["revocation_endpoint"],
        format!("{}/revoke", app.issuer).as_str()
    );
    assert_eq!(
        b["introspection_endpoint_auth_methods_supported"],
        serde_json::json!(["private_key_jwt"])
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
        (
            &key["kid"],
            &key["alg"],
            &key["use"],
            &key["kty"],
            &key["crv"]
        ),
        (
            &app.active_kid.as_str().into(),
            &"ES256".into(),
            &"sig".into(),
            &"EC".into(),
            &"P-256".into()
        )
    );
    for private in ["d", "p", "q", "dp", "dq", "qi", "n", "e"] {
        assert!(key.get(private).is_none(), "JWKS leaks {private}");
    }
    let health = app.get("/healthz").await;
    assert_eq!((health.status, &health.body["status"]), (200, &"ok".into()));
    app.stop().await;
}
