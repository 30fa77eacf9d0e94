//! The Payments service in-process: port 0, a fresh data directory, fresh source and
//! dead-letter topics and consumer group on the real broker; one method per RPC through
//! [`PaymentsClient`] (`app.get_payment(&token, id)`), plus its live counters and database.

use std::{net::SocketAddr, ops::Deref, path::Path, sync::Arc, time::Duration};

use payments::{
    Application, ConsumerStats, PaymentStore, PaymentsConfig, PaymentsError, StatsSnapshot,
};
use tempfile::TempDir;
use tonic_health::pb::health_check_response::ServingStatus;
use zte_proto::payments::v1::SERVICE_NAME;

use rdkafka::producer::FutureProducer;

use crate::{
    clients::{Dial, PaymentsClient},
    database::TestDatabase,
    events::Event,
    kafka::{self, Record},
    running::Running,
    wait,
};

/// How long a Payments test waits for the pipeline to catch up.
pub const WAIT: Duration = Duration::from_secs(60);

/// A Payments configuration for a test, before the app starts, and a producer for its source
/// topic. One setup can start several apps in turn on the same topics, group and data
/// directory (a restart).
#[derive(Clone)]
pub struct PaymentsSetup {
    /// The configuration the app will run with.
    pub config: PaymentsConfig,
    producer: FutureProducer,
    dir: Arc<TempDir>,
    database: Option<Arc<TestDatabase>>,
}

impl std::fmt::Debug for PaymentsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentsSetup")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PaymentsSetup {
    /// Port 0, plaintext gRPC (set `config.service.tls` for TLS), a fresh source topic with
    /// `partitions` partitions, a one-partition DLQ (`<topic>.dlq`) and retry topic
    /// (`<topic>.retry`) on the plaintext test broker, a fresh group, a data directory in a
    /// fresh temp dir, tokens from `issuer`, a one-second JWKS refresh cooldown, retries after
    /// 250 ms doubling up to 2 s, 16 KiB records at most.
    pub async fn new(issuer: &str, partitions: i32) -> Self {
        let dir = tempfile::tempdir().expect("creating a temp dir");
        let topic = kafka::fresh_topic("payments-test", partitions).await;
        let (dlq, retry) = (format!("{topic}.dlq"), format!("{topic}.retry"));
        for output in [&dlq, &retry] {
            kafka::create_topic(&kafka::bootstrap(), output, 1)
                .await
                .expect("creating the DLQ and retry topics");
        }
        let mut config = PaymentsConfig::with_defaults(issuer);
        config.retry_topic = Some(retry);
        config.retry_backoff = Duration::from_millis(250);
        config.retry_backoff_max = Duration::from_secs(2);
        config.service.listen = "127.0.0.1:0".parse().expect("a socket address");
        config.service.tls = zte_runtime::TlsConfig::plaintext();
        config.service.kafka_bootstrap = kafka::bootstrap();
        config.service.topic = topic;
        config.dlq_topic = Some(dlq);
        config.group_id = crate::unique_name("payments-group");
        config.service.data_dir = dir.path().to_path_buf();
        config.service.jwks_refresh_cooldown = Duration::from_secs(1);
        config.max_record_bytes = 16 * 1024;
        config.stats_interval = Duration::from_secs(5);
        Self {
            config,
            producer: kafka::producer(&kafka::bootstrap()),
            dir: Arc::new(dir),
            database: None,
        }
    }

    /// Apps of this setup use `database` (kept alive as long as the setup or an app of it)
    /// instead of the SQLite file in their data directory; several apps on one PostgreSQL
    /// database are replicas.
    pub fn on_database(mut self, database: Arc<TestDatabase>) -> Self {
        self.config.store.database_url = Some(database.url().to_owned());
        self.database = Some(database);
        self
    }

    /// Produces `record` to the source topic; returns its partition and offset.
    pub async fn produce(&self, record: &Record) -> (i32, i64) {
        kafka::produce(&self.producer, self.topic(), record)
            .await
            .expect("producing a test record")
    }

    /// Produces `records` to the source topic concurrently (in order per partition);
    /// returns their partitions and offsets, in input order.
    pub async fn produce_all(&self, records: &[Record]) -> Vec<(i32, i64)> {
        kafka::produce_all(&self.producer, self.topic(), records)
            .await
            .expect("producing test records")
    }

    /// Produces the records of `events` to the source topic, in order.
    pub async fn publish<'a>(&self, events: impl IntoIterator<Item = &'a Event>) {
        for event in events {
            self.produce(&event.record()).await;
        }
    }

    /// The source topic.
    pub fn topic(&self) -> &str {
        &self.config.service.topic
    }

    /// The dead-letter topic.
    pub fn dlq(&self) -> &str {
        self.config.dlq_topic.as_deref().unwrap_or_default()
    }

    /// The retry topic.
    pub fn retry(&self) -> &str {
        self.config.retry_topic.as_deref().unwrap_or_default()
    }

    /// The data directory (the temp dir lives as long as this setup or an app of it).
    pub fn data_dir(&self) -> &Path {
        &self.config.service.data_dir
    }

    /// Builds and starts an app.
    pub async fn spawn(&self) -> PaymentsApp {
        crate::init_test_logging();
        let app = Application::build(self.config.clone())
            .await
            .expect("building the Payments app");
        let addr = app.local_addr();
        let stats = app.stats();
        let store = app.store();
        let running = Running::spawn(|stop| app.run_until(stop));
        let dial = crate::pki::dial(addr, !self.config.service.tls.plaintext);
        let channel = crate::clients::channel(&dial)
            .await
            .expect("connecting to Payments");
        PaymentsApp {
            addr,
            dial,
            stats,
            store,
            client: PaymentsClient::new(channel),
            running,
            _dir: self.dir.clone(),
            _database: self.database.clone(),
        }
    }
}

