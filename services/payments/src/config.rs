//! Configuration, read once at start from flags and environment variables (flags win).
//!
//! The settings Payments shares with Orders (listen address, TLS, server and call limits,
//! Kafka, issuer, JWKS, audience, data directory, shutdown deadline) are the flattened [`ServiceConfig`]. Every setting
//! `--some-flag` is also read from `PAYMENTS_SOME_FLAG` ([`PaymentsDefaults`]); the
//! README's "Payments service" table and `payments --print-env` list them.
//! [`PaymentsConfig::validate`] refuses bad values with one clear line naming the setting.

use std::time::Duration;

use clap::{Args, Parser};
use zte_auth::names::{ORDERS_CLIENT_ID, PAYMENTS_AUDIENCE, PAYMENTS_CLIENT_ID};
use zte_runtime::{EnvPrefix as _, PrintEnv, ServiceConfig, config as check, parse_duration};
use zte_store::{StoreConfig, StoreSettings};

zte_runtime::service_defaults! {
    /// Payments' environment prefix and defaults for the shared settings.
    pub PaymentsDefaults { env_prefix: "PAYMENTS", listen: "127.0.0.1:50052", data_dir: "data/payments", audience: PAYMENTS_AUDIENCE, client_id: PAYMENTS_CLIENT_ID }
}

impl zte_store::DatabaseDefaults for PaymentsDefaults {
    const ENV_PREFIX: &'static str = <Self as zte_runtime::EnvPrefix>::ENV_PREFIX;
    const SQLITE_FILE: &'static str = "payments.sqlite3";
}

/// What a dead-letter or retry copy may add to a record (our headers: reason, detail, source
/// position, attempts, digests), in bytes. The producer accepts records of
/// `--max-record-bytes` plus this.
pub const COPY_HEADER_ALLOWANCE: usize = 16 * 1024;
/// Smallest `--max-record-bytes`: a genuine event is about 1.3 KB.
pub const MIN_RECORD_BYTES: usize = 4 * 1024;
/// Largest `--max-record-bytes`: with [`COPY_HEADER_ALLOWANCE`] it stays within librdkafka's
/// default `message.max.bytes` (1,000,000), below the broker's default `max.message.bytes`
/// (1,048,588), so every copy Payments produces fits a topic created with the defaults.
pub const MAX_RECORD_BYTES: usize = 1_000_000 - COPY_HEADER_ALLOWANCE;

/// The command line.
#[derive(Debug, Clone, Parser)]
#[command(
    version,
    about = "Consumes verified OrderCreated events and serves payments.v1.PaymentsService"
)]
pub struct Cli {
    /// Serving configuration.
    #[command(flatten)]
    pub serve: PaymentsConfig,
    /// `--print-env`.
    #[command(flatten)]
    pub print_env: PrintEnv,
}

/// Payments service configuration.
#[derive(Debug, Clone, Args)]
pub struct PaymentsConfig {
    /// The settings shared with Orders.
    #[command(flatten)]
    pub service: ServiceConfig<PaymentsDefaults>,
    /// The database settings every service shares.
    #[command(flatten)]
    pub store: StoreConfig<PaymentsDefaults>,
    /// Dead-letter topic (default: `<topic>.dlq`).
    #[arg(long, env = PaymentsDefaults::env("DLQ_TOPIC"))]
    pub dlq_topic: Option<String>,
    /// Kafka consumer group id.
    #[arg(long, env = PaymentsDefaults::env("GROUP_ID"), default_value = "payments")]
    pub group_id: String,
    /// Topic where records whose check cannot finish now wait (default: `<topic>.retry`).
    #[arg(long, env = PaymentsDefaults::env("RETRY_TOPIC"))]
    pub retry_topic: Option<String>,
    /// Checks of one record, the first included, before a record that still cannot be
    /// checked is dead-lettered with its last reason.
    #[arg(long, env = PaymentsDefaults::env("RETRY_MAX_ATTEMPTS"), default_value_t = 30)]
    pub retry_max_attempts: u32,
    /// Wait before the second check of a set-aside record; doubled for each further one.
    #[arg(long, env = PaymentsDefaults::env("RETRY_BACKOFF"), default_value = "1s", value_parser = parse_duration)]
    pub retry_backoff: Duration,
    /// Longest wait between two checks of a set-aside record.
    #[arg(long, env = PaymentsDefaults::env("RETRY_BACKOFF_MAX"), default_value = "60s", value_parser = parse_duration)]
    pub retry_backoff_max: Duration,
    /// Largest record (key + value + headers) accepted, in bytes; larger ones are
    /// dead-lettered as `oversized_record` with their SHA-256 and size instead of the value.
    #[arg(long, env = PaymentsDefaults::env("MAX_RECORD_BYTES"), default_value_t = 256 * 1024)]
    pub max_record_bytes: usize,
    /// OAuth client ids trusted to trigger payments: an event token's `act.sub` must be one of
    /// them (comma-separated).
    #[arg(long, env = PaymentsDefaults::env("TRUSTED_PRODUCERS"), value_delimiter = ',', default_value = ORDERS_CLIENT_ID)]
    pub trusted_producers: Vec<String>,
    /// How often the counters are logged.
    #[arg(long, env = PaymentsDefaults::env("STATS_INTERVAL"), default_value = "30s", value_parser = parse_duration)]
    pub stats_interval: Duration,
}

