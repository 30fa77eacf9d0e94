//! Configuration, read once at start from flags and environment variables (flags win).
//!
//! The settings Orders shares with Payments (listen address, TLS, server and call limits,
//! Kafka, issuer, JWKS, token endpoint, the service's OAuth client, audience, data
//! directory, shutdown deadline) are the flattened [`ServiceConfig`]. Every setting
//! `--some-flag` is also read from `ORDERS_SOME_FLAG` ([`OrdersDefaults`]); the
//! README's "Orders service" table and `orders --print-env` list them.
//! [`OrdersConfig::validate`] refuses bad values with one line that names the setting, so a
//! misconfigured process exits at start instead of failing later.

use std::{path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};
use zte_auth::{
    Algorithm,
    names::{ORDERS_AUDIENCE, ORDERS_CLIENT_ID},
};
use zte_runtime::{EnvPrefix as _, PrintEnv, ServiceConfig, config as check, parse_duration};
use zte_store::{StoreConfig, StoreSettings};

zte_runtime::service_defaults! {
    /// Orders' environment prefix and defaults for the shared settings.
    pub OrdersDefaults { env_prefix: "ORDERS", listen: "127.0.0.1:50051", data_dir: "data/orders", audience: ORDERS_AUDIENCE, client_id: ORDERS_CLIENT_ID }
}

impl zte_store::DatabaseDefaults for OrdersDefaults {
    const ENV_PREFIX: &'static str = <Self as zte_runtime::EnvPrefix>::ENV_PREFIX;
    const SQLITE_FILE: &'static str = "orders.sqlite3";
}
/// Name of the default client key file inside `--data-dir`.
pub const CLIENT_KEY_FILE: &str = "client-key.pk8";
/// RSA modulus size of a new PS256 client key (`orders keygen --alg PS256`).
pub const DEFAULT_CLIENT_KEY_BITS: usize = 3072;

/// The command line: serve (default) or `keygen`.
#[derive(Debug, Clone, Parser)]
#[command(
    version,
    about = "Serves orders.v1.OrdersService and publishes token-bound OrderCreated events",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// A one-off command instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Serving configuration.
    #[command(flatten)]
    pub serve: OrdersConfig,
    /// `--print-env`.
    #[command(flatten)]
    pub print_env: PrintEnv,
}

/// One-off commands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Creates the client key pair if absent and writes its public JWK for the identity
    /// service to register. The private key never leaves this service.
    Keygen(KeygenArgs),
}

/// Arguments of `orders keygen`.
#[derive(Debug, Clone, Args)]
#[group(id = "OrdersKeygenArgs")]
pub struct KeygenArgs {
    /// Where the key pair goes.
    #[command(flatten)]
    pub files: zte_runtime::KeygenArgs<OrdersDefaults>,
    /// Algorithm of a new key: `ES256` (P-256) or `PS256` (RSA). An existing key is kept,
    /// whatever its algorithm.
    #[arg(long, default_value = "ES256")]
    pub alg: Algorithm,
    /// RSA modulus size of a new PS256 key (at least 2048).
    #[arg(long, default_value_t = DEFAULT_CLIENT_KEY_BITS)]
    pub key_bits: usize,
}

impl KeygenArgs {
    /// `keygen --client-key <client_key> --public-jwk <public_jwk>`: an ES256 key.
    pub fn new(client_key: impl Into<PathBuf>, public_jwk: impl Into<PathBuf>) -> Self {
        Self {
            files: zte_runtime::KeygenArgs::new(client_key, public_jwk),
            alg: Algorithm::Es256,
            key_bits: DEFAULT_CLIENT_KEY_BITS,
        }
    }
}

/// Orders service configuration.
#[derive(Debug, Clone, Args)]
pub struct OrdersConfig {
    /// The settings shared with Payments.
    #[command(flatten)]
    pub service: ServiceConfig<OrdersDefaults>,
    /// The database settings every service shares.
    #[command(flatten)]
    pub store: StoreConfig<OrdersDefaults>,
    /// Upper bound on publishing one event, retries included (e.g. `10s`, `500ms`).
    #[arg(long, env = OrdersDefaults::env("PUBLISH_TIMEOUT"), default_value = "10s", value_parser = parse_duration)]
    pub publish_timeout: Duration,
}

