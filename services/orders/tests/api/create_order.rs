//! CreateOrder: one record bound to its payload bytes, every invalid field named, retries
//! with the same request id answered with the same order and published once, and the same
//! request id with another body refused (`ALREADY_EXISTS`).

use prost::Message as _;
use tonic::Code;
use tonic_types::StatusExt as _;
use zte_proto::{events::v1::OrderCreated, orders::v1::CreateOrderRequest};
use zte_testkit::{
    clients::{ITEMS, order_request},
    events::{assert_event_token, only_event},
    kafka,
    tokens::PAYMENTS_SERVICE,
};

use crate::{QUIET, assert_nothing_published, item, spawn_with_consumer};

#[tokio::test]
async fn create_order_publishes_exactly_one_record_bound_to_its_payload_bytes() {
    let (tokens, app, consumer) = spawn_with_consumer().await;

    let request = order_request(ITEMS);
    let order = app
        .create_order(&tokens.user_token("alice"), request.clone())
        .await
        .unwrap();
    assert_eq!(order.user_id, "alice");
    assert_eq!(order.total_minor, 2 * 1250 + 99);
    assert_eq!(order.request_id, request.request_id);
    assert!(uuid::Uuid::parse_str(&order.order_transaction_id).is_ok());

    let envelope = only_event(&consumer, QUIET, &order.order_transaction_id).await;
    assert_eq!(kafka::record_count(&app.topic).await, 1);
    assert_eq!(envelope.event_type, "events.v1.OrderCreated");
    let claims = assert_event_token(
        &tokens.validator(PAYMENTS_SERVICE),
        &envelope,
        &order.order_transaction_id,
    )
    .await;
    assert_eq!(claims.scope, "trigger_payments");
    assert_eq!(claims.sub, "alice");
    assert!(claims.aud.contains("payments-service"));
    let event = OrderCreated::decode(envelope.payload.as_slice()).unwrap();
    assert_eq!(event.order_transaction_id, order.order_transaction_id);
    assert_eq!(event.user_id, "alice");
    assert_eq!(event.total_minor, order.total_minor);
    assert_eq!(event.created_at, order.created_at);

    // Readable back by its owner.
    let got = app
        .get_order(&tokens.user_token("alice"), &order.order_transaction_id)
        .await
        .unwrap();
    assert_eq!(got, order);
    app.stop().await;
}

#[tokio::test]
async fn each_invalid_field_is_named_in_invalid_argument_and_nothing_is_published() {
    let (tokens, app, consumer) = spawn_with_consumer().await;
    let token = tokens.user_token("alice");

    type Mutation = fn(&mut CreateOrderRequest);
    let cases: Vec<(&str, Mutation)> = vec![
        ("request_id", |r| r.request_id.clear()),
        ("request_id", |r| r.request_id = "x".repeat(129)),
        ("items", |r| r.items.clear()),
        ("items", |r| r.items = vec![item("A", 1, 1); 101]),
        ("items[0].sku", |r| r.items[0].sku.clear()),
        ("items[0].sku", |r| r.items[0].sku = "s".repeat(65)),
        ("items[1].sku", |r| r.items[1].sku = "a\u{7}b".into()),
        ("items[0].quantity", |r| r.items[0].quantity = 0),
        ("items[0].quantity", |r| r.items[0].quantity = 10_001),
        ("items[1].unit_price_minor", |r| {
            r.items[1].unit_price_minor = 0
        }),
        ("items[1].unit_price_minor", |r| {
            r.items[1].unit_price_minor = -1
        }),
        ("currency", |r| r.currency = "eur".into()),
        ("currency", |r| r.currency = "EURO".into()),
        ("items", |r| {
            r.items = vec![item("A", 10_000, i64::MAX / 10_000); 2]
        }),
    ];
    for (field, mutate) in cases {
        let mut request = order_request(ITEMS);
        mutate(&mut request);
        let status = app.create_order(&token, request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(
            status.message().contains(field),
            "{field}: {}",
            status.message()
        );
        let details = status
            .get_details_bad_request()
            .expect("BadRequest details");
        assert_eq!(details.field_violations[0].field, field);
    }
    assert_nothing_published(&app, &consumer).await;
    app.stop().await;
}

#[tokio::test]
async fn retries_with_the_same_request_id_return_the_same_order_and_publish_once() {
    let (tokens, app, consumer) = spawn_with_consumer().await;
    let token = tokens.user_token("alice");
    let request = order_request(ITEMS);

    // Concurrent retries, as a client with an aggressive timeout would send them.
    let calls = (0..5).map(|_| {
        let (client, token, request) = (app.client(), token.clone(), request.clone());
        tokio::spawn(async move { client.create_order(&token, request).await })
    });
    let mut ids = Vec::new();
    for call in calls {
        let order = call.await.unwrap().unwrap();
        ids.push(order.order_transaction_id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one order for one request id: {ids:?}");
    // And a later retry.
    let again = app.create_order(&token, request.clone()).await.unwrap();
    assert_eq!(again.order_transaction_id, ids[0]);
    // The same request id from another user is another order.
    let bobs = app
        .create_order(&tokens.user_token("bob"), request)
        .await
        .unwrap();
    assert_ne!(bobs.order_transaction_id, ids[0]);

    let records = kafka::drain_records(&consumer, QUIET).await;
    let keys: Vec<_> = records.iter().map(kafka::key_of).collect();
    assert_eq!(keys.iter().filter(|k| **k == ids[0]).count(), 1, "{keys:?}");
    assert_eq!(records.len(), 2);
    assert_eq!(kafka::record_count(&app.topic).await, 2);
    app.stop().await;
}

#[tokio::test]
async fn the_same_request_id_with_another_body_is_already_exists_and_publishes_nothing() {
    let (tokens, app, consumer) = spawn_with_consumer().await;
    let token = tokens.user_token("alice");
    let request = order_request(ITEMS);
    let order = app.create_order(&token, request.clone()).await.unwrap();

    let mut other_items = request.clone();
    other_items.items[0].quantity += 1;
    let mut other_currency = request.clone();
    other_currency.currency = "USD".into();
    for other in [other_items, other_currency] {
        let status = app.create_order(&token, other).await.unwrap_err();
        assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    }
    // The original body still gets its order back.
    let again = app.create_order(&token, request).await.unwrap();
    assert_eq!(again.order_transaction_id, order.order_transaction_id);
    only_event(&consumer, QUIET, &order.order_transaction_id).await;
    assert_eq!(kafka::record_count(&app.topic).await, 1);
    app.stop().await;
}
