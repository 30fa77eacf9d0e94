//! The limits every server of the system enforces on its clients, read once with the
//! program's environment prefix ([`ServerLimits<P>`]: `IDENTITY_MAX_CONNECTIONS`,
//! `ORDERS_REQUEST_TIMEOUT`, ...), so no client can hold a server's connections or workers
//! for as long as it likes (slowloris, floods of slow requests).

use std::{fmt, marker::PhantomData, time::Duration};

use clap::Args;

use crate::{EnvPrefix, config::parse_duration};

/// Connection and request limits of a server (`--max-connections`, `--handshake-timeout`,
/// `--idle-timeout`, `--request-timeout`).
#[derive(Clone, Args)]
pub struct ServerLimits<P: EnvPrefix> {
    /// Connections open at once; one more is closed as soon as it is accepted.
    #[arg(long, env = P::env("MAX_CONNECTIONS"), default_value_t = 1024)]
    pub max_connections: usize,
    /// Time a client has for the TLS handshake, and (HTTP/1) for each request's headers.
    #[arg(long, env = P::env("HANDSHAKE_TIMEOUT"), default_value = "10s", value_parser = parse_duration)]
    pub handshake_timeout: Duration,
    /// A connection without a byte either way for this long is closed.
    #[arg(long, env = P::env("IDLE_TIMEOUT"), default_value = "2m", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// Upper bound on handling one request (body included); then the client gets a timeout
    /// answer (HTTP 408, gRPC DEADLINE_EXCEEDED).
    #[arg(long, env = P::env("REQUEST_TIMEOUT"), default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    #[arg(skip)]
    prefix: PhantomData<P>,
}

impl<P: EnvPrefix> fmt::Debug for ServerLimits<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerLimits")
            .field("max_connections", &self.max_connections)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl<P: EnvPrefix> Default for ServerLimits<P> {
    /// The flag defaults.
    fn default() -> Self {
        Self {
            max_connections: 1024,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            request_timeout: Duration::from_secs(30),
            prefix: PhantomData,
        }
    }
}

impl<P: EnvPrefix> ServerLimits<P> {
    /// Checks the values clap cannot check alone; the error is one line naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_connections == 0 {
            return Err("--max-connections must be at least 1".into());
        }
        crate::config::require_positive(&[
            ("--handshake-timeout", self.handshake_timeout),
            ("--idle-timeout", self.idle_timeout),
            ("--request-timeout", self.request_timeout),
        ])?;
        if self.idle_timeout <= self.request_timeout {
            return Err(format!(
                "--idle-timeout ({:?}) must be longer than --request-timeout ({:?}): a request \
                 still being handled would be cut off as idle",
                self.idle_timeout, self.request_timeout
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_args::Test;

    type Cli = crate::test_args::Cli<ServerLimits<Test>>;

    fn parse(args: &[&str]) -> ServerLimits<Test> {
        crate::test_args::parse(args)
    }

    #[test]
    fn defaults_match_the_flags_and_bad_values_name_the_setting() {
        let parsed = parse(&[]);
        let default = ServerLimits::<Test>::default();
        assert_eq!(
            (
                parsed.max_connections,
                parsed.handshake_timeout,
                parsed.idle_timeout
            ),
            (
                default.max_connections,
                default.handshake_timeout,
                default.idle_timeout
            )
        );
        assert_eq!(parsed.request_timeout, default.request_timeout);
        assert_eq!(parsed.validate(), Ok(()));
        let refused = |args: &[&str]| parse(args).validate().unwrap_err();
        assert!(refused(&["--max-connections", "0"]).contains("--max-connections"));
        assert!(refused(&["--handshake-timeout", "0"]).contains("--handshake-timeout"));
        assert!(refused(&["--idle-timeout", "10s"]).contains("--idle-timeout"));
        assert_eq!(
            crate::env_vars(&<Cli as clap::CommandFactory>::command()).join(" "),
            "LOG_FORMAT RUST_LOG TEST_HANDSHAKE_TIMEOUT TEST_IDLE_TIMEOUT TEST_MAX_CONNECTIONS \
             TEST_REQUEST_TIMEOUT"
        );
    }
}
