//! Structured logging, initialised once per process.

/// Selects JSON lines when set to `json` (any case); human-readable lines otherwise.
pub const ENV_LOG_FORMAT: &str = "LOG_FORMAT";
/// The `tracing` filter (`EnvFilter` syntax), default `info,rdkafka=warn`.
pub const ENV_RUST_LOG: &str = "RUST_LOG";
/// Every environment variable read here (listed by `--print-env`).
pub const ENV_VARS: [&str; 2] = [ENV_LOG_FORMAT, ENV_RUST_LOG];

/// Initialises `tracing` once: JSON lines when `LOG_FORMAT=json`, human-readable otherwise;
/// the filter comes from `RUST_LOG` (default `info`, librdkafka's logs at `warn`).
pub fn init_tracing() {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter = EnvFilter::try_from_env(ENV_RUST_LOG)
        .unwrap_or_else(|_| EnvFilter::new("info,rdkafka=warn"));
    let json = std::env::var(ENV_LOG_FORMAT).is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = fmt().with_env_filter(filter).with_target(true);
    // try_init: a second call (tests) is a no-op instead of a panic.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
