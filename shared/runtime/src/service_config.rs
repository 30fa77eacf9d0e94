//! The settings Orders and Payments share (listen address, Kafka, token issuer, JWKS and
//! accepted algorithms, audience, data directory, shutdown deadline), parsed by one clap group and checked by one
//! function, so the two services cannot drift apart.
//!
//! Each service flattens a [`ServiceConfig<S>`] into its own configuration. `S` names the
//! service ([`service_defaults!`](crate::service_defaults)): the prefix of its environment
//! variables (`ORDERS` reads `ORDERS_LISTEN`, `ORDERS_TOPIC`, ...; its own settings use
//! [`ServiceDefaults::env`] too) and the three defaults that differ (listen address, data directory,
//! audience).

use std::{fmt, marker::PhantomData, net::SocketAddr, path::PathBuf, time::Duration};

use clap::Args;

use crate::config::{
    http_url, parse_duration, require_non_empty, require_positive, require_topic_name,
};

/// What differs between the services sharing [`ServiceConfig`].
pub trait ServiceDefaults: Clone + fmt::Debug + Send + Sync + 'static {
    /// Prefix of the environment variables, e.g. `ORDERS` for `ORDERS_LISTEN`.
    const ENV_PREFIX: &'static str;
    /// Default `--listen`.
    const LISTEN: &'static str;
    /// Default `--data-dir`.
    const DATA_DIR: &'static str;
    /// Default `--audience`.
    const AUDIENCE: &'static str;

    /// The service's environment variable `<ENV_PREFIX>_<suffix>`.
    fn env(suffix: &str) -> String {
        format!("{}_{suffix}", Self::ENV_PREFIX)
    }
}

/// Declares a service's [`ServiceDefaults`]: a unit type with the environment prefix and the
/// defaults of the three settings that differ between services.
///
/// ```
/// zte_runtime::service_defaults! {
///     /// The example service: `EXAMPLE_LISTEN`, `EXAMPLE_TOPIC`, ...
///     pub Example { env_prefix: "EXAMPLE", listen: "127.0.0.1:1", data_dir: "data/example", audience: "example-service" }
/// }
/// use zte_runtime::ServiceDefaults as _;
/// assert_eq!(Example::env("LISTEN"), "EXAMPLE_LISTEN");
/// ```
#[macro_export]
macro_rules! service_defaults {
    ($(#[$doc:meta])* $vis:vis $name:ident {
        env_prefix: $prefix:expr,
        listen: $listen:expr,
        data_dir: $data_dir:expr,
        audience: $audience:expr $(,)?
    }) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        $vis struct $name;

        impl $crate::ServiceDefaults for $name {
            const ENV_PREFIX: &'static str = $prefix;
            const LISTEN: &'static str = $listen;
            const DATA_DIR: &'static str = $data_dir;
            const AUDIENCE: &'static str = $audience;
        }
    };
}

/// The shared settings, read once at start from flags and environment variables (flags win).
#[derive(Debug, Clone, Args)]
pub struct ServiceConfig<S: ServiceDefaults> {
    /// gRPC listen address (port 0 picks a free port).
    #[arg(long, env = S::env("LISTEN"), default_value = S::LISTEN)]
    pub listen: SocketAddr,
    /// Kafka bootstrap servers (host:port[,host:port]).
    #[arg(long, env = S::env("KAFKA_BOOTSTRAP"), default_value = "127.0.0.1:19092")]
    pub kafka_bootstrap: String,
    /// Topic carrying OrderCreated events.
    #[arg(long, env = S::env("TOPIC"), default_value = "orders.order-created.v1")]
    pub topic: String,
    /// Directory holding the SQLite database (created if missing).
    #[arg(long, env = S::env("DATA_DIR"), default_value = S::DATA_DIR)]
    pub data_dir: PathBuf,
    /// Token issuer URL; tokens must carry exactly this `iss`.
    #[arg(long, env = S::env("ISSUER"), default_value = "http://127.0.0.1:18080")]
    pub issuer: String,
    /// JWKS URL (default: `{issuer}/jwks`).
    #[arg(long, env = S::env("JWKS_URI"))]
    pub jwks_uri: Option<String>,
    /// Audience every accepted token must name.
    #[arg(long, env = S::env("AUDIENCE"), default_value = S::AUDIENCE)]
    pub audience: String,
    /// Token signature algorithms accepted, comma-separated (the allow-list: `ES256`,
    /// `PS256`); any other `alg` is refused before a key is looked up.
    #[arg(long, env = S::env("TOKEN_ALGORITHMS"), default_value = "ES256,PS256")]
    pub token_algorithms: String,
    /// Minimum time between JWKS refetches caused by unknown key ids (e.g. `10s`, `500ms`).
    #[arg(long, env = S::env("JWKS_REFRESH_COOLDOWN"), default_value = "10s", value_parser = parse_duration)]
    pub jwks_refresh_cooldown: Duration,
    /// Upper bound on a graceful shutdown: in-flight calls and records finish, Kafka clients
    /// flush and commit, within this time.
    #[arg(long, env = S::env("SHUTDOWN_TIMEOUT"), default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
    #[arg(skip)]
    service: PhantomData<S>,
}

