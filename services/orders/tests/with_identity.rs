//! The happy path against the REAL identity service (in-process) and a real Kafka broker:
//! password grant for a demo user, CreateOrder, and the record on the topic carries an event
//! token the identity service issued by token exchange, bound to the exact payload bytes.

mod common;

use std::time::Duration;

use common::*;
use prost::Message as _;
use rdkafka::Message as _;
use zte_auth::{JwksCache, TokenValidator, ValidatorConfig, oauth_client::TokenClient};
use zte_proto::{
    events::v1::{EventEnvelope, OrderCreated},
    orders::v1::GetOrderRequest,
};

#[tokio::test]
async fn real_identity_issues_a_bound_event_token_for_the_published_order() {
    zte_testkit::init_test_logging();
    let dir = tempfile::tempdir().unwrap();
    let orders_dir = dir.path().join("orders");
    let keygen = orders::KeygenArgs {
        client_key: orders_dir.join("client-key.pk8"),
        public_jwk: orders_dir.join("client-jwk.json"),
    };
    orders::keygen(&keygen).unwrap();

    let mut identity_config = identity::IdentityConfig::local(dir.path().join("identity"));
    identity_config.demo = true;
    identity_config.orders_client_jwk = Some(keygen.public_jwk.clone());
    let identity = identity::Application::build(identity_config).await.unwrap();
    let issuer = identity.issuer().to_owned();
    let (stop_identity, stopped) = tokio::sync::oneshot::channel::<()>();
    let identity_task = tokio::spawn(identity.run_until(async {
        let _ = stopped.await;
    }));

    let mut config = config(&issuer, orders_dir).await;
    config.client_key = Some(keygen.client_key.clone());
    let app = spawn_app(config).await;
    let consumer = app.consumer();

    let user_token = TokenClient::new(format!("{issuer}/token"), Duration::from_secs(5))
        .unwrap()
        .password_grant("demo-cli", "demouser", "Password1", "orders payments")
        .await
        .unwrap()
        .access_token;
    let validator = |audience: &str| {
        TokenValidator::new(
            ValidatorConfig {
                issuer: issuer.clone(),
                audience: audience.into(),
                leeway: Duration::from_secs(5),
            },
            JwksCache::remote(
                format!("{issuer}/jwks"),
                reqwest::Client::new(),
                Duration::from_secs(1),
            ),
        )
    };
    let user = validator("orders-service")
        .validate(&user_token)
        .await
        .unwrap();

    let mut client = app.client().await;
    let order = client
        .create_order(authed(order_request(), &user_token))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(order.user_id, user.sub);

    let records = records(&consumer, Duration::from_secs(3)).await;
    assert_eq!(records.len(), 1, "exactly one record");
    assert_eq!(key(&records[0]), order.order_transaction_id);
    let envelope = EventEnvelope::decode(records[0].payload().unwrap()).unwrap();
    let claims = validator("payments-service")
        .validate(&envelope.access_token)
        .await
        .unwrap();
    assert_eq!(
        claims.event_payload_hash.as_deref(),
        Some(zte_event::payload_hash(&envelope.payload).as_str())
    );
    assert_eq!(
        claims.scopes().iter().collect::<Vec<_>>(),
        ["trigger_payments"]
    );
    assert_eq!(claims.sub, user.sub);
    assert_eq!(claims.client_id, "orders-service");
    assert_eq!(
        claims.act.as_ref().map(|a| a.sub.as_str()),
        Some("orders-service")
    );
    assert_eq!(
        claims.order_transaction_id.as_deref(),
        Some(order.order_transaction_id.as_str())
    );
    assert!(claims.aud.contains("payments-service") && !claims.aud.contains("orders-service"));
    let event = OrderCreated::decode(envelope.payload.as_slice()).unwrap();
    assert_eq!(event.user_id, user.sub);
    assert_eq!(event.total_minor, order.total_minor);

    // The event token itself is refused by Orders' gRPC endpoints.
    let status = client
        .get_order(authed(
            GetOrderRequest {
                order_transaction_id: order.order_transaction_id.clone(),
            },
            &envelope.access_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);

    app.stop().await;
    let _ = stop_identity.send(());
    identity_task.await.unwrap().unwrap();
}
