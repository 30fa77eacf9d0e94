//! The gRPC server skeleton of Orders and Payments, written once:
//!
//! - [`auth`]: the service's token validator ([`token_validator`]) and the tower layer that
//!   authenticates calls with a bearer JWT and checks the service's scope ([`AuthLayer`],
//!   [`Caller`]).
//! - [`readiness`]: health statuses driven by a probe closure, one polling policy
//!   ([`Readiness`]).
//! - [`status`]: the statuses every service builds the same way (invalid argument with field
//!   details, internal without the cause).
//! - [`limits`]: what one API call may cost: a concurrency limit that sheds load with
//!   `RESOURCE_EXHAUSTED`, a deadline, work that finishes even when its client went away,
//!   message size limits ([`CallLimitLayer`], [`MessageLimits`]).
//! - [`server`]: binding and serving one API over TLS (`zte_tls::Listener`: handshake deadline,
//!   connection limit, idle timeout; mutual TLS when configured) with health, reflection,
//!   request spans, HTTP/2 keep-alive and a graceful stop on the service's
//!   `zte_runtime::Shutdown` ([`GrpcServer`]).
//!
//! Identity serves HTTP only and does not link this crate (nor tonic).

pub mod auth;
pub mod limits;
pub mod readiness;
pub mod server;
pub mod status;

pub use auth::{AuthLayer, Caller, ProtectedService, token_validator};
pub use limits::{CallLimitLayer, MessageLimits};
pub use readiness::Readiness;
pub use server::{GrpcServer, ServiceError};

#[cfg(test)]
mod tests {
    use std::time::Duration;

    /// Waits (up to 10 s, yielding) until `condition` holds.
    pub(crate) async fn eventually(mut condition: impl FnMut() -> bool) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while !condition() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("condition within 10 s");
    }
}
