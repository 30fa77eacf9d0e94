//! Configuration, read once at start from flags and environment variables (flags win).
//!
//! Every environment variable is named by a constant here and listed in the README's
//! "Payments service" table. [`PaymentsConfig::validate`] turns the raw values into the
//! derived settings (DLQ topic, JWKS URI) and refuses bad ones with one clear message.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Parser;
use zte_runtime::{is_topic_name, parse_duration};

/// `--listen`: gRPC listen address.
pub const ENV_LISTEN: &str = "PAYMENTS_LISTEN";
/// `--kafka-bootstrap`: Kafka bootstrap servers.
pub const ENV_KAFKA_BOOTSTRAP: &str = "PAYMENTS_KAFKA_BOOTSTRAP";
/// `--topic`: the OrderCreated topic.
pub const ENV_TOPIC: &str = "PAYMENTS_TOPIC";
/// `--dlq-topic`: the dead-letter topic.
pub const ENV_DLQ_TOPIC: &str = "PAYMENTS_DLQ_TOPIC";
/// `--group-id`: the consumer group.
pub const ENV_GROUP_ID: &str = "PAYMENTS_GROUP_ID";
/// `--data-dir`: directory of the SQLite database.
pub const ENV_DATA_DIR: &str = "PAYMENTS_DATA_DIR";
/// `--issuer`: the token issuer (exact `iss`).
pub const ENV_ISSUER: &str = "PAYMENTS_ISSUER";
/// `--jwks-uri`: where the issuer's keys are.
pub const ENV_JWKS_URI: &str = "PAYMENTS_JWKS_URI";
/// `--audience`: the audience tokens must name.
pub const ENV_AUDIENCE: &str = "PAYMENTS_AUDIENCE";
/// `--jwks-refresh-cooldown`: minimum time between JWKS refetches for unknown kids.
pub const ENV_JWKS_REFRESH_COOLDOWN: &str = "PAYMENTS_JWKS_REFRESH_COOLDOWN";
/// `--max-record-bytes`: largest record (key + value) accepted.
pub const ENV_MAX_RECORD_BYTES: &str = "PAYMENTS_MAX_RECORD_BYTES";
/// `--trusted-producers`: client ids allowed as the event token's `act.sub`.
pub const ENV_TRUSTED_PRODUCERS: &str = "PAYMENTS_TRUSTED_PRODUCERS";
/// `--shutdown-timeout`: how long a graceful shutdown may take.
pub const ENV_SHUTDOWN_TIMEOUT: &str = "PAYMENTS_SHUTDOWN_TIMEOUT";
/// `--stats-interval`: how often the counters are logged.
pub const ENV_STATS_INTERVAL: &str = "PAYMENTS_STATS_INTERVAL";

/// Name of the SQLite file inside `--data-dir`.
pub const DATABASE_FILE: &str = "payments.sqlite3";

/// Payments service configuration.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "payments",
    version,
    about = "Consumes verified OrderCreated events and serves payments.v1.PaymentsService"
)]
pub struct PaymentsConfig {
    /// gRPC listen address (port 0 picks a free port).
    #[arg(long, env = ENV_LISTEN, default_value = "127.0.0.1:50052")]
    pub listen: SocketAddr,
    /// Kafka bootstrap servers (host:port[,host:port]).
    #[arg(long, env = ENV_KAFKA_BOOTSTRAP, default_value = "127.0.0.1:19092")]
    pub kafka_bootstrap: String,
    /// Topic carrying OrderCreated events.
    #[arg(long, env = ENV_TOPIC, default_value = "orders.order-created.v1")]
    pub topic: String,
    /// Dead-letter topic (default: `<topic>.dlq`).
    #[arg(long, env = ENV_DLQ_TOPIC)]
    pub dlq_topic: Option<String>,
    /// Kafka consumer group id.
    #[arg(long, env = ENV_GROUP_ID, default_value = "payments")]
    pub group_id: String,
    /// Directory holding the SQLite database (created if missing).
    #[arg(long, env = ENV_DATA_DIR, default_value = "data/payments")]
    pub data_dir: PathBuf,
    /// Token issuer URL; tokens must carry exactly this `iss`.
    #[arg(long, env = ENV_ISSUER, default_value = "http://127.0.0.1:18080")]
    pub issuer: String,
    /// JWKS URL (default: `{issuer}/jwks`).
    #[arg(long, env = ENV_JWKS_URI)]
    pub jwks_uri: Option<String>,
    /// Audience every accepted token must name.
    #[arg(long, env = ENV_AUDIENCE, default_value = "payments-service")]
    pub audience: String,
    /// Minimum time between JWKS refetches caused by unknown key ids (e.g. `10s`, `500ms`).
    #[arg(long, env = ENV_JWKS_REFRESH_COOLDOWN, default_value = "10s", value_parser = parse_duration)]
    pub jwks_refresh_cooldown: Duration,
    /// Largest record (key + value) accepted, in bytes; larger ones are dead-lettered.
    #[arg(long, env = ENV_MAX_RECORD_BYTES, default_value_t = 256 * 1024)]
    pub max_record_bytes: usize,
    /// OAuth client ids trusted to trigger payments: an event token's `act.sub` must be one of
    /// them (comma-separated).
    #[arg(long, env = ENV_TRUSTED_PRODUCERS, value_delimiter = ',', default_value = "orders-service")]
    pub trusted_producers: Vec<String>,
    /// Upper bound on a graceful shutdown (finish the record, commit, leave the group).
    #[arg(long, env = ENV_SHUTDOWN_TIMEOUT, default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
    /// How often the counters are logged.
    #[arg(long, env = ENV_STATS_INTERVAL, default_value = "30s", value_parser = parse_duration)]
    pub stats_interval: Duration,
}

