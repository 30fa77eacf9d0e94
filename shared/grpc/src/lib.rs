//! The gRPC server skeleton of Orders and Payments, written once:
//!
//! - [`auth`]: the service's token validator ([`token_validator`]) and the tower layer that
//!   authenticates calls with a bearer JWT and checks the service's scope ([`AuthLayer`],
//!   [`Caller`]).
//! - [`readiness`]: health statuses driven by a probe closure, one polling policy
//!   ([`Readiness`]).
//! - [`status`]: the statuses every service builds the same way (invalid argument with field
//!   details, internal without the cause).
//! - [`server`]: binding and serving one API with health, reflection, request spans and a
//!   graceful stop on the service's `zte_runtime::Shutdown` ([`GrpcServer`]).
//!
//! Identity serves HTTP only and does not link this crate (nor tonic).

pub mod auth;
pub mod readiness;
pub mod server;
pub mod status;

pub use auth::{AuthLayer, Caller, ProtectedService, token_validator};
pub use readiness::Readiness;
pub use server::{GrpcServer, ServiceError};