/// The payment store on `database`, connected and migrated as Payments does.
pub async fn payment_store(database: &TestDatabase) -> PaymentStore {
    let mut config = PaymentsConfig::with_defaults("http://127.0.0.1:1");
    config.store.database_url = Some(database.url().to_owned());
    let settings = config.store_settings().expect("test database settings");
    PaymentStore::connect(&settings)
        .await
        .expect("connecting the payment store")
}

/// A running Payments service; the RPCs are its [`PaymentsClient`] methods. Aborted when
/// dropped.
#[derive(Debug)]
pub struct PaymentsApp {
    /// gRPC address.
    pub addr: SocketAddr,
    /// How the kit reaches it (plaintext or TLS).
    pub dial: Dial,
    /// Live counters.
    pub stats: Arc<ConsumerStats>,
    /// The app's database.
    pub store: PaymentStore,
    client: PaymentsClient,
    running: Running<PaymentsError>,
    _dir: Arc<TempDir>,
    _database: Option<Arc<TestDatabase>>,
}

impl PaymentsApp {
    /// Triggers a graceful shutdown and returns how it ended (within [`WAIT`]).
    pub async fn stop(self) -> Result<(), PaymentsError> {
        self.running.stop(WAIT).await
    }

    /// Waits until the counters satisfy `done` (within [`WAIT`]).
    pub async fn wait_stats(&self, what: &str, done: impl Fn(StatsSnapshot) -> bool) {
        self.wait_stats_within(what, WAIT, done).await;
    }

    /// Waits until the counters satisfy `done`, within `timeout`.
    pub async fn wait_stats_within(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(StatsSnapshot) -> bool,
    ) {
        let stats = self.stats.clone();
        crate::wait_until(what, timeout, || {
            let ok = done(stats.snapshot());
            async move { ok.then_some(()) }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}; stats: {:?}", self.stats.snapshot()));
    }

    /// The readiness of `payments.v1.PaymentsService` (its gRPC health status).
    pub async fn readiness(&self) -> ServingStatus {
        wait::serving_status(&self.dial, SERVICE_NAME).await
    }

    /// Waits until the readiness is `status` (within [`WAIT`]).
    pub async fn wait_readiness(&self, status: ServingStatus) {
        wait::wait_grpc_health(&self.dial, SERVICE_NAME, status, WAIT)
            .await
            .expect("the expected readiness");
    }
}

impl Deref for PaymentsApp {
    type Target = PaymentsClient;

    fn deref(&self) -> &PaymentsClient {
        &self.client
    }
}