impl PaymentsConfig {
    /// The configuration with every default and the given issuer (for tests and embedding;
    /// the binary parses flags and environment instead).
    pub fn with_defaults(issuer: &str) -> Self {
        Self::parse_from(["payments", "--issuer", issuer])
    }

    /// The dead-letter topic: `--dlq-topic` or `<topic>.dlq`.
    pub fn dlq_topic(&self) -> String {
        self.dlq_topic
            .clone()
            .unwrap_or_else(|| format!("{}.dlq", self.topic))
    }

    /// The JWKS URL: `--jwks-uri` or `{issuer}/jwks`.
    pub fn jwks_uri(&self) -> String {
        self.jwks_uri
            .clone()
            .unwrap_or_else(|| format!("{}/jwks", self.issuer.trim_end_matches('/')))
    }

    /// The SQLite database path.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join(DATABASE_FILE)
    }

    /// Checks the values clap cannot check alone; the error is one line naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        for (name, value) in [
            ("--kafka-bootstrap", self.kafka_bootstrap.as_str()),
            ("--topic", self.topic.as_str()),
            ("--group-id", self.group_id.as_str()),
            ("--audience", self.audience.as_str()),
        ] {
            if value.trim().is_empty() {
                return Err(format!("{name} must not be empty"));
            }
        }
        let dlq = self.dlq_topic();
        for (name, topic) in [("--topic", self.topic.as_str()), ("--dlq-topic", &dlq)] {
            if !is_topic_name(topic) {
                return Err(format!(
                    "{name} {topic:?} is not a valid Kafka topic name (1-249 of [A-Za-z0-9._-])"
                ));
            }
        }
        if dlq == self.topic {
            return Err("--dlq-topic must differ from --topic".into());
        }
        for (name, value) in [
            ("--issuer", self.issuer.clone()),
            ("--jwks-uri", self.jwks_uri()),
        ] {
            let parsed = url::Url::parse(&value)
                .map_err(|e| format!("{name} {value:?} is not a URL: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(format!("{name} {value:?} must be an http(s) URL"));
            }
        }
        if self.max_record_bytes < 64 || self.max_record_bytes > 16 * 1024 * 1024 {
            return Err(format!(
                "--max-record-bytes {} must be between 64 and 16777216",
                self.max_record_bytes
            ));
        }
        if self.stats_interval.is_zero() {
            return Err("--stats-interval must be greater than zero".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_derive_dlq_topic_and_jwks_uri() {
        let config = PaymentsConfig::with_defaults("http://127.0.0.1:18080/");
        assert_eq!(config.listen.port(), 50052);
        assert_eq!(config.dlq_topic(), "orders.order-created.v1.dlq");
        assert_eq!(config.jwks_uri(), "http://127.0.0.1:18080/jwks");
        assert_eq!(config.audience, "payments-service");
        assert_eq!(config.group_id, "payments");
        assert_eq!(config.jwks_refresh_cooldown, Duration::from_secs(10));
        assert!(config.validate().is_ok());
    }

    #[test]
    fn bad_values_are_refused_with_the_setting_named() {
        let mut config = PaymentsConfig::with_defaults("not a url");
        assert!(config.validate().unwrap_err().contains("--issuer"));
        config = PaymentsConfig::with_defaults("http://i");
        config.topic = "bad topic!".into();
        assert!(config.validate().unwrap_err().contains("--topic"));
        config = PaymentsConfig::with_defaults("http://i");
        config.dlq_topic = Some(config.topic.clone());
        assert!(config.validate().unwrap_err().contains("--dlq-topic"));
        config = PaymentsConfig::with_defaults("http://i");
        config.max_record_bytes = 1;
        assert!(
            config
                .validate()
                .unwrap_err()
                .contains("--max-record-bytes")
        );
    }

    #[test]
    fn duration_flags_take_the_shared_units_and_refuse_unknown_ones() {
        let config =
            PaymentsConfig::try_parse_from(["payments", "--shutdown-timeout", "250ms"]).unwrap();
        assert_eq!(config.shutdown_timeout, Duration::from_millis(250));
        let config =
            PaymentsConfig::try_parse_from(["payments", "--stats-interval", "2m"]).unwrap();
        assert_eq!(config.stats_interval, Duration::from_secs(120));
        assert!(PaymentsConfig::try_parse_from(["payments", "--stats-interval", "5h"]).is_err());
        assert!(PaymentsConfig::try_parse_from(["payments", "--shutdown-timeout", "ten"]).is_err());
    }
}