impl OrdersConfig {
    /// Every default, with the given issuer and data directory (for tests and embedding; the
    /// binary parses flags and environment instead). TLS is the default: set certificates in
    /// `service.tls`, or `--plaintext` for a loopback server.
    pub fn with_defaults(issuer: &str, data_dir: impl Into<PathBuf>) -> Self {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            config: OrdersConfig,
        }
        let mut config = Only::parse_from(["orders", "--issuer", issuer]).config;
        config.service.data_dir = data_dir.into();
        config
    }

    /// The database: `--database-url`, or `orders.sqlite3` in `--data-dir`.
    pub fn store_settings(&self) -> Result<StoreSettings, String> {
        self.store.settings(&self.service.data_dir)
    }

    /// Checks the values clap cannot check alone; the error is one line naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        self.service.validate()?;
        self.store_settings()?;
        check::require_positive(&[("--publish-timeout", self.publish_timeout)])?;
        // librdkafka takes message.timeout.ms as a 31-bit integer.
        if self.publish_timeout > Duration::from_millis(i32::MAX as u64) {
            return Err("--publish-timeout is too large".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Defaults with `issuer`, served plaintext on loopback.
    fn local(issuer: &str) -> OrdersConfig {
        let mut config = OrdersConfig::with_defaults(issuer, "d");
        config.service.tls.plaintext = true;
        config
    }

    #[test]
    fn defaults_derive_endpoints_and_key_path_from_issuer_and_data_dir() {
        let config = local("https://127.0.0.1:18080/");
        assert_eq!(config.service.listen.port(), 50051);
        assert_eq!(config.service.kafka_bootstrap, "127.0.0.1:19092");
        assert_eq!(config.service.topic, "orders.order-created.v1");
        assert_eq!(config.service.jwks_uri(), "https://127.0.0.1:18080/jwks");
        assert_eq!(
            config.service.token_endpoint(),
            "https://127.0.0.1:18080/token"
        );
        assert_eq!(
            config.service.client_key_path(),
            PathBuf::from("d/client-key.pk8")
        );
        assert_eq!(config.service.audience, "orders-service");
        assert_eq!(config.service.client_id, "orders-service");
        assert_eq!(config.publish_timeout, Duration::from_secs(10));
        assert_eq!(config.service.identity_timeout, Duration::from_secs(5));
        assert!(config.validate().is_ok());
    }

    #[test]
    fn bad_values_are_refused_with_the_setting_named() {
        let mut config = local("not a url");
        assert!(config.validate().unwrap_err().contains("--issuer"));
        config = local("http://identity:8080");
        assert!(config.validate().unwrap_err().contains("non-loopback"));
        config = local("https://i");
        config.service.topic = "bad topic!".into();
        assert!(config.validate().unwrap_err().contains("--topic"));
        config = local("https://i");
        config.service.token_endpoint = Some("ftp://x".into());
        assert!(config.validate().unwrap_err().contains("--token-endpoint"));
        config = local("https://i");
        config.publish_timeout = Duration::ZERO;
        assert!(config.validate().unwrap_err().contains("--publish-timeout"));
        config = local("https://i");
        config.service.tls.plaintext = false;
        assert!(config.validate().unwrap_err().contains("--tls-cert"));
    }

    #[test]
    fn keygen_subcommand_parses_and_serve_flags_are_the_default_command() {
        let cli = Cli::parse_from([
            "orders",
            "keygen",
            "--client-key",
            "k.pk8",
            "--public-jwk",
            "k.json",
        ]);
        let Some(Command::Keygen(args)) = cli.command else {
            panic!("expected keygen");
        };
        assert_eq!(args.files.public_jwk, PathBuf::from("k.json"));
        assert_eq!(args.alg, Algorithm::Es256, "ES256 by default");
        let cli = Cli::parse_from([
            "orders",
            "keygen",
            "--client-key",
            "k",
            "--public-jwk",
            "j",
            "--alg",
            "PS256",
        ]);
        assert!(matches!(cli.command, Some(Command::Keygen(a)) if a.alg == Algorithm::Ps256));
        assert!(
            Cli::try_parse_from([
                "orders",
                "keygen",
                "--client-key",
                "k",
                "--public-jwk",
                "j",
                "--alg",
                "RS256"
            ])
            .is_err()
        );
        let cli = Cli::parse_from(["orders", "--publish-timeout", "250ms"]);
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.publish_timeout, Duration::from_millis(250));
        assert!(Cli::try_parse_from(["orders", "--publish-timeout", "soon"]).is_err());
    }

    #[test]
    fn print_env_lists_every_variable_of_serving_and_keygen() {
        assert_eq!(
            zte_runtime::env_vars(&<Cli as clap::CommandFactory>::command()).join(" "),
            "LOG_FORMAT ORDERS_AUDIENCE ORDERS_CLIENT_ID ORDERS_CLIENT_KEY \
             ORDERS_DATABASE_ACQUIRE_TIMEOUT ORDERS_DATABASE_MAX_CONNECTIONS \
             ORDERS_DATABASE_STATEMENT_TIMEOUT ORDERS_DATABASE_URL ORDERS_DATA_DIR \
             ORDERS_HANDSHAKE_TIMEOUT ORDERS_IDENTITY_TIMEOUT ORDERS_IDLE_TIMEOUT ORDERS_ISSUER \
             ORDERS_JWKS_REFRESH_COOLDOWN ORDERS_JWKS_URI ORDERS_KAFKA_BOOTSTRAP \
             ORDERS_KEEPALIVE_INTERVAL ORDERS_LISTEN ORDERS_MAX_CONCURRENT_REQUESTS \
             ORDERS_MAX_CONNECTIONS ORDERS_MAX_MESSAGE_BYTES ORDERS_PLAINTEXT \
             ORDERS_PUBLISH_TIMEOUT ORDERS_REQUEST_TIMEOUT ORDERS_SHUTDOWN_TIMEOUT ORDERS_TLS_CA \
             ORDERS_TLS_CERT ORDERS_TLS_CLIENT_AUTH ORDERS_TLS_CLIENT_CA ORDERS_TLS_CLIENT_CERT \
             ORDERS_TLS_CLIENT_KEY ORDERS_TLS_KEY ORDERS_TLS_RELOAD_INTERVAL \
             ORDERS_TOKEN_ALGORITHMS ORDERS_TOKEN_ENDPOINT ORDERS_TOPIC RUST_LOG"
        );
    }
}
