//! The Orders service in-process against a real Kafka broker and an in-test authorization
//! server: publishing, validation, authentication, ownership, idempotency, failures of
//! identity and Kafka, health, and outbox recovery.

mod common;

use std::time::{Duration, Instant};

use common::*;
use prost::Message as _;
use rdkafka::Message as _;
use tonic::Code;
use tonic_types::StatusExt as _;
use zte_auth::claims::Audience;
use zte_proto::{
    events::v1::{EventEnvelope, OrderCreated},
    orders::v1::{CreateOrderRequest, GetOrderRequest, ListOrdersRequest, OrderItem},
};

const QUIET: Duration = Duration::from_secs(3);

#[tokio::test]
async fn create_order_publishes_exactly_one_record_bound_to_its_payload_bytes() {
    let auth = TestAuthServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(config(&auth.issuer, dir.path().join("orders")).await).await;
    let consumer = app.consumer();
    let mut client = app.client().await;

    let request = order_request();
    let order = client
        .create_order(authed(request.clone(), &auth.user_token("alice")))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(order.user_id, "alice");
    assert_eq!(order.total_minor, 2 * 1250 + 99);
    assert_eq!(order.request_id, request.request_id);
    assert!(uuid::Uuid::parse_str(&order.order_transaction_id).is_ok());

    let records = records(&consumer, QUIET).await;
    assert_eq!(records.len(), 1, "exactly one record");
    assert_eq!(record_count(&app.topic).await, 1);
    let record = &records[0];
    assert_eq!(key(record), order.order_transaction_id);
    let envelope = EventEnvelope::decode(record.payload().unwrap()).unwrap();
    assert_eq!(envelope.event_type, "events.v1.OrderCreated");
    let claims = auth
        .event_validator()
        .validate(&envelope.access_token)
        .await
        .unwrap();
    assert_eq!(
        claims.event_payload_hash.as_deref(),
        Some(zte_event::payload_hash(&envelope.payload).as_str())
    );
    assert_eq!(claims.scope, "trigger_payments");
    assert_eq!(claims.sub, "alice");
    assert_eq!(
        claims.act.as_ref().map(|a| a.sub.as_str()),
        Some("orders-service")
    );
    assert_eq!(
        claims.order_transaction_id.as_deref(),
        Some(order.order_transaction_id.as_str())
    );
    assert!(claims.aud.contains("payments-service"));
    let event = OrderCreated::decode(envelope.payload.as_slice()).unwrap();
    assert_eq!(event.order_transaction_id, order.order_transaction_id);
    assert_eq!(event.user_id, "alice");
    assert_eq!(event.total_minor, order.total_minor);
    assert_eq!(event.created_at, order.created_at);

    // Readable back by its owner.
    let got = client
        .get_order(authed(
            GetOrderRequest {
                order_transaction_id: order.order_transaction_id.clone(),
            },
            &auth.user_token("alice"),
        ))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(got, order);
    app.stop().await;
}

fn item(sku: &str, quantity: u32, unit_price_minor: i64) -> OrderItem {
    OrderItem {
        sku: sku.into(),
        quantity,
        unit_price_minor,
    }
}