impl<S: ServiceDefaults> ServiceConfig<S> {
    /// The JWKS URL: `--jwks-uri` or `{issuer}/jwks`.
    pub fn jwks_uri(&self) -> String {
        self.issuer_endpoint(self.jwks_uri.as_deref(), "jwks")
    }

    /// `configured`, or `{issuer}/{path}` when it is not set.
    pub fn issuer_endpoint(&self, configured: Option<&str>, path: &str) -> String {
        configured.map_or_else(
            || format!("{}/{path}", self.issuer.trim_end_matches('/')),
            str::to_owned,
        )
    }

    /// Checks the values clap cannot check alone; the error is one line naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        require_non_empty(&[
            ("--kafka-bootstrap", &self.kafka_bootstrap),
            ("--audience", &self.audience),
            ("--token-algorithms", &self.token_algorithms),
        ])?;
        require_topic_name("--topic", &self.topic)?;
        http_url("--issuer", &self.issuer)?;
        http_url("--jwks-uri", &self.jwks_uri())?;
        require_positive(&[("--shutdown-timeout", self.shutdown_timeout)])
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::env_vars;

    crate::service_defaults! {
        Test { env_prefix: "TEST", listen: "127.0.0.1:1", data_dir: "data/test", audience: "test-service" }
    }

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        service: ServiceConfig<Test>,
    }

    fn parse(args: &[&str]) -> Result<ServiceConfig<Test>, clap::Error> {
        Cli::try_parse_from(std::iter::once("test").chain(args.iter().copied()))
            .map(|cli| cli.service)
    }

    #[test]
    fn defaults_come_from_the_service_and_endpoints_from_the_issuer() {
        let config = parse(&["--issuer", "http://127.0.0.1:18080/"]).unwrap();
        assert_eq!(config.listen.port(), 1);
        assert_eq!(config.data_dir, PathBuf::from("data/test"));
        assert_eq!(config.audience, "test-service");
        assert_eq!(config.jwks_uri(), "http://127.0.0.1:18080/jwks");
        assert_eq!(
            config.issuer_endpoint(Some("http://other/t"), "token"),
            "http://other/t"
        );
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn every_shared_setting_reads_a_prefixed_environment_variable() {
        let names = env_vars(&<Cli as clap::CommandFactory>::command()).join(" ");
        assert_eq!(
            names,
            "LOG_FORMAT RUST_LOG TEST_AUDIENCE TEST_DATA_DIR TEST_ISSUER TEST_JWKS_REFRESH_COOLDOWN \
             TEST_JWKS_URI TEST_KAFKA_BOOTSTRAP TEST_LISTEN TEST_SHUTDOWN_TIMEOUT TEST_TOKEN_ALGORITHMS \
             TEST_TOPIC"
        );
    }

    #[test]
    fn bad_values_are_refused_with_the_setting_named() {
        let refused = |args: &[&str]| parse(args).unwrap().validate().unwrap_err();
        assert!(refused(&["--issuer", "not a url"]).contains("--issuer"));
        assert!(refused(&["--jwks-uri", "ftp://x/"]).contains("--jwks-uri"));
        assert!(refused(&["--topic", "bad topic!"]).contains("--topic"));
        assert!(refused(&["--audience", " "]).contains("--audience"));
        assert!(refused(&["--shutdown-timeout", "0"]).contains("--shutdown-timeout"));
        assert!(parse(&["--shutdown-timeout", "ten"]).is_err());
    }
}
