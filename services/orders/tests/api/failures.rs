//! Dependencies failing: identity or Kafka down makes CreateOrder `UNAVAILABLE` with nothing
//! published or visible; a pending outbox row left by a crash (leased to the dead run) is
//! published at startup.

use std::time::{Duration, Instant};

use orders::store::OrderStore;
use rdkafka::Message as _;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use zte_proto::orders::v1::ListOrdersRequest;
use zte_testkit::{
    clients::{ITEMS, order_request},
    events::decode_envelope,
    free_port, kafka,
    orders::OrdersSetup,
    token_service::TokenService,
};

use crate::{assert_nothing_published, order_request_with_id, write_pending_order};

#[tokio::test]
async fn identity_down_is_unavailable_and_nothing_is_published_or_visible() {
    let tokens = TokenService::start().await;
    let mut setup = OrdersSetup::new(&tokens.issuer).await;
    // JWKS stays reachable (callers authenticate); the token endpoint does not answer.
    setup.config.service.token_endpoint = Some(format!("http://127.0.0.1:{}/token", free_port()));
    setup.config.service.identity_timeout = Duration::from_secs(1);
    let app = setup.spawn().await;
    let consumer = app.consumer();
    let token = tokens.user_token("alice");

    let status = app
        .create_order(&token, order_request(ITEMS))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(!status.message().contains("127.0.0.1"), "no internals leak");
    assert_nothing_published(&app, &consumer).await;
    let list = app
        .list_orders(&token, ListOrdersRequest::default())
        .await
        .unwrap();
    assert!(list.orders.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn kafka_unreachable_is_unavailable_within_the_publish_timeout_and_nothing_is_visible() {
    let tokens = TokenService::start().await;
    let mut setup = OrdersSetup::new(&tokens.issuer).await;
    setup.config.service.kafka_bootstrap = format!("127.0.0.1:{}", free_port());
    setup.config.publish_timeout = Duration::from_millis(1500);
    let app = setup.spawn().await;
    let token = tokens.user_token("alice");

    let started = Instant::now();
    let status = app
        .create_order(&token, order_request(ITEMS))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        took < Duration::from_millis(1500) + Duration::from_secs(3),
        "took {took:?}"
    );

    let list = app
        .list_orders(&token, ListOrdersRequest::default())
        .await
        .unwrap();
    assert!(list.orders.is_empty(), "a failed order must not be visible");
    // The health check never went SERVING without Kafka.
    assert_eq!(app.readiness().await, ServingStatus::NotServing);
    app.stop().await;
}

#[tokio::test]
async fn a_pending_outbox_row_is_published_at_startup_and_becomes_visible() {
    let tokens = TokenService::start().await;
    let setup = OrdersSetup::new(&tokens.issuer).await;

    // A previous run wrote the outbox row (leased to itself) and crashed before publishing.
    let request = order_request_with_id("crashed-request");
    let store = OrderStore::connect(&setup.config.store_settings().unwrap())
        .await
        .unwrap();
    let (order_id, payload) = write_pending_order(&store, "alice", &request, i64::MAX).await;
    drop(store);

    let app = setup.spawn().await;
    let consumer = app.consumer();
    let records = kafka::collect_records(&consumer, 1, Duration::from_secs(30)).await;
    assert_eq!(records.len(), 1);
    assert_eq!(kafka::key_of(&records[0]), order_id);
    let envelope = decode_envelope(records[0].payload().unwrap());
    assert_eq!(envelope.payload, payload, "same bytes as stored");
    assert_eq!(envelope.access_token, "stored-event-token");

    let token = tokens.user_token("alice");
    let got = zte_testkit::wait_until(
        "recovered order visible",
        Duration::from_secs(10),
        || async { app.get_order(&token, &order_id).await.ok() },
    )
    .await;
    assert_eq!(got.unwrap().request_id, "crashed-request");
    // A retry of the crashed request returns that order rather than a new one.
    let again = app.create_order(&token, request).await.unwrap();
    assert_eq!(again.order_transaction_id, order_id);
    assert_eq!(
        kafka::record_count(&app.topic).await,
        1,
        "the retry published nothing new"
    );
    app.stop().await;
}