impl PaymentsConfig {
    /// The configuration with every default and the given issuer (for tests and embedding;
    /// the binary parses flags and environment instead). TLS is the default: set
    /// certificates in `service.tls`, or `--plaintext` for a loopback server.
    pub fn with_defaults(issuer: &str) -> Self {
        Cli::parse_from(["payments", "--issuer", issuer]).serve
    }

    /// The dead-letter topic: `--dlq-topic` or `<topic>.dlq`.
    pub fn dlq_topic(&self) -> String {
        self.dlq_topic
            .clone()
            .unwrap_or_else(|| format!("{}.dlq", self.service.topic))
    }

    /// The retry topic: `--retry-topic` or `<topic>.retry`.
    pub fn retry_topic(&self) -> String {
        self.retry_topic
            .clone()
            .unwrap_or_else(|| format!("{}.retry", self.service.topic))
    }

    /// The database: `--database-url`, or `payments.sqlite3` in `--data-dir`.
    pub fn store_settings(&self) -> Result<StoreSettings, String> {
        self.store.settings(&self.service.data_dir)
    }

    /// Checks the values clap cannot check alone; the error is one line naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        self.service.validate()?;
        self.store_settings()?;
        check::require_non_empty(&[("--group-id", &self.group_id)])?;
        let (dlq, retry) = (self.dlq_topic(), self.retry_topic());
        check::require_topic_name("--dlq-topic", &dlq)?;
        check::require_topic_name("--retry-topic", &retry)?;
        if dlq == self.service.topic || retry == self.service.topic || dlq == retry {
            return Err("--topic, --dlq-topic and --retry-topic must be three topics".into());
        }
        if !(MIN_RECORD_BYTES..=MAX_RECORD_BYTES).contains(&self.max_record_bytes) {
            return Err(format!(
                "--max-record-bytes {} must be between {MIN_RECORD_BYTES} and {MAX_RECORD_BYTES} \
                 (its dead-letter copy, with headers, must fit the broker's default limit)",
                self.max_record_bytes
            ));
        }
        if self.retry_max_attempts < 2 {
            return Err(
                "--retry-max-attempts must be at least 2 (the first check and a retry)".into(),
            );
        }
        if self.retry_backoff > self.retry_backoff_max {
            return Err("--retry-backoff must not exceed --retry-backoff-max".into());
        }
        check::require_positive(&[
            ("--stats-interval", self.stats_interval),
            ("--retry-backoff", self.retry_backoff),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<PaymentsConfig, clap::Error> {
        Cli::try_parse_from(std::iter::once("payments").chain(args.iter().copied()))
            .map(|cli| cli.serve)
    }

    /// Defaults with `issuer`, served plaintext on loopback.
    fn local(issuer: &str) -> PaymentsConfig {
        let mut config = PaymentsConfig::with_defaults(issuer);
        config.service.tls.plaintext = true;
        config
    }

    #[test]
    fn defaults_derive_dlq_topic_and_jwks_uri() {
        let config = local("http://127.0.0.1:18080/");
        assert_eq!(config.service.listen.port(), 50052);
        assert_eq!(config.dlq_topic(), "orders.order-created.v1.dlq");
        assert_eq!(config.retry_topic(), "orders.order-created.v1.retry");
        assert_eq!(config.retry_max_attempts, 30);
        assert_eq!(config.retry_backoff, Duration::from_secs(1));
        assert_eq!(config.retry_backoff_max, Duration::from_secs(60));
        assert_eq!(config.service.jwks_uri(), "http://127.0.0.1:18080/jwks");
        assert_eq!(config.service.audience, "payments-service");
        assert_eq!(config.service.client_id, "payments-service");
        assert_eq!(config.group_id, "payments");
        assert_eq!(
            config.service.jwks_refresh_cooldown,
            Duration::from_secs(10)
        );
        assert!(config.validate().is_ok());
    }

    #[test]
    fn bad_values_are_refused_with_the_setting_named() {
        let mut config = local("not a url");
        assert!(config.validate().unwrap_err().contains("--issuer"));
        config = local("https://i");
        config.service.topic = "bad topic!".into();
        assert!(config.validate().unwrap_err().contains("--topic"));
        config = local("https://i");
        config.dlq_topic = Some(config.service.topic.clone());
        assert!(config.validate().unwrap_err().contains("--dlq-topic"));
        config = local("https://i");
        config.retry_topic = config.dlq_topic.clone().or(Some(config.dlq_topic()));
        assert!(config.validate().unwrap_err().contains("--retry-topic"));
        config = local("https://i");
        config.retry_max_attempts = 1;
        assert!(
            config
                .validate()
                .unwrap_err()
                .contains("--retry-max-attempts")
        );
        config = local("https://i");
        config.retry_backoff = Duration::from_secs(120);
        assert!(config.validate().unwrap_err().contains("--retry-backoff"));
        config = local("https://i");
        config.max_record_bytes = MAX_RECORD_BYTES + 1;
        assert!(
            config
                .validate()
                .unwrap_err()
                .contains("--max-record-bytes")
        );
        config = local("https://i");
        config.max_record_bytes = 1;
        assert!(
            config
                .validate()
                .unwrap_err()
                .contains("--max-record-bytes")
        );
        // The shared check (Orders has the same): a zero drain deadline is refused.
        let zero_drain = parse(&["--plaintext", "--shutdown-timeout", "0"])
            .unwrap()
            .validate();
        assert!(zero_drain.unwrap_err().contains("--shutdown-timeout"));
    }

    #[test]
    fn duration_flags_take_the_shared_units_and_refuse_unknown_ones() {
        let config = parse(&["--shutdown-timeout", "250ms"]).unwrap();
        assert_eq!(config.service.shutdown_timeout, Duration::from_millis(250));
        let config = parse(&["--stats-interval", "2m"]).unwrap();
        assert_eq!(config.stats_interval, Duration::from_secs(120));
        assert!(parse(&["--stats-interval", "5h"]).is_err());
        assert!(parse(&["--shutdown-timeout", "ten"]).is_err());
    }

    #[test]
    fn print_env_lists_the_shared_and_the_payments_variables() {
        assert_eq!(
            zte_runtime::env_vars(&<Cli as clap::CommandFactory>::command()).join(" "),
            "LOG_FORMAT PAYMENTS_AUDIENCE PAYMENTS_CLIENT_ID PAYMENTS_CLIENT_KEY \
             PAYMENTS_DATABASE_ACQUIRE_TIMEOUT PAYMENTS_DATABASE_MAX_CONNECTIONS \
             PAYMENTS_DATABASE_STATEMENT_TIMEOUT PAYMENTS_DATABASE_URL PAYMENTS_DATA_DIR \
             PAYMENTS_DLQ_TOPIC PAYMENTS_GROUP_ID PAYMENTS_HANDSHAKE_TIMEOUT \
             PAYMENTS_IDENTITY_TIMEOUT PAYMENTS_IDLE_TIMEOUT PAYMENTS_ISSUER \
             PAYMENTS_JWKS_REFRESH_COOLDOWN PAYMENTS_JWKS_URI PAYMENTS_KAFKA_BOOTSTRAP \
             PAYMENTS_KEEPALIVE_INTERVAL PAYMENTS_LISTEN PAYMENTS_MAX_CONCURRENT_REQUESTS \
             PAYMENTS_MAX_CONNECTIONS PAYMENTS_MAX_MESSAGE_BYTES PAYMENTS_MAX_RECORD_BYTES \
             PAYMENTS_PLAINTEXT PAYMENTS_REQUEST_TIMEOUT PAYMENTS_RETRY_BACKOFF \
             PAYMENTS_RETRY_BACKOFF_MAX PAYMENTS_RETRY_MAX_ATTEMPTS PAYMENTS_RETRY_TOPIC \
             PAYMENTS_SHUTDOWN_TIMEOUT PAYMENTS_STATS_INTERVAL PAYMENTS_TLS_CA PAYMENTS_TLS_CERT \
             PAYMENTS_TLS_CLIENT_AUTH PAYMENTS_TLS_CLIENT_CA PAYMENTS_TLS_CLIENT_CERT \
             PAYMENTS_TLS_CLIENT_KEY PAYMENTS_TLS_KEY PAYMENTS_TLS_RELOAD_INTERVAL \
             PAYMENTS_TOKEN_ALGORITHMS PAYMENTS_TOKEN_ENDPOINT PAYMENTS_TOPIC PAYMENTS_TRUSTED_PRODUCERS RUST_LOG"
        );
    }
}
