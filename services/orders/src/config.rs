//! Configuration, read once at start from flags and environment variables (flags win).
//!
//! The settings Orders shares with Payments (listen address, Kafka, issuer, JWKS, audience,
//! data directory, shutdown deadline) are the flattened [`ServiceConfig`]. Every setting
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
use zte_runtime::{PrintEnv, ServiceConfig, ServiceDefaults as _, config as check, parse_duration};
use zte_store::{StoreConfig, StoreSettings};

zte_runtime::service_defaults! {
    /// Orders' environment prefix and defaults for the shared settings.
    pub OrdersDefaults { env_prefix: "ORDERS", listen: "127.0.0.1:50051", data_dir: "data/orders", audience: ORDERS_AUDIENCE }
}

impl zte_store::DatabaseDefaults for OrdersDefaults {
    const ENV_PREFIX: &'static str = <Self as zte_runtime::ServiceDefaults>::ENV_PREFIX;
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
pub struct KeygenArgs {
    /// Private key file (PKCS#8 DER, created with mode 0600 if absent).
    #[arg(long, env = OrdersDefaults::env("CLIENT_KEY"))]
    pub client_key: PathBuf,
    /// Where to write the public JWK (JSON).
    #[arg(long)]
    pub public_jwk: PathBuf,
    /// Algorithm of a new key: `ES256` (P-256) or `PS256` (RSA). An existing key is kept,
    /// whatever its algorithm.
    #[arg(long, default_value = "ES256")]
    pub alg: Algorithm,
    /// RSA modulus size of a new PS256 key (at least 2048).
    #[arg(long, default_value_t = DEFAULT_CLIENT_KEY_BITS)]
    pub key_bits: usize,
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
    /// Token endpoint URL (default: `{issuer}/token`).
    #[arg(long, env = OrdersDefaults::env("TOKEN_ENDPOINT"))]
    pub token_endpoint: Option<String>,
    /// This service's OAuth client id.
    #[arg(long, env = OrdersDefaults::env("CLIENT_ID"), default_value = ORDERS_CLIENT_ID)]
    pub client_id: String,
    /// This service's private key, PKCS#8 DER (default: `<data-dir>/client-key.pk8`);
    /// create it with `orders keygen`.
    #[arg(long, env = OrdersDefaults::env("CLIENT_KEY"))]
    pub client_key: Option<PathBuf>,
    /// Upper bound on publishing one event, retries included (e.g. `10s`, `500ms`).
    #[arg(long, env = OrdersDefaults::env("PUBLISH_TIMEOUT"), default_value = "10s", value_parser = parse_duration)]
    pub publish_timeout: Duration,
    /// Upper bound on one token-exchange call to the identity service.
    #[arg(long, env = OrdersDefaults::env("IDENTITY_TIMEOUT"), default_value = "5s", value_parser = parse_duration)]
    pub identity_timeout: Duration,
}

impl OrdersConfig {
    /// Every default, with the given issuer and data directory (for tests and embedding; the
    /// binary parses flags and environment instead).
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

    /// The token endpoint: `--token-endpoint` or `{issuer}/token`.
    pub fn token_endpoint(&self) -> String {
        self.service
            .issuer_endpoint(self.token_endpoint.as_deref(), "token")
    }

    /// The client key path: `--client-key` or `<data-dir>/client-key.pk8`.
    pub fn client_key_path(&self) -> PathBuf {
        self.client_key
            .clone()
            .unwrap_or_else(|| self.service.data_dir.join(CLIENT_KEY_FILE))
    }

    /// The database: `--database-url`, or `orders.sqlite3` in `--data-dir`.
    pub fn store_settings(&self) -> Result<StoreSettings, String> {
        self.store.settings(&self.service.data_dir)
    }

    /// Checks the values clap cannot check alone; the error is one line naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        self.service.validate()?;
        self.store_settings()?;
        check::require_non_empty(&[("--client-id", &self.client_id)])?;
        check::http_url("--token-endpoint", &self.token_endpoint())?;
        check::require_positive(&[
            ("--publish-timeout", self.publish_timeout),
            ("--identity-timeout", self.identity_timeout),
        ])?;
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

    #[test]
    fn defaults_derive_endpoints_and_key_path_from_issuer_and_data_dir() {
        let config = OrdersConfig::with_defaults("http://127.0.0.1:18080/", "d");
        assert_eq!(config.service.listen.port(), 50051);
        assert_eq!(config.service.kafka_bootstrap, "127.0.0.1:19092");
        assert_eq!(config.service.topic, "orders.order-created.v1");
        assert_eq!(config.service.jwks_uri(), "http://127.0.0.1:18080/jwks");
        assert_eq!(config.token_endpoint(), "http://127.0.0.1:18080/token");
        assert_eq!(config.client_key_path(), PathBuf::from("d/client-key.pk8"));
        assert_eq!(config.service.audience, "orders-service");
        assert_eq!(config.client_id, "orders-service");
        assert_eq!(config.publish_timeout, Duration::from_secs(10));
        assert_eq!(config.identity_timeout, Duration::from_secs(5));
        assert!(config.validate().is_ok());
    }

    #[test]
    fn bad_values_are_refused_with_the_setting_named() {
        let mut config = OrdersConfig::with_defaults("not a url", "d");
        assert!(config.validate().unwrap_err().contains("--issuer"));
        config = OrdersConfig::with_defaults("http://i", "d");
        config.service.topic = "bad topic!".into();
        assert!(config.validate().unwrap_err().contains("--topic"));
        config = OrdersConfig::with_defaults("http://i", "d");
        config.token_endpoint = Some("ftp://x".into());
        assert!(config.validate().unwrap_err().contains("--token-endpoint"));
        config = OrdersConfig::with_defaults("http://i", "d");
        config.publish_timeout = Duration::ZERO;
        assert!(config.validate().unwrap_err().contains("--publish-timeout"));
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
        assert_eq!(args.public_jwk, PathBuf::from("k.json"));
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
             ORDERS_IDENTITY_TIMEOUT ORDERS_ISSUER ORDERS_JWKS_REFRESH_COOLDOWN ORDERS_JWKS_URI \
             ORDERS_KAFKA_BOOTSTRAP ORDERS_LISTEN ORDERS_PUBLISH_TIMEOUT ORDERS_SHUTDOWN_TIMEOUT \
             ORDERS_TOKEN_ALGORITHMS ORDERS_TOKEN_ENDPOINT ORDERS_TOPIC RUST_LOG"
        );
    }
}
