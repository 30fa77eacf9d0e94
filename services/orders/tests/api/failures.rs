//! Dependencies failing: identity or Kafka down makes CreateOrder `UNAVAILABLE` with nothing
//! published or visible; a pending outbox row left by a crash (leased to the dead run) is
//! published at startup.

use std::time::{Duration, Instant};

use orders::store::{Inserted, Lease, OrderStatus, OrderStore, StoredOrder};
use rdkafka::Message as _;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use zte_proto::{
    events::v1::OrderCreated,
    orders::v1::{ListOrdersRequest, Order},
};
use zte_testkit::{
    clients::{ITEMS, order_request},
    events::decode_envelope,
    free_port, kafka,
    orders::OrdersSetup,
    token_service::TokenService,
};

use crate::{assert_nothing_published, item};

#[tokio::test]
async fn identity_down_is_unavailable_and_nothing_is_published_or_visible() {
    let tokens = TokenService::start().await;
    let mut setup = OrdersSetup::new(&tokens.issuer).await;
    // JWKS stays reachable (callers authenticate); the token endpoint does not answer.
    setup.config.token_endpoint = Some(format!("http://127.0.0.1:{}/token", free_port()));
    setup.config.identity_timeout = Duration::from_secs(1);
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
    let mut request = order_request(ITEMS);
    request.request_id = "crashed-request".into();
    let valid = orders::validate::validate_create_order(&request).unwrap();
    let order_id = uuid::Uuid::new_v4().to_string();
    let event = OrderCreated {
        order_transaction_id: order_id.clone(),
        user_id: "alice".into(),
        created_at: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        }),
        items: valid.items.clone(),
        currency: valid.currency.clone(),
        total_minor: valid.total_minor,
    };
    let encoded = zte_event::encode_order_created(&event);
    {
        let store = OrderStore::connect(&setup.config.store_settings().unwrap())
            .await
            .unwrap();
        let crashed = Lease {
            owner: "the-crashed-run".into(),
            until_ms: i64::MAX,
        };
        let row = StoredOrder {
            order: Order {
                order_transaction_id: order_id.clone(),
                user_id: "alice".into(),
                created_at: event.created_at,
                items: ITEMS.iter().map(|(s, q, p)| item(s, *q, *p)).collect(),
                currency: valid.currency.clone(),
                total_minor: valid.total_minor,
                request_id: request.request_id.clone(),
            },
            request_hash: valid.request_hash(),
            event_payload: encoded.payload.clone(),
            event_token: "stored-event-token".into(),
            status: OrderStatus::Pending,
        };
        let inserted = store.insert_batch(&[row], &crashed, 0).await.unwrap();
        assert_eq!(inserted, [Inserted::New]);
    }

    let app = setup.spawn().await;
    let consumer = app.consumer();
    let records = kafka::collect_records(&consumer, 1, Duration::from_secs(30)).await;
    assert_eq!(records.len(), 1);
    assert_eq!(kafka::key_of(&records[0]), order_id);
    let envelope = decode_envelope(records[0].payload().unwrap());
    assert_eq!(envelope.payload, encoded.payload, "same bytes as stored");
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
