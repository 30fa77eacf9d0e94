//! The settings Orders and Payments share (listen address, transport security, Kafka, token
//! issuer, JWKS and accepted algorithms, their own OAuth client, audience, data directory,
//! shutdown deadline), parsed by one clap group and checked by one function, so the two
//! services cannot drift apart.
//!
//! Each service flattens a [`ServiceConfig<S>`] into its own configuration. `S` names the
//! service ([`service_defaults!`](crate::service_defaults)): the prefix of its environment
//! variables (`ORDERS` reads `ORDERS_LISTEN`, `ORDERS_TOPIC`, ...; its own settings use
//! [`EnvPrefix::env`] too) and the defaults that differ (listen address, data directory,
//! audience, client id).

use std::{fmt, marker::PhantomData, net::SocketAddr, path::PathBuf, time::Duration};

use clap::Args;

use crate::{
    ServerLimits, TlsConfig,
    config::{parse_duration, require_non_empty, require_positive, require_topic_name, secure_url},
};

/// The prefix of a program's environment variables (`ORDERS` for `ORDERS_LISTEN`): every
/// settings group a program flattens reads `<PREFIX>_<SETTING>`.
pub trait EnvPrefix: Clone + fmt::Debug + Send + Sync + 'static {
    /// Prefix of the environment variables, e.g. `ORDERS` for `ORDERS_LISTEN`.
    const ENV_PREFIX: &'static str;

    /// The program's environment variable `<ENV_PREFIX>_<suffix>`.
    fn env(suffix: &str) -> String {
        format!("{}_{suffix}", Self::ENV_PREFIX)
    }
}

