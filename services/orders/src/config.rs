//! Configuration, read once at start from flags and environment variables (flags win).
//!
//! Every environment variable is named by a constant here and listed in the README's
//! "Orders service" table. [`OrdersConfig::validate`] refuses bad values with one line that
//! names the setting, so a misconfigured process exits at start instead of failing later.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};
use zte_runtime::{is_topic_name, parse_duration};

/// `--listen`: gRPC listen address.
pub const ENV_LISTEN: &str = "ORDERS_LISTEN";
/// `--kafka-bootstrap`: Kafka bootstrap servers.
pub const ENV_KAFKA_BOOTSTRAP: &str = "ORDERS_KAFKA_BOOTSTRAP";
/// `--topic`: the OrderCreated topic.
pub const ENV_TOPIC: &str = "ORDERS_TOPIC";
/// `--data-dir`: directory of the SQLite database (and, by default, the client key).
pub const ENV_DATA_DIR: &str = "ORDERS_DATA_DIR";
/// `--issuer`: the token issuer (exact `iss`).
pub const ENV_ISSUER: &str = "ORDERS_ISSUER";
/// `--jwks-uri`: where the issuer's keys are.
pub const ENV_JWKS_URI: &str = "ORDERS_JWKS_URI";
/// `--token-endpoint`: where event tokens are obtained (RFC 8693 token exchange).
pub const ENV_TOKEN_ENDPOINT: &str = "ORDERS_TOKEN_ENDPOINT";
/// `--audience`: the audience user tokens must name.
pub const ENV_AUDIENCE: &str = "ORDERS_AUDIENCE";
/// `--client-id`: this service's OAuth client id at the issuer.
pub const ENV_CLIENT_ID: &str = "ORDERS_CLIENT_ID";
/// `--client-key`: this service's private key (PKCS#8 DER) for `private_key_jwt`.
pub const ENV_CLIENT_KEY: &str = "ORDERS_CLIENT_KEY";
/// `--publish-timeout`: upper bound on one Kafka delivery (retries included).
pub const ENV_PUBLISH_TIMEOUT: &str = "ORDERS_PUBLISH_TIMEOUT";
/// `--identity-timeout`: upper bound on one call to the token endpoint.
pub const ENV_IDENTITY_TIMEOUT: &str = "ORDERS_IDENTITY_TIMEOUT";
/// `--jwks-refresh-cooldown`: minimum time between JWKS refetches for unknown kids.
pub const ENV_JWKS_REFRESH_COOLDOWN: &str = "ORDERS_JWKS_REFRESH_COOLDOWN";
/// `--shutdown-timeout`: how long a graceful shutdown may take.
pub const ENV_SHUTDOWN_TIMEOUT: &str = "ORDERS_SHUTDOWN_TIMEOUT";

/// Name of the SQLite file inside `--data-dir`.
pub const DATABASE_FILE: &str = "orders.sqlite3";
/// Name of the default client key file inside `--data-dir`.
pub const CLIENT_KEY_FILE: &str = "client-key.pk8";

/// The command line: serve (default) or `keygen`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "orders",
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
    #[arg(long, env = ENV_CLIENT_KEY)]
    pub client_key: PathBuf,
    /// Where to write the public JWK (JSON).
    #[arg(long)]
    pub public_jwk: PathBuf,
}

/// Orders service configuration.
#[derive(Debug, Clone, Args)]
pub struct OrdersConfig {
    /// gRPC listen address (port 0 picks a free port).
    #[arg(long, env = ENV_LISTEN, default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Kafka bootstrap servers (host:port[,host:port]).
    #[arg(long, env = ENV_KAFKA_BOOTSTRAP, default_value = "127.0.0.1:19092")]
    pub kafka_bootstrap: String,
    /// Topic for OrderCreated events.
    #[arg(long, env = ENV_TOPIC, default_value = "orders.order-created.v1")]
    pub topic: String,
    /// Directory holding the SQLite database (created if missing).
    #[arg(long, env = ENV_DATA_DIR, default_value = "data/orders")]
    pub data_dir: PathBuf,
    /// Token issuer URL; tokens must carry exactly this `iss`.
    #[arg(long, env = ENV_ISSUER, default_value = "http://127.0.0.1:18080")]
    pub issuer: String,
    /// JWKS URL (default: `{issuer}/jwks`).
    #[arg(long, env = ENV_JWKS_URI)]
    pub jwks_uri: Option<String>,
    /// Token endpoint URL (default: `{issuer}/token`).
    #[arg(long, env = ENV_TOKEN_ENDPOINT)]
    pub token_endpoint: Option<String>,
    /// Audience every accepted user token must name.
    #[arg(long, env = ENV_AUDIENCE, default_value = "orders-service")]
    pub audience: String,
    /// This service's OAuth client id.
    #[arg(long, env = ENV_CLIENT_ID, default_value = "orders-service")]
    pub client_id: String,
    /// This service's private key, PKCS#8 DER (default: `<data-dir>/client-key.pk8`);
    /// create it with `orders keygen`.
    #[arg(long, env = ENV_CLIENT_KEY)]
    pub client_key: Option<PathBuf>,
    /// Upper bound on publishing one event, retries included (e.g. `10s`, `500ms`).
    #[arg(long, env = ENV_PUBLISH_TIMEOUT, default_value = "10s", value_parser = parse_duration)]
    pub publish_timeout: Duration,
    /// Upper bound on one token-exchange call to the identity service.
    #[arg(long, env = ENV_IDENTITY_TIMEOUT, default_value = "5s", value_parser = parse_duration)]
    pub identity_timeout: Duration,
    /// Minimum time between JWKS refetches caused by unknown key ids.
    #[arg(long, env = ENV_JWKS_REFRESH_COOLDOWN, default_value = "10s", value_parser = parse_duration)]
    pub jwks_refresh_cooldown: Duration,
    /// Upper bound on a graceful shutdown (finish in-flight calls, flush the producer).
    #[arg(long, env = ENV_SHUTDOWN_TIMEOUT, default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
}

