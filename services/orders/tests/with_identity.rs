//! The happy path against the REAL identity service (in-process) and a real Kafka broker:
//! password grant for a demo user, CreateOrder, and the record on the topic carries an event
//! token the identity service issued by token exchange, bound to the exact payload bytes.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use prost::Message as _;
use zte_proto::events::v1::OrderCreated;
use zte_runtime::ClientAuth;
use zte_testkit::{
    clients::{ITEMS, order_request},
    events::{assert_event_token, only_event},
    identity::IdentitySetup,
    orders::OrdersSetup,
    pki::pki,
    tokens::{ORDERS_SERVICE, PAYMENTS_SERVICE},
};

#[tokio::test]
async fn real_identity_issues_a_bound_event_token_for_the_published_order() {
    // Orders' own key pair, made by `orders keygen` and registered at identity.
    let dir = tempfile::tempdir().unwrap();
    let keygen = orders::KeygenArgs::new(
        dir.path().join("client-key.pk8"),
        dir.path().join("client-jwk.json"),
    );
    orders::keygen(&keygen).unwrap();
    let keygen = keygen.files;
    let jwk = zte_auth::PublicJwk::read_file(&keygen.public_jwk).unwrap();
    assert_eq!(
        (jwk.kty.as_str(), jwk.alg.as_deref()),
        ("EC", Some("ES256"))
    );
    // Both hops over TLS with the project PKI, identity requiring Orders' client certificate
    // (mutual TLS): the JWKS fetch and the token exchange travel encrypted and authenticated.
    let pki = pki();
    let mut identity = IdentitySetup::new();
    identity.config.orders_client_jwk = Some(keygen.public_jwk.clone());
    identity.config.tls = pki.mutual_tls("identity", ClientAuth::Required);
    let identity = identity.spawn().await;
    assert!(
        identity.issuer.starts_with("https://"),
        "{}",
        identity.issuer
    );

    let mut orders = OrdersSetup::new(&identity.issuer).await;
    orders.config.service.client_key = Some(keygen.client_key.clone());
    orders.config.service.tls = pki.tls("orders");
    let app = orders.spawn().await;
    let consumer = app.consumer();

    let user_token = identity.user_token().await;
    let user = identity
        .validator(ORDERS_SERVICE)
        .validate(&user_token)
        .await
        .unwrap();

    let order = app
        .create_order(&user_token, order_request(ITEMS))
        .await
        .unwrap();
    assert_eq!(order.user_id, user.sub);

    let envelope = only_event(
        &consumer,
        Duration::from_secs(3),
        &order.order_transaction_id,
    )
    .await;
    let claims = assert_event_token(
        &identity.validator(PAYMENTS_SERVICE),
        &envelope,
        &order.order_transaction_id,
    )
    .await;
    assert_eq!(
        claims.scopes().iter().collect::<Vec<_>>(),
        ["trigger_payments"]
    );
    // Identity signs ES256 by default.
    assert_eq!(
        zte_testkit::forge::header_of(&envelope.access_token)["alg"],
        "ES256"
    );
    assert_eq!(claims.sub, user.sub);
    assert_eq!(claims.client_id, "orders-service");
    assert!(claims.aud.contains("payments-service") && !claims.aud.contains("orders-service"));
    let event = OrderCreated::decode(envelope.payload.as_slice()).unwrap();
    assert_eq!(event.user_id, user.sub);
    assert_eq!(event.total_minor, order.total_minor);

    // The event token itself is refused by Orders' gRPC endpoints.
    let status = app
        .get_order(&envelope.access_token, &order.order_transaction_id)
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);

    app.stop().await;
    identity.stop().await;
}
