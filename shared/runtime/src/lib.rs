//! Process plumbing shared by the three services, each piece once:
//!
//! - [`telemetry`]: structured logging ([`init_tracing`]).
//! - [`shutdown`]: one stop signal and one drain deadline for every task a service spawns
//!   ([`Shutdown`]); a task that dies makes the process exit non-zero.
//! - [`config`]: value parsers and checks (durations, URLs, topic names) with one-line errors.
//! - [`service_config`]: the settings group Orders and Payments share ([`ServiceConfig`]), and
//!   the environment prefix every settings group reads with ([`EnvPrefix`]).
//! - [`server_limits`]: the connection and request limits of every server ([`ServerLimits`]).
//! - [`tls_config`]: the transport-security settings of every service ([`TlsConfig`]; the
//!   rustls machinery built from them is `zte-tls`).
//! - [`cli`]: command-line parsing with `--print-env`, and exit statuses.
//!
//! Kafka client settings live in `zte-kafka` and the gRPC skeleton in `zte-grpc`, so the
//! HTTP-only Identity links neither librdkafka nor tonic.

pub mod cli;
pub mod config;
pub mod server_limits;
pub mod service_config;
pub mod shutdown;
pub mod telemetry;
pub mod tls_config;

pub use cli::{PrintEnv, env_vars, exit_code, parse_args};
pub use config::{is_topic_name, parse_duration, parse_lifetime};
pub use server_limits::ServerLimits;
pub use service_config::{EnvPrefix, GrpcLimits, KeygenArgs, ServiceConfig, ServiceDefaults};
pub use shutdown::{Shutdown, TaskFailed, shutdown_signal};
pub use telemetry::init_tracing;
pub use tls_config::{CertKey, ClientAuth, TlsConfig};

/// Test support: parse one settings group from command-line arguments.
#[cfg(test)]
mod test_args {
    use clap::{Args, FromArgMatches, Parser};

    crate::env_prefix! {
        /// The environment prefix of the groups under test (`TEST_…`).
        pub(crate) Test { env_prefix: "TEST" }
    }

    /// A command line made of one settings group.
    #[derive(Debug, Parser)]
    pub(crate) struct Cli<G: Args + FromArgMatches> {
        #[command(flatten)]
        group: G,
    }

    /// `group` as parsed from `args` (no program name), panicking on a parse error.
    pub(crate) fn parse<G: Args + FromArgMatches>(args: &[&str]) -> G {
        Cli::<G>::try_parse_from(std::iter::once("test").chain(args.iter().copied()))
            .unwrap()
            .group
    }
}
