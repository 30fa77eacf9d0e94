//! The real Kafka broker of a test: where it is, fresh topics, producing records and reading
//! them back, counting what a topic holds.
//!
//! The broker is `KAFKA_BOOTSTRAP_SERVERS`, or the project's broker started (once per machine,
//! reused afterwards) by `scripts/kafka.sh start`. Every test uses its own random topics and
//! consumer groups ([`crate::unique_name`]).

use std::{sync::OnceLock, time::Duration};

use anyhow::{Context as _, bail};

use rdkafka::{
    ClientConfig, Message,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, Consumer, StreamConsumer},
    message::{Header, Headers as _, OwnedHeaders, OwnedMessage},
    producer::{FutureProducer, FutureRecord},
};

use crate::unique_name;

/// Environment variable naming an already-running broker (`host:port`).
pub const BOOTSTRAP_ENV: &str = "KAFKA_BOOTSTRAP_SERVERS";

/// How long one broker request of the kit may take.
const BROKER_TIMEOUT: Duration = Duration::from_secs(30);

/// Bootstrap address of a real broker: `KAFKA_BOOTSTRAP_SERVERS` if set, otherwise the
/// project's broker, started by `scripts/kafka.sh start` if it is not running.
pub fn bootstrap() -> String {
    static BOOTSTRAP: OnceLock<String> = OnceLock::new();
    BOOTSTRAP
        .get_or_init(|| crate::local_server(BOOTSTRAP_ENV, "kafka.sh"))
        .clone()
}

/// Creates `topic` with `partitions` partitions (replication 1) on `bootstrap` and waits for it.
pub async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .context("creating admin client")?;
    let options = AdminOptions::new().operation_timeout(Some(BROKER_TIMEOUT));
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

/// A fresh topic named `<prefix>-<random>` with `partitions` partitions on the test broker.
pub async fn fresh_topic(prefix: &str, partitions: i32) -> String {
    let topic = unique_name(prefix);
    create_topic(&bootstrap(), &topic, partitions)
        .await
        .expect("creating a test topic");
    topic
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

/// The first `count` records of `topic` on the test broker (fewer if they do not arrive
/// within `timeout`).
pub async fn read_topic(topic: &str, count: usize, timeout: Duration) -> Vec<OwnedMessage> {
    let consumer = consumer_from_start(&bootstrap(), topic).expect("creating a test consumer");
    collect_records(&consumer, count, timeout).await
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

/// Number of records `topic` holds, over all its partitions (high minus low watermark). Test
/// topics never expire records, so this is every record ever written to it: exact, unlike
/// "nothing arrived within a quiet period".
pub async fn record_count(topic: &str) -> i64 {
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap())
            .create()
            .expect("creating a watermark reader");
        let metadata = consumer
            .fetch_metadata(Some(&topic), BROKER_TIMEOUT)
            .expect("reading topic metadata");
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        assert!(!partitions.is_empty(), "topic {topic} has no partitions");
        partitions
            .into_iter()
            .map(|partition| {
                let (low, high) = consumer
                    .fetch_watermarks(&topic, partition, BROKER_TIMEOUT)
                    .expect("reading watermarks");
                high - low
            })
            .sum()
    })
    .await
    .expect("watermark reader task")
}

/// A producer on `bootstrap` as an insider with broker access would use one: idempotent,
/// `acks=all`, no checks of what it sends.
pub fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()
        .expect("creating a test producer")
}

/// One Kafka record: key, value and headers exactly as produced (key and value may be
/// absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// Record key.
    pub key: Option<Vec<u8>>,
    /// Record value.
    pub value: Option<Vec<u8>>,
    /// Record headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Record {
    /// A record with both a key and a value.
    pub fn new(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Self {
            key: Some(key.into()),
            value: Some(value.into()),
            headers: Vec::new(),
        }
    }

    /// This record with header `name: value` added.
    pub fn with_header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// Produces `record` to `topic` and waits for the broker's acknowledgement; returns its
/// partition and offset.
pub async fn produce(
    producer: &FutureProducer,
    topic: &str,
    record: &Record,
) -> anyhow::Result<(i32, i64)> {
    let mut future: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic);
    if !record.headers.is_empty() {
        let headers = record
            .headers
            .iter()
            .fold(OwnedHeaders::new(), |headers, (key, value)| {
                headers.insert(Header {
                    key,
                    value: Some(value.as_slice()),
                })
            });
        future = future.headers(headers);
    }
    if let Some(key) = &record.key {
        future = future.key(key.as_slice());
    }
    if let Some(value) = &record.value {
        future = future.payload(value.as_slice());
    }
    let delivery = producer
        .send(future, BROKER_TIMEOUT)
        .await
        .map_err(|(error, _)| anyhow::anyhow!("producing to {topic}: {error}"))?;
    Ok((delivery.partition, delivery.offset))
}

/// Produces `records` to `topic` concurrently (up to 1,000 in flight, in order per
/// partition) and waits for every acknowledgement; returns their partitions and offsets, in
/// input order.
pub async fn produce_all(
    producer: &FutureProducer,
    topic: &str,
    records: &[Record],
) -> anyhow::Result<Vec<(i32, i64)>> {
    let mut positions = Vec::with_capacity(records.len());
    for chunk in records.chunks(1_000) {
        let sends = chunk.iter().map(|record| produce(producer, topic, record));
        for sent in futures::future::join_all(sends).await {
            positions.push(sent?);
        }
    }
    Ok(positions)
}

/// The value of header `name` of `message`, as UTF-8.
pub fn header(message: &OwnedMessage, name: &str) -> Option<String> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The key of `message` as UTF-8 (empty if none).
pub fn key_of(message: &OwnedMessage) -> String {
    message
        .key()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .unwrap_or_default()
}
