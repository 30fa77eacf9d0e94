//! Test harness for integration and end-to-end tests against a **real** Kafka broker.
//!
//! - [`kafka_bootstrap`]: the broker from `KAFKA_BOOTSTRAP_SERVERS`, or one started (once per
//!   machine, reused afterwards) by `scripts/kafka.sh start`.
//! - [`unique_name`]: random topic and group names, so tests never share a topic.
//! - [`wait_until`]: poll a condition with a deadline instead of sleeping a fixed time.
//! - [`create_topic`], [`collect_records`]: topic set-up and reading back what was produced.

use std::{
    future::Future,
    path::PathBuf,
    process::Command,
    sync::OnceLock,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use rdkafka::{
    ClientConfig, Message,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{Consumer, StreamConsumer},
    message::OwnedMessage,
};

/// Environment variable naming an already-running broker (`host:port`).
pub const BOOTSTRAP_ENV: &str = "KAFKA_BOOTSTRAP_SERVERS";

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Quiet logs unless `TEST_LOG=1`.
pub fn init_test_logging() {
    if std::env::var("TEST_LOG").is_ok_and(|v| v == "1") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "debug,rdkafka=info,h2=info,hyper=info",
            ))
            .with_test_writer()
            .try_init();
    }
}

/// Bootstrap address of a real broker: `KAFKA_BOOTSTRAP_SERVERS` if set, otherwise the
/// project's broker, started by `scripts/kafka.sh start` if it is not running.
pub fn kafka_bootstrap() -> String {
    static BOOTSTRAP: OnceLock<String> = OnceLock::new();
    BOOTSTRAP
        .get_or_init(|| {
            if let Some(bootstrap) = std::env::var(BOOTSTRAP_ENV)
                .ok()
                .filter(|b| !b.trim().is_empty())
            {
                return bootstrap;
            }
            match start_project_broker() {
                Ok(bootstrap) => bootstrap,
                // A test without a broker cannot mean anything: fail loudly.
                Err(error) => panic!("no Kafka broker: {error:#}"),
            }
        })
        .clone()
}

fn start_project_broker() -> anyhow::Result<String> {
    let script = repo_root().join("scripts/kafka.sh");
    let output = Command::new("bash")
        .arg(&script)
        .arg("start")
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !output.status.success() {
        bail!(
            "{} start failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let bootstrap = stdout.lines().last().unwrap_or_default().trim().to_owned();
    if bootstrap.is_empty() {
        bail!("kafka.sh start printed no bootstrap address");
    }
    Ok(bootstrap)
}

/// A name unique to this test run, e.g. `orders-created-3f9c…`.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Polls `check` until it returns `Some`, failing with `what` after `timeout`.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(20);
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(250));
    }
}

/// Creates `topic` with `partitions` partitions (replication 1) and waits for it.
pub async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .context("creating admin client")?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &options,
        )
        .await
        .context("create_topics")?;
    for result in results {
        match result {
            Ok(_) | Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => bail!("creating topic {name}: {code}"),
        }
    }
    Ok(())
}

/// A consumer reading `topic` from the beginning in a fresh group.
pub fn consumer_from_start(bootstrap: &str, topic: &str) -> anyhow::Result<StreamConsumer> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique_name("test-reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .context("creating consumer")?;
    consumer.subscribe(&[topic]).context("subscribing")?;
    Ok(consumer)
}

/// Reads records from `consumer` until `count` have arrived or `timeout` passes, and returns
/// what arrived (possibly fewer: callers assert on the count).
pub async fn collect_records(
    consumer: &StreamConsumer,
    count: usize,
    timeout: Duration,
) -> Vec<OwnedMessage> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut records = Vec::new();
    while records.len() < count {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(message)) => records.push(message.detach()),
            Ok(Err(error)) => tracing::debug!(%error, "consumer error while collecting"),
            Err(_) => break,
        }
    }
    records
}

/// Reads everything that arrives on `consumer` within `quiet` of the last record (used to
/// assert that *nothing more* was produced).
pub async fn drain_records(consumer: &StreamConsumer, quiet: Duration) -> Vec<OwnedMessage> {
    let mut records = Vec::new();
    while let Ok(Ok(message)) = tokio::time::timeout(quiet, consumer.recv()).await {
        records.push(message.detach());
    }
    records
}

/// The value of header `name` of `message`, as UTF-8.
pub fn header(message: &OwnedMessage, name: &str) -> Option<String> {
    use rdkafka::message::Headers;
    let headers = message.headers()?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The key of `message` as UTF-8 (empty if none).
pub fn key_str(message: &OwnedMessage) -> String {
    message
        .key()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .unwrap_or_default()
}
