//! The Payments service: consumes `OrderCreated` events from Kafka, verifies each one end to
//! end (token, payload hash, bindings), records exactly one payment per order (SQLite embedded,
//! or PostgreSQL shared by several replicas), and
//! serves `payments.v1.PaymentsService` so users can read their own payments.
//!
//! - [`config`]: flags and environment variables.
//! - [`consumer`]: the at-least-once consumer, per partition: batches checked in parallel
//!   and recorded in one transaction, the dead-letter topic, the retry topic.
//! - [`topics`]: whether the dead-letter and retry topics are usable (readiness).
//! - [`store`]: the payment store (one trait, SQLite and PostgreSQL), one payment per order.
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
pub mod topics;

pub use app::Application;
pub use config::{Cli, PaymentsConfig};
pub use consumer::{
    ConsumerError,
    copies::{
        HEADER_ATTEMPTS, HEADER_DETAIL, HEADER_KEY_SHA256, HEADER_KEY_SIZE, HEADER_REASON,
        HEADER_RECORD_SIZE, HEADER_SOURCE_OFFSET, HEADER_SOURCE_PARTITION, HEADER_SOURCE_TOPIC,
        HEADER_VALUE_SHA256, HEADER_VALUE_SIZE,
    },
    retry::{
        RETRY_ATTEMPTS, RETRY_FIRST_SEEN, RETRY_NOT_BEFORE, RETRY_REASON, RETRY_SOURCE_OFFSET,
        RETRY_SOURCE_PARTITION, RETRY_SOURCE_TOPIC,
    },
};
pub use error::{ApiError, PaymentsError};
pub use stats::{ConsumerStats, StatsSnapshot};
pub use store::PaymentStore;