#[tokio::test]
async fn each_invalid_field_is_named_in_invalid_argument_and_nothing_is_published() {
    let auth = TestAuthServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(config(&auth.issuer, dir.path().join("orders")).await).await;
    let consumer = app.consumer();
    let mut client = app.client().await;
    let token = auth.user_token("alice");

    type Mutation = Box<dyn Fn(&mut CreateOrderRequest)>;
    let cases: Vec<(&str, Mutation)> = vec![
        ("request_id", Box::new(|r| r.request_id.clear())),
        ("request_id", Box::new(|r| r.request_id = "x".repeat(129))),
        ("items", Box::new(|r| r.items.clear())),
        ("items", Box::new(|r| r.items = vec![item("A", 1, 1); 101])),
        ("items[0].sku", Box::new(|r| r.items[0].sku.clear())),
        (
            "items[0].sku",
            Box::new(|r| r.items[0].sku = "s".repeat(65)),
        ),
        (
            "items[1].sku",
            Box::new(|r| r.items[1].sku = "a\u{7}b".into()),
        ),
        ("items[0].quantity", Box::new(|r| r.items[0].quantity = 0)),
        (
            "items[0].quantity",
            Box::new(|r| r.items[0].quantity = 10_001),
        ),
        (
            "items[1].unit_price_minor",
            Box::new(|r| r.items[1].unit_price_minor = 0),
        ),
        (
            "items[1].unit_price_minor",
            Box::new(|r| r.items[1].unit_price_minor = -1),
        ),
        ("currency", Box::new(|r| r.currency = "eur".into())),
        ("currency", Box::new(|r| r.currency = "EURO".into())),
        (
            "items",
            Box::new(|r| r.items = vec![item("A", 10_000, i64::MAX / 10_000); 2]),
        ),
    ];
    for (field, mutate) in cases {
        let mut request = order_request();
        mutate(&mut request);
        let status = client
            .create_order(authed(request, &token))
            .await
            .unwrap_err();
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
    assert!(records(&consumer, QUIET).await.is_empty());
    assert_eq!(record_count(&app.topic).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn every_kind_of_bad_credential_is_refused_with_the_right_code() {
    let auth = TestAuthServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(config(&auth.issuer, dir.path().join("orders")).await).await;
    let consumer = app.consumer();
    let mut client = app.client().await;

    // No credentials at all.
    let status = client
        .create_order(tonic::Request::new(order_request()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "none: {status:?}");

    let now = zte_auth::unix_now();
    let mut expired = auth.claims("alice");
    expired.exp = now - 3600;
    expired.iat = now - 7200;
    expired.nbf = now - 7200;
    let mut wrong_issuer = auth.claims("alice");
    wrong_issuer.iss = "http://evil.example".into();
    let mut wrong_audience = auth.claims("alice");
    wrong_audience.aud = Audience::One("payments-service".into());
    let mut event_token = auth.claims("alice");
    event_token.scope = "trigger_payments".into();
    event_token.aud = Audience::One("payments-service".into());
    event_token.order_transaction_id = Some(uuid::Uuid::new_v4().to_string());
    event_token.event_payload_hash = Some("0".repeat(64));
    let mut no_orders_scope = auth.claims("alice");
    no_orders_scope.scope = "payments".into();

    let cases = [
        ("garbage", "not.a.jwt".to_owned(), Code::Unauthenticated),
        ("expired", auth.sign(expired), Code::Unauthenticated),
        (
            "wrong issuer",
            auth.sign(wrong_issuer),
            Code::Unauthenticated,
        ),
        (
            "wrong audience",
            auth.sign(wrong_audience),
            Code::Unauthenticated,
        ),
        (
            "event token",
            auth.sign(event_token),
            Code::PermissionDenied,
        ),
        (
            "no orders scope",
            auth.sign(no_orders_scope),
            Code::PermissionDenied,
        ),
    ];
    for (what, token, code) in cases {
        let status = client
            .create_order(authed(order_request(), &token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), code, "{what}: {status:?}");
        let status = client
            .list_orders(authed(ListOrdersRequest::default(), &token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), code, "{what} (list): {status:?}");
    }
    assert!(records(&consumer, QUIET).await.is_empty());
    assert_eq!(record_count(&app.topic).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn users_see_only_their_own_orders_newest_first_in_pages() {
    let auth = TestAuthServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(config(&auth.issuer, dir.path().join("orders")).await).await;
    let mut client = app.client().await;
    let alice = auth.user_token("alice");
    let bob = auth.user_token("bob");

    let mut created = Vec::new();
    for _ in 0..3 {
        let order = client
            .create_order(authed(order_request(), &alice))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap();
        created.push(order.order_transaction_id);
    }
    let bobs = client
        .create_order(authed(order_request(), &bob))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();

    // Bob cannot read Alice's order: NOT_FOUND, no data.
    let status = client
        .get_order(authed(
            GetOrderRequest {
                order_transaction_id: created[0].clone(),
            },
            &bob,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(!status.message().contains("alice"));
    // Unknown id: NOT_FOUND; not a UUID: INVALID_ARGUMENT naming the field.
    let status = client
        .get_order(authed(
            GetOrderRequest {
                order_transaction_id: uuid::Uuid::new_v4().to_string(),
            },
            &alice,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = client
        .get_order(authed(
            GetOrderRequest {
                order_transaction_id: "not-a-uuid".into(),
            },
            &alice,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("order_transaction_id"));

    // Alice's list: her three, newest first, two pages of two.
    let page = client
        .list_orders(authed(
            ListOrdersRequest {
                page_size: 2,
                page_token: String::new(),
            },
            &alice,
        ))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = page
        .orders
        .iter()
        .map(|o| o.order_transaction_id.clone())
        .collect();
    assert_eq!(ids, [created[2].clone(), created[1].clone()]);
    assert!(!page.next_page_token.is_empty());
    let page = client
        .list_orders(authed(
            ListOrdersRequest {
                page_size: 2,
                page_token: page.next_page_token,
            },
            &alice,
        ))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = page
        .orders
        .iter()
        .map(|o| o.order_transaction_id.clone())
        .collect();
    assert_eq!(ids, [created[0].clone()]);
    assert!(page.next_page_token.is_empty());

    let bob_list = client
        .list_orders(authed(ListOrdersRequest::default(), &bob))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(bob_list.orders.len(), 1);
    assert_eq!(
        bob_list.orders[0].order_transaction_id,
        bobs.order_transaction_id
    );

    let status = client
        .list_orders(authed(
            ListOrdersRequest {
                page_size: 0,
                page_token: "garbage".into(),
            },
            &alice,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("page_token"));
    app.stop().await;
}

#[tokio::test]
async fn retries_with_the_same_request_id_return_the_same_order_and_publish_once() {
    let auth = TestAuthServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(config(&auth.issuer, dir.path().join("orders")).await).await;
    let consumer = app.consumer();
    let client = app.client().await;
    let token = auth.user_token("alice");
    let request = order_request();

    // Concurrent retries, as a client with an aggressive timeout would send them.
    let calls = (0..5).map(|_| {
        let mut client = client.clone();
        let request = authed(request.clone(), &token);
        tokio::spawn(async move { client.create_order(request).await })
    });
    let mut ids = Vec::new();
    for call in calls {
        let order = call.await.unwrap().unwrap().into_inner().order.unwrap();
        ids.push(order.order_transaction_id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one order for one request id: {ids:?}");
    // And a later retry.
    let again = client
        .clone()
        .create_order(authed(request.clone(), &token))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(again.order_transaction_id, ids[0]);
    // The same request id from another user is another order.
    let bobs = client
        .clone()
        .create_order(authed(request, &auth.user_token("bob")))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_ne!(bobs.order_transaction_id, ids[0]);

    let records = records(&consumer, QUIET).await;
    let keys: Vec<_> = records.iter().map(key).collect();
    assert_eq!(keys.iter().filter(|k| **k == ids[0]).count(), 1, "{keys:?}");
    assert_eq!(records.len(), 2);
    assert_eq!(record_count(&app.topic).await, 2);
    app.stop().await;
}

#[tokio::test]
async fn identity_down_is_unavailable_and_nothing_is_published_or_visible() {
    let auth = TestAuthServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&auth.issuer, dir.path().join("orders")).await;
    // JWKS stays reachable (callers authenticate); the token endpoint does not answer.
    config.token_endpoint = Some(format!("http://127.0.0.1:{}/token", closed_port()));
    config.identity_timeout = Duration::from_secs(1);
    let app = spawn_app(config).await;
    let consumer = app.consumer();
    let mut client = app.client().await;
    let token = auth.user_token("alice");

    let status = client
        .create_order(authed(order_request(), &token))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(!status.message().contains("127.0.0.1"), "no internals leak");
    assert!(records(&consumer, QUIET).await.is_empty());
    assert_eq!(record_count(&app.topic).await, 0);
    let list = client
        .list_orders(authed(ListOrdersRequest::default(), &token))
        .await
        .unwrap()
        .into_inner();
    assert!(list.orders.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn kafka_unreachable_is_unavailable_within_the_publish_timeout_and_nothing_is_visible() {
    let auth = TestAuthServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&auth.issuer, dir.path().join("orders")).await;
    config.service.kafka_bootstrap = format!("127.0.0.1:{}", closed_port());
    config.publish_timeout = Duration::from_millis(1500);
    let app = spawn_app(config).await;
    let mut client = app.client().await;
    let token = auth.user_token("alice");
    let request = order_request();

    let started = Instant::now();
    let status = client
        .create_order(authed(request.clone(), &token))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        took < Duration::from_millis(1500) + Duration::from_secs(3),
        "took {took:?}"
    );

    let list = client
        .list_orders(authed(ListOrdersRequest::default(), &token))
        .await
        .unwrap()
        .into_inner();
    assert!(list.orders.is_empty(), "a failed order must not be visible");
    // The health check never went SERVING without Kafka.
    let health = app
        .health()
        .await
        .check(tonic_health::pb::HealthCheckRequest {
            service: "orders.v1.OrdersService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        health.status,
        tonic_health::pb::health_check_response::ServingStatus::NotServing as i32
    );
    app.stop().await;
}

#[tokio::test]
async fn health_is_not_serving_until_the_jwks_loads_then_serving() {
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
    // Reserve the identity address, but start the authorization server only later.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(config(&issuer, dir.path().join("orders")).await).await;
    let mut health = app.health().await;
    let check = || HealthCheckRequest {
        service: "orders.v1.OrdersService".into(),
    };
    let status = health.check(check()).await.unwrap().into_inner().status;
    assert_eq!(status, ServingStatus::NotServing as i32);
    // Liveness (the server as a whole) is SERVING meanwhile: not ready is not dead.
    let live = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(live, ServingStatus::Serving as i32);
    // Reflection (for grpcurl) answers without a token too.
    let services = reflection_services(&app).await;
    assert!(
        services.contains(&"orders.v1.OrdersService".to_owned()),
        "{services:?}"
    );
    // Health and reflection need no token.
    let addr = issuer.trim_start_matches("http://").to_owned();
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    let _auth = TestAuthServer::start_on(listener).await;
    zte_testkit::wait_until("SERVING", Duration::from_secs(30), || {
        let mut health = health.clone();
        async move {
            let status = health.check(check()).await.ok()?.into_inner().status;
            (status == ServingStatus::Serving as i32).then_some(())
        }
    })
    .await
    .unwrap();
    app.stop().await;
}

#[tokio::test]
async fn a_pending_outbox_row_is_published_at_startup_and_becomes_visible() {
    let auth = TestAuthServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(&auth.issuer, dir.path().join("orders")).await;
    std::fs::create_dir_all(&config.service.data_dir).unwrap();

    // A previous run wrote the outbox row and crashed before publishing.
    let order_id = uuid::Uuid::new_v4().to_string();
    let event = OrderCreated {
        order_transaction_id: order_id.clone(),
        user_id: "alice".into(),
        created_at: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        }),
        items: vec![zte_proto::events::v1::OrderItem {
            sku: "SKU-1".into(),
            quantity: 1,
            unit_price_minor: 500,
        }],
        currency: "EUR".into(),
        total_minor: 500,
    };
    let encoded = zte_event::encode_order_created(&event);
    {
        let store = orders::store::OrderStore::open(&config.database_path()).unwrap();
        let inserted = store
            .insert_pending(orders::store::StoredOrder {
                order: zte_proto::orders::v1::Order {
                    order_transaction_id: order_id.clone(),
                    user_id: "alice".into(),
                    created_at: event.created_at,
                    items: vec![item("SKU-1", 1, 500)],
                    currency: "EUR".into(),
                    total_minor: 500,
                    request_id: "crashed-request".into(),
                },
                event_payload: encoded.payload.clone(),
                event_token: "stored-event-token".into(),
                status: orders::store::OrderStatus::Pending,
            })
            .await
            .unwrap();
        assert_eq!(inserted, orders::store::InsertOutcome::Inserted);
    }

    let app = spawn_app(config).await;
    let consumer = app.consumer();
    let records = zte_testkit::collect_records(&consumer, 1, Duration::from_secs(30)).await;
    assert_eq!(records.len(), 1);
    assert_eq!(key(&records[0]), order_id);
    let envelope = EventEnvelope::decode(records[0].payload().unwrap()).unwrap();
    assert_eq!(envelope.payload, encoded.payload, "same bytes as stored");
    assert_eq!(envelope.access_token, "stored-event-token");

    let mut client = app.client().await;
    let token = auth.user_token("alice");
    let got = zte_testkit::wait_until("recovered order visible", Duration::from_secs(10), || {
        let mut client = client.clone();
        let request = authed(
            GetOrderRequest {
                order_transaction_id: order_id.clone(),
            },
            &token,
        );
        async move { client.get_order(request).await.ok() }
    })
    .await
    .unwrap();
    assert_eq!(
        got.into_inner().order.unwrap().request_id,
        "crashed-request"
    );
    // A retry of the crashed request returns that order rather than a new one.
    let mut retry = order_request();
    retry.request_id = "crashed-request".into();
    let again = client
        .create_order(authed(retry, &token))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(again.order_transaction_id, order_id);
    assert_eq!(
        record_count(&app.topic).await,
        1,
        "the retry published nothing new"
    );
    app.stop().await;
}
