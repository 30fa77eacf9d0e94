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

use zte_proto::orders::v1::OrderItem;

/// How long "nothing more arrives" is watched for.
const QUIET: Duration = Duration::from_secs(3);

/// An order item.
fn item(sku: &str, quantity: u32, unit_price_minor: i64) -> OrderItem {
    OrderItem {
        sku: sku.into(),
        quantity,
        unit_price_minor,
    }
}
