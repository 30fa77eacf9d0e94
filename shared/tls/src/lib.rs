//! Transport security, written once for every server and client of the system:
//!
//! - [`ServerTls`]: the rustls server configuration of a service, built from its
//!   `zte_runtime::TlsConfig` (certificate and key, optional client CA for mutual TLS), TLS 1.3
//!   only, rebuilt when a file changes.
//! - [`ClientTls`]: what a service trusts when it calls another one (`--tls-ca`, else the
//!   public web PKI roots) and the client certificate it presents, also reloaded; handed to
//!   reqwest ([`ClientTls::http_client`]) and, as file paths, to librdkafka.
//! - [`Listener`]: where every server accepts: TCP, then the TLS handshake within a deadline,
//!   at most `max_connections` at once (the next one is closed at once), and each connection
//!   closed after `idle_timeout` without a byte either way. gRPC (tonic, feature `tonic`) and
//!   Identity's HTTP serve the connections it yields.
//! - [`reload`]: a value built from files and rebuilt when their contents change, checked
//!   every reload interval by a task the service runs ([`Reloading::run`]).
//!
//! The settings themselves (flags, environment variables, checks) are `zte_runtime`'s
//! `TlsConfig`, so this crate is the only one that links rustls directly.

mod client;
mod listener;
mod pem;
pub mod reload;
mod server;

pub use client::ClientTls;
pub use listener::{Connection, ConnectionLimits, Incoming, Listener};
pub use reload::Reloading;
pub use server::{ALPN_GRPC, ALPN_HTTP, ServerTls};

use std::path::PathBuf;

/// Why TLS material could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A PEM file holds nothing usable.
    #[error("{path}: {what}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is missing or malformed.
        what: String,
    },
    /// rustls refused the material (e.g. a key that does not match its certificate).
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client-certificate verifier could not be built (e.g. an empty client CA).
    #[error("client CA: {0}")]
    ClientCa(String),
}

/// The crypto provider of every configuration here: ring, as reqwest's rustls uses.
fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}
