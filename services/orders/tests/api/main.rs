//! The Orders service in-process against a real Kafka broker and the token-service stand-in
//! (`zte_testkit`), one module per concern: publishing and idempotency, credentials and
//! ownership, failures of identity and Kafka with outbox recovery, health.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod create_order;
mod failures;
mod health;

use std::time::Duration;

use rdkafka::consumer::StreamConsumer;
use zte_proto::orders::v1::OrderItem;
use zte_testkit::{kafka, orders::OrdersApp, token_service::TokenService};

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
