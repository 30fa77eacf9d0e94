//! The project's protobuf contracts as Rust types and tonic services.
//!
//! Generated at build time from `proto/` (see `build.rs`); nothing here is hand-written except
//! the module layout and [`FILE_DESCRIPTOR_SET`] for gRPC reflection.

/// `events.v1`: the Kafka event contract (`EventEnvelope`, `OrderCreated`).
pub mod events {
    /// Version 1.
    #[allow(missing_docs, unreachable_pub, clippy::all)]
    pub mod v1 {
        tonic::include_proto!("events.v1");

        /// Fully qualified protobuf name of [`OrderCreated`], used as `EventEnvelope.event_type`.
        pub const ORDER_CREATED_TYPE: &str = "events.v1.OrderCreated";
    }
}

/// `orders.v1`: the Orders gRPC API.
pub mod orders {
    /// Version 1.
    #[allow(missing_docs, unreachable_pub, clippy::all)]
    pub mod v1 {
        tonic::include_proto!("orders.v1");

        /// The service name health checks use.
        pub const SERVICE_NAME: &str = "orders.v1.OrdersService";
    }
}

/// `payments.v1`: the Payments gRPC API.
pub mod payments {
    /// Version 1.
    #[allow(missing_docs, unreachable_pub, clippy::all)]
    pub mod v1 {
        tonic::include_proto!("payments.v1");

        /// The service name health checks use.
        pub const SERVICE_NAME: &str = "payments.v1.PaymentsService";
    }
}

/// Encoded `FileDescriptorSet` of every contract, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("descriptor");

pub use prost;
pub use prost_types;
