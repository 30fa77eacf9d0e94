//! The Orders service: `orders.v1.OrdersService` over gRPC, and the publisher of
//! token-bound `OrderCreated` events.
//!
//! Every call is authenticated ([`zte_grpc::AuthLayer`], scope `orders`). CreateOrder
//! validates, encodes the event once, exchanges the caller's token for an event token bound
//! to the hash of those bytes, writes an outbox row, publishes to Kafka with an idempotent
//! producer and waits for the delivery report before the order becomes visible.
//!
//! - [`config`]: flags and environment variables.
//! - [`validate`]: pure input validation with field-named violations.
//! - [`orders`]: the create/read rules.
//! - [`outbox`]: group-committed outbox writes, sending and settling events, the relay.
//! - [`store`]: the order store (one trait, SQLite and PostgreSQL), also the outbox table.
//! - [`publisher`]: the Kafka producer.
//! - [`token`]: the event-token issuer (RFC 8693 token exchange).
//! - [`service`]: the gRPC handlers; [`error`]: the one mapping to `tonic::Status`.
//! - [`app`]: building and running the service on the `zte-grpc` skeleton (health,
//!   reflection, request spans) and `zte_runtime::Shutdown` (drain deadline, producer flush).

pub mod app;
pub mod config;
pub mod error;
pub mod orders;
pub mod outbox;
pub mod publisher;
pub mod service;
pub mod store;
pub mod token;
pub mod validate;

pub use app::Application;
pub use config::{Cli, Command, DEFAULT_CLIENT_KEY_BITS, KeygenArgs, OrdersConfig};
pub use error::{ApiError, OrdersError};
pub use token::{EventTokenIssuer, EventTokenRequest, TokenIssueError};

/// `orders keygen`: creates the client key if absent (mode 0600) and writes its public JWK.
/// Returns the key id.
pub fn keygen(args: &KeygenArgs) -> Result<String, OrdersError> {
    let spec = zte_auth::KeySpec::new(args.alg, args.key_bits)?;
    let key = zte_auth::SigningKey::keygen(&args.files.client_key, &args.files.public_jwk, spec)?;
    Ok(key.kid().to_owned())
}
