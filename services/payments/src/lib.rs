//! The Payments service: consumes `OrderCreated` events from Kafka, verifies each one end to
//! end (token, payload hash, bindings), records exactly one payment per order in SQLite, and
//! serves `payments.v1.PaymentsService` so users can read their own payments.
//!
//! - [`config`]: flags and environment variables.
//! - [`consumer`]: the at-least-once consumer and the dead-letter topic.
//! - [`store`]: SQLite storage, one payment per order.
//! - [`api`]: the gRPC handlers; [`error`]: the one mapping to `tonic::Status`.
//! - [`stats`]: what the consumer did, as counters.
//! - [`app`]: building and running the service (consumer, gRPC skeleton, shutdown). Tests
//!   build it in-process with port 0.

pub mod api;
pub mod app;
pub mod config;
pub mod consumer;
pub mod error;
pub mod stats;
pub mod store;

pub use app::Application;
pub use config::{Cli, PaymentsConfig};
pub use consumer::{
    HEADER_DETAIL, HEADER_REASON, HEADER_SOURCE_OFFSET, HEADER_SOURCE_PARTITION,
    HEADER_SOURCE_TOPIC,
};
pub use error::{ApiError, PaymentsError};
pub use stats::{ConsumerStats, StatsSnapshot};
pub use store::PaymentStore;