/// Declares a program's [`EnvPrefix`]: a unit type with the prefix of its environment
/// variables (Identity's; Orders and Payments use [`service_defaults!`](crate::service_defaults)).
///
/// ```
/// zte_runtime::env_prefix! {
///     /// The example program: `EXAMPLE_TLS_CERT`, ...
///     pub Example { env_prefix: "EXAMPLE" }
/// }
/// use zte_runtime::EnvPrefix as _;
/// assert_eq!(Example::env("TLS_CERT"), "EXAMPLE_TLS_CERT");
/// ```
#[macro_export]
macro_rules! env_prefix {
    ($(#[$doc:meta])* $vis:vis $name:ident { env_prefix: $prefix:expr $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        $vis struct $name;

        impl $crate::EnvPrefix for $name {
            const ENV_PREFIX: &'static str = $prefix;
        }
    };
}

/// What differs between the services sharing [`ServiceConfig`].
pub trait ServiceDefaults: EnvPrefix {
    /// Default `--listen`.
    const LISTEN: &'static str;
    /// Default `--data-dir`.
    const DATA_DIR: &'static str;
    /// Default `--audience`.
    const AUDIENCE: &'static str;
    /// Default `--client-id`: the service's OAuth client (Orders: the token exchange).
    const CLIENT_ID: &'static str;
}

/// Declares a service's [`ServiceDefaults`]: a unit type with the environment prefix and the
/// defaults of the settings that differ between services.
///
/// ```
/// zte_runtime::service_defaults! {
///     /// The example service: `EXAMPLE_LISTEN`, `EXAMPLE_TOPIC`, ...
///     pub Example { env_prefix: "EXAMPLE", listen: "127.0.0.1:1", data_dir: "data/example", audience: "example-service", client_id: "example-service" }
/// }
/// use zte_runtime::EnvPrefix as _;
/// assert_eq!(Example::env("LISTEN"), "EXAMPLE_LISTEN");
/// ```
#[macro_export]
macro_rules! service_defaults {
    ($(#[$doc:meta])* $vis:vis $name:ident {
        env_prefix: $prefix:expr,
        listen: $listen:expr,
        data_dir: $data_dir:expr,
        audience: $audience:expr,
        client_id: $client_id:expr $(,)?
    }) => {
        $crate::env_prefix! { $(#[$doc])* $vis $name { env_prefix: $prefix } }

        impl $crate::ServiceDefaults for $name {
            const LISTEN: &'static str = $listen;
            const DATA_DIR: &'static str = $data_dir;
            const AUDIENCE: &'static str = $audience;
            const CLIENT_ID: &'static str = $client_id;
        }
    };
}

/// Limits of the gRPC API calls a server runs at once, their messages and connections.
#[derive(Debug, Clone, Args)]
pub struct GrpcLimits<S: ServiceDefaults> {
    /// API calls in progress at once (health and reflection not counted); one more is
    /// answered RESOURCE_EXHAUSTED at once. A call whose client went away keeps its place
    /// until its work is done.
    #[arg(long, env = S::env("MAX_CONCURRENT_REQUESTS"), default_value_t = 256)]
    pub max_concurrent_requests: usize,
    /// Largest gRPC message decoded or sent, in bytes.
    #[arg(long, env = S::env("MAX_MESSAGE_BYTES"), default_value_t = 256 * 1024)]
    pub max_message_bytes: usize,
    /// HTTP/2 keep-alive: a PING after this long without a frame; no answer within 20 s
    /// closes the connection.
    #[arg(long, env = S::env("KEEPALIVE_INTERVAL"), default_value = "30s", value_parser = parse_duration)]
    pub keepalive_interval: Duration,
    #[arg(skip)]
    service: PhantomData<S>,
}

impl<S: ServiceDefaults> GrpcLimits<S> {
    /// Checks the values; the error is one line naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_concurrent_requests == 0 {
            return Err("--max-concurrent-requests must be at least 1".into());
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.max_message_bytes) {
            return Err(format!(
                "--max-message-bytes {} must be between 1024 and 16777216",
                self.max_message_bytes
            ));
        }
        require_positive(&[("--keepalive-interval", self.keepalive_interval)])
    }
}

/// Arguments of a service's `keygen` subcommand: create the service's client key pair.
#[derive(Debug, Clone, Args)]
pub struct KeygenArgs<S: ServiceDefaults> {
    /// Private key file (PKCS#8 DER, created with mode 0600 if absent).
    #[arg(long, env = S::env("CLIENT_KEY"))]
    pub client_key: PathBuf,
    /// Where to write the public JWK (JSON), for the authorization server to register.
    #[arg(long)]
    pub public_jwk: PathBuf,
    #[arg(skip)]
    service: PhantomData<S>,
}

impl<S: ServiceDefaults> KeygenArgs<S> {
    /// `keygen --client-key <client_key> --public-jwk <public_jwk>`.
    pub fn new(client_key: impl Into<PathBuf>, public_jwk: impl Into<PathBuf>) -> Self {
        Self {
            client_key: client_key.into(),
            public_jwk: public_jwk.into(),
            service: PhantomData,
        }
    }
}

/// Name of the default client key file inside `--data-dir`.
pub const CLIENT_KEY_FILE: &str = "client-key.pk8";

/// The shared settings, read once at start from flags and environment variables (flags win).
#[derive(Debug, Clone, Args)]
pub struct ServiceConfig<S: ServiceDefaults> {
    /// gRPC listen address (port 0 picks a free port).
    #[arg(long, env = S::env("LISTEN"), default_value = S::LISTEN)]
    pub listen: SocketAddr,
    /// Transport security of the gRPC server and of the calls to identity.
    #[command(flatten)]
    pub tls: TlsConfig<S>,
    /// Connection and request limits of the gRPC server.
    #[command(flatten)]
    pub limits: ServerLimits<S>,
    /// What one gRPC call may cost the server.
    #[command(flatten)]
    pub grpc: GrpcLimits<S>,
    /// Kafka bootstrap servers (host:port[,host:port]).
    #[arg(long, env = S::env("KAFKA_BOOTSTRAP"), default_value = "127.0.0.1:19092")]
    pub kafka_bootstrap: String,
    /// Topic carrying OrderCreated events.
    #[arg(long, env = S::env("TOPIC"), default_value = "orders.order-created.v1")]
    pub topic: String,
    /// Directory holding the SQLite database (created if missing).
    #[arg(long, env = S::env("DATA_DIR"), default_value = S::DATA_DIR)]
    pub data_dir: PathBuf,
    /// Token issuer URL; tokens must carry exactly this `iss`. `http://` only on loopback.
    #[arg(long, env = S::env("ISSUER"), default_value = "https://127.0.0.1:18080")]
    pub issuer: String,
    /// JWKS URL (default: `{issuer}/jwks`).
    #[arg(long, env = S::env("JWKS_URI"))]
    pub jwks_uri: Option<String>,
    /// Token endpoint URL (default: `{issuer}/token`).
    #[arg(long, env = S::env("TOKEN_ENDPOINT"))]
    pub token_endpoint: Option<String>,
    /// This service's OAuth client id (the `iss`/`sub` of its client assertions).
    #[arg(long, env = S::env("CLIENT_ID"), default_value = S::CLIENT_ID)]
    pub client_id: String,
    /// This service's private key, PKCS#8 DER (default: `<data-dir>/client-key.pk8`);
    /// create it with the `keygen` subcommand.
    #[arg(long, env = S::env("CLIENT_KEY"))]
    pub client_key: Option<PathBuf>,
    /// Upper bound on one call to the identity service (JWKS, token endpoint).
    #[arg(long, env = S::env("IDENTITY_TIMEOUT"), default_value = "5s", value_parser = parse_duration)]
    pub identity_timeout: Duration,
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

    /// The token endpoint: `--token-endpoint` or `{issuer}/token`.
    pub fn token_endpoint(&self) -> String {
        self.issuer_endpoint(self.token_endpoint.as_deref(), "token")
    }

    /// The client key path: `--client-key` or `<data-dir>/client-key.pk8`.
    pub fn client_key_path(&self) -> PathBuf {
        self.client_key
            .clone()
            .unwrap_or_else(|| self.data_dir.join(CLIENT_KEY_FILE))
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
            ("--client-id", &self.client_id),
            ("--token-algorithms", &self.token_algorithms),
        ])?;
        require_topic_name("--topic", &self.topic)?;
        secure_url("--issuer", &self.issuer)?;
        secure_url("--jwks-uri", &self.jwks_uri())?;
        secure_url("--token-endpoint", &self.token_endpoint())?;
        self.tls.validate(self.listen)?;
        self.limits.validate()?;
        self.grpc.validate()?;
        require_positive(&[
            ("--shutdown-timeout", self.shutdown_timeout),
            ("--identity-timeout", self.identity_timeout),
        ])
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::env_vars;

    crate::service_defaults! {
        Test { env_prefix: "TEST", listen: "127.0.0.1:1", data_dir: "data/test", audience: "test-service", client_id: "test-client" }
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

    /// A valid configuration but for `args`: plaintext on loopback.
    fn local(args: &[&str]) -> ServiceConfig<Test> {
        let mut all = vec!["--plaintext"];
        all.extend_from_slice(args);
        parse(&all).unwrap()
    }

    #[test]
    fn defaults_come_from_the_service_and_endpoints_from_the_issuer() {
        let config = local(&["--issuer", "http://127.0.0.1:18080/"]);
        assert_eq!(config.listen.port(), 1);
        assert_eq!(config.data_dir, PathBuf::from("data/test"));
        assert_eq!(config.audience, "test-service");
        assert_eq!(config.client_id, "test-client");
        assert_eq!(config.jwks_uri(), "http://127.0.0.1:18080/jwks");
        assert_eq!(config.token_endpoint(), "http://127.0.0.1:18080/token");
        assert_eq!(
            config.client_key_path(),
            PathBuf::from("data/test/client-key.pk8")
        );
        assert_eq!(
            config.issuer_endpoint(Some("http://other/t"), "token"),
            "http://other/t"
        );
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn secure_by_default_a_tls_server_and_an_https_issuer() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.issuer, "https://127.0.0.1:18080");
        assert!(config.validate().unwrap_err().contains("--tls-cert"));
        let tls = parse(&["--tls-cert", "c", "--tls-key", "k"]).unwrap();
        assert_eq!(tls.validate(), Ok(()));
    }

    #[test]
    fn every_shared_setting_reads_a_prefixed_environment_variable() {
        let names = env_vars(&<Cli as clap::CommandFactory>::command()).join(" ");
        assert_eq!(
            names,
            "LOG_FORMAT RUST_LOG TEST_AUDIENCE TEST_CLIENT_ID TEST_CLIENT_KEY TEST_DATA_DIR \
             TEST_HANDSHAKE_TIMEOUT TEST_IDENTITY_TIMEOUT TEST_IDLE_TIMEOUT TEST_ISSUER \
             TEST_JWKS_REFRESH_COOLDOWN TEST_JWKS_URI TEST_KAFKA_BOOTSTRAP \
             TEST_KEEPALIVE_INTERVAL TEST_LISTEN TEST_MAX_CONCURRENT_REQUESTS \
             TEST_MAX_CONNECTIONS TEST_MAX_MESSAGE_BYTES TEST_PLAINTEXT TEST_REQUEST_TIMEOUT \
             TEST_SHUTDOWN_TIMEOUT TEST_TLS_CA TEST_TLS_CERT TEST_TLS_CLIENT_AUTH TEST_TLS_CLIENT_CA \
             TEST_TLS_CLIENT_CERT TEST_TLS_CLIENT_KEY TEST_TLS_KEY TEST_TLS_RELOAD_INTERVAL \
             TEST_TOKEN_ALGORITHMS TEST_TOKEN_ENDPOINT TEST_TOPIC"
        );
    }

    #[test]
    fn bad_values_are_refused_with_the_setting_named() {
        let refused = |args: &[&str]| local(args).validate().unwrap_err();
        assert!(refused(&["--issuer", "not a url"]).contains("--issuer"));
        assert!(refused(&["--issuer", "http://identity:8080"]).contains("non-loopback"));
        assert!(refused(&["--token-endpoint", "http://10.0.0.1/t"]).contains("--token-endpoint"));
        assert!(refused(&["--identity-timeout", "0"]).contains("--identity-timeout"));
        assert!(refused(&["--max-concurrent-requests", "0"]).contains("--max-concurrent-requests"));
        assert!(refused(&["--max-message-bytes", "10"]).contains("--max-message-bytes"));
        assert!(refused(&["--max-connections", "0"]).contains("--max-connections"));
        assert!(refused(&["--jwks-uri", "ftp://x/"]).contains("--jwks-uri"));
        assert!(refused(&["--topic", "bad topic!"]).contains("--topic"));
        assert!(refused(&["--audience", " "]).contains("--audience"));
        assert!(refused(&["--shutdown-timeout", "0"]).contains("--shutdown-timeout"));
        assert!(parse(&["--shutdown-timeout", "ten"]).is_err());
    }
}
