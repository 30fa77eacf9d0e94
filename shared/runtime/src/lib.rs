//! Process plumbing shared by the services: structured logging, the shutdown signal, and the
//! Kafka client settings every producer and consumer in the system uses; [`cli`] parses a
//! binary's command line and answers `--print-env`.

pub mod cli;

use std::time::Duration;

use rdkafka::ClientConfig;

/// Initialises `tracing` once: JSON lines when `LOG_FORMAT=json`, human-readable otherwise;
/// the filter comes from `RUST_LOG` (default `info`).
pub fn init_tracing() {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,rdkafka=warn"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = fmt().with_env_filter(filter).with_target(true);
    // try_init: a second call (tests) is a no-op instead of a panic.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Resolves when the process receives SIGTERM or Ctrl-C (SIGINT).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}

/// Settings for an idempotent producer that only reports delivery once every in-sync
/// replica has the record (`acks=all`, `enable.idempotence=true`). `delivery_timeout` bounds
/// how long a send may take before it fails, retries included.
pub fn idempotent_producer_config(
    bootstrap: &str,
    client_id: &str,
    delivery_timeout: Duration,
) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("client.id", client_id)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("max.in.flight.requests.per.connection", "5")
        .set("compression.type", "lz4")
        .set("linger.ms", "2")
        .set(
            "message.timeout.ms",
            delivery_timeout.as_millis().to_string(),
        )
        .set("socket.connection.setup.timeout.ms", "5000");
    config
}

/// Settings for an at-least-once consumer: offsets are auto-committed only after the
/// application has *stored* them, which it does once a record is fully handled.
pub fn at_least_once_consumer_config(
    bootstrap: &str,
    group_id: &str,
    client_id: &str,
) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group_id)
        .set("client.id", client_id)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("socket.connection.setup.timeout.ms", "5000");
    config
}

/// Parses a duration setting: `250ms`, `10s`, `5m` or a bare number of seconds. Shared so
/// every service accepts the same forms (use as a clap `value_parser`).
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{value:?} is not a duration like 250ms, 10s or 5m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(number)),
        "" | "s" => Ok(Duration::from_secs(number)),
        "m" => Ok(Duration::from_secs(number.saturating_mul(60))),
        _ => Err(format!("{value:?} has an unknown unit (use ms, s or m)")),
    }
}

/// True for a legal Kafka topic name: 1 to 249 of `[A-Za-z0-9._-]`, not `.` or `..`.
pub fn is_topic_name(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_bad_ones_are_named() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("10h").unwrap_err().contains("unit"));
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(is_topic_name("orders.order-created.v1"));
        assert!(!is_topic_name(""));
        assert!(!is_topic_name(".."));
        assert!(!is_topic_name("bad topic"));
        assert!(!is_topic_name(&"a".repeat(250)));
    }
}