impl OrdersConfig {
    /// Every default, with the given issuer and data directory (for tests and embedding; the
    /// binary parses flags and environment instead).
    pub fn with_defaults(issuer: &str, data_dir: impl Into<PathBuf>) -> Self {
        let mut config = Self::from_args(["orders", "--issuer", issuer]);
        config.data_dir = data_dir.into();
        config
    }

    fn from_args<const N: usize>(args: [&str; N]) -> Self {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            config: OrdersConfig,
        }
        Only::parse_from(args).config
    }

    /// The JWKS URL: `--jwks-uri` or `{issuer}/jwks`.
    pub fn jwks_uri(&self) -> String {
        self.jwks_uri
            .clone()
            .unwrap_or_else(|| format!("{}/jwks", self.issuer.trim_end_matches('/')))
    }

    /// The token endpoint: `--token-endpoint` or `{issuer}/token`.
    pub fn token_endpoint(&self) -> String {
        self.token_endpoint
            .clone()
            .unwrap_or_else(|| format!("{}/token", self.issuer.trim_end_matches('/')))
    }

    /// The client key path: `--client-key` or `<data-dir>/client-key.pk8`.
    pub fn client_key_path(&self) -> PathBuf {
        self.client_key
            .clone()
            .unwrap_or_else(|| self.data_dir.join(CLIENT_KEY_FILE))
    }

    /// The SQLite database path.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join(DATABASE_FILE)
    }

    /// Checks the values clap cannot check alone; the error is one line naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        for (name, value) in [
            ("--kafka-bootstrap", self.kafka_bootstrap.as_str()),
            ("--audience", self.audience.as_str()),
            ("--client-id", self.client_id.as_str()),
        ] {
            if value.trim().is_empty() {
                return Err(format!("{name} must not be empty"));
            }
        }
        if !is_topic_name(&self.topic) {
            return Err(format!(
                "--topic {:?} is not a valid Kafka topic name (1-249 of [A-Za-z0-9._-])",
                self.topic
            ));
        }
        for (name, value) in [
            ("--issuer", self.issuer.clone()),
            ("--jwks-uri", self.jwks_uri()),
            ("--token-endpoint", self.token_endpoint()),
        ] {
            let parsed = url::Url::parse(&value)
                .map_err(|e| format!("{name} {value:?} is not a URL: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(format!("{name} {value:?} must be an http(s) URL"));
            }
        }
        for (name, value) in [
            ("--publish-timeout", self.publish_timeout),
            ("--identity-timeout", self.identity_timeout),
            ("--shutdown-timeout", self.shutdown_timeout),
        ] {
            if value.is_zero() {
                return Err(format!("{name} must be greater than zero"));
            }
        }
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
        assert_eq!(config.listen.port(), 50051);
        assert_eq!(config.kafka_bootstrap, "127.0.0.1:19092");
        assert_eq!(config.topic, "orders.order-created.v1");
        assert_eq!(config.jwks_uri(), "http://127.0.0.1:18080/jwks");
        assert_eq!(config.token_endpoint(), "http://127.0.0.1:18080/token");
        assert_eq!(config.client_key_path(), PathBuf::from("d/client-key.pk8"));
        assert_eq!(config.audience, "orders-service");
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
        config.topic = "bad topic!".into();
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
        let cli = Cli::parse_from(["orders", "--publish-timeout", "250ms"]);
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.publish_timeout, Duration::from_millis(250));
        assert!(Cli::try_parse_from(["orders", "--publish-timeout", "soon"]).is_err());
    }
}
