//! The Orders service in-process against a real Kafka broker and the token-service stand-in
//! (`zte_testkit`), one module per concern: publishing and idempotency, credentials and
//! ownership, failures of identity and Kafka with outbox recovery, health, replicas sharing
//! one PostgreSQL database, and the transport edge (TLS, mutual TLS, certificate reload, load
//! shedding).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod create_order;
mod failures;
mod health;
mod replicas;
mod transport;

use std::time::Duration;

use orders::store::{Inserted, Lease, OrderStatus, OrderStore, StoredOrder};
use rdkafka::consumer::StreamConsumer;
use zte_proto::{
    events::v1::OrderCreated,
    orders::v1::{CreateOrderRequest, Order, OrderItem},
};
use zte_testkit::{
    clients::{ITEMS, order_request},
    kafka,
    orders::OrdersApp,
    token_service::TokenService,
};

/// How long "nothing more arrives" is watched for.
const QUIET: Duration = Duration::from_secs(3);

/// Orders against a fresh token-service stand-in, and a consumer that sees every record of
/// its event topic from the start.
async fn spawn_with_consumer() -> (TokenService, OrdersApp, StreamConsumer) {
    let tokens = TokenService::start().await;
    let app = OrdersApp::spawn(&tokens.issuer).await;
    let consumer = app.consumer();
    (tokens, app, consumer)
}

/// Nothing reached the event topic: `consumer` (from the start) sees no record for `QUIET`,
/// and the topic holds none.
async fn assert_nothing_published(app: &OrdersApp, consumer: &StreamConsumer) {
    assert!(kafka::drain_records(consumer, QUIET).await.is_empty());
    assert_eq!(kafka::record_count(&app.topic).await, 0);
}

/// An order item.
fn item(sku: &str, quantity: u32, unit_price_minor: i64) -> OrderItem {
    OrderItem {
        sku: sku.into(),
        quantity,
        unit_price_minor,
    }
}

/// The usual order request, with `request_id`.
fn order_request_with_id(request_id: &str) -> CreateOrderRequest {
    CreateOrderRequest {
        request_id: request_id.into(),
        ..order_request(ITEMS)
    }
}

/// Writes `user`'s order for `request` as a run would before publishing it: `pending`, with
/// its encoded event and a stand-in event token, leased to a run that is gone until
/// `lease_until_ms`. Returns the order id and the event payload bytes.
async fn write_pending_order(
    store: &OrderStore,
    user: &str,
    request: &CreateOrderRequest,
    lease_until_ms: i64,
) -> (String, Vec<u8>) {
    let valid = orders::validate::validate_create_order(request).unwrap();
    let order_id = uuid::Uuid::new_v4().to_string();
    let created_at = Some(prost_types::Timestamp {
        seconds: 1_700_000_000,
        nanos: 0,
    });
    let encoded = zte_event::encode_order_created(&OrderCreated {
        order_transaction_id: order_id.clone(),
        user_id: user.into(),
        created_at,
        items: valid.items.clone(),
        currency: valid.currency.clone(),
        total_minor: valid.total_minor,
    });
    let row = StoredOrder {
        order: Order {
            order_transaction_id: order_id.clone(),
            user_id: user.into(),
            created_at,
            items: request.items.clone(),
            currency: valid.currency.clone(),
            total_minor: valid.total_minor,
            request_id: request.request_id.clone(),
        },
        request_hash: valid.request_hash(),
        event_payload: encoded.payload.clone(),
        event_token: "stored-event-token".into(),
        status: OrderStatus::Pending,
    };
    let gone = Lease {
        owner: "a-run-that-is-gone".into(),
        until_ms: lease_until_ms,
    };
    let inserted = store.insert_batch(&[row], &gone, 0).await.unwrap();
    assert_eq!(inserted, [Inserted::New]);
    (order_id, encoded.payload)
}
