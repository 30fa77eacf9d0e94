//! The Orders service in-process: port 0, a fresh data directory, a fresh topic on the real
//! broker, the shared `orders-service` client key; one method per RPC through
//! [`OrdersClient`] (`app.create_order(&token, request)`).

use std::{net::SocketAddr, ops::Deref, path::PathBuf, sync::Arc, time::Duration};

use orders::{Application, OrdersConfig, OrdersError};
use rdkafka::consumer::StreamConsumer;
use tempfile::TempDir;
use tonic_health::pb::health_check_response::ServingStatus;
use zte_proto::orders::v1::SERVICE_NAME;

use crate::{
    clients::{Dial, OrdersClient},
    database::TestDatabase,
    kafka,
    running::Running,
    tokens::orders_client_key,
    wait,
};

/// An Orders configuration for a test, before the app starts: adjust `config`, or prepare its
/// data directory, then [`Self::spawn`].
#[derive(Debug)]
pub struct OrdersSetup {
    /// The configuration the app will run with.
    pub config: OrdersConfig,
    dir: Arc<TempDir>,
    database: Option<Arc<TestDatabase>>,
}

impl OrdersSetup {
    /// Port 0, plaintext gRPC (set `config.service.tls` for TLS), a fresh one-partition topic
    /// on the plaintext test broker, a data directory in a fresh temp dir, tokens from
    /// `issuer`, a short JWKS refresh cooldown.
    pub async fn new(issuer: &str) -> Self {
        let dir = tempfile::tempdir().expect("creating a temp dir");
        let mut config = OrdersConfig::with_defaults(issuer, dir.path().join("orders"));
        config.service.listen = "127.0.0.1:0".parse().expect("a socket address");
        config.service.tls = zte_runtime::TlsConfig::plaintext();
        config.service.kafka_bootstrap = kafka::bootstrap();
        config.service.topic = kafka::fresh_topic("orders-test", 1).await;
        config.service.jwks_refresh_cooldown = Duration::from_millis(200);
        config.service.shutdown_timeout = Duration::from_secs(5);
        Self {
            config,
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

    /// Builds and starts the app; the shared client key is written to its key path unless a
    /// key is there already.
    pub async fn spawn(&self) -> OrdersApp {
        crate::init_test_logging();
        let config = self.config.clone();
        std::fs::create_dir_all(&config.service.data_dir).expect("creating the data dir");
        let key_path = config.service.client_key_path();
        if !key_path.exists() {
            orders_client_key()
                .store(&key_path)
                .expect("storing the client key");
        }
        let app = Application::build(config.clone())
            .await
            .expect("building the Orders app");
        let addr = app.local_addr();
        let running = Running::spawn(|stop| app.run_until(stop));
        let dial = crate::pki::dial(addr, !config.service.tls.plaintext);
        let channel = crate::clients::channel(&dial)
            .await
            .expect("connecting to Orders");
        OrdersApp {
            addr,
            dial,
            topic: config.service.topic,
            data_dir: config.service.data_dir,
            client: OrdersClient::new(channel),
            running,
            _dir: self.dir.clone(),
            _database: self.database.clone(),
        }
    }
}

/// A running Orders service; the RPCs are its [`OrdersClient`] methods. Aborted when
/// dropped.
#[derive(Debug)]
pub struct OrdersApp {
    /// gRPC address.
    pub addr: SocketAddr,
    /// How the kit reaches it (plaintext or TLS).
    pub dial: Dial,
    /// The event topic.
    pub topic: String,
    /// The data directory.
    pub data_dir: PathBuf,
    client: OrdersClient,
    running: Running<OrdersError>,
    _dir: Arc<TempDir>,
    _database: Option<Arc<TestDatabase>>,
}

impl OrdersApp {
    /// Orders with tokens from `issuer` and every default of [`OrdersSetup::new`].
    pub async fn spawn(issuer: &str) -> Self {
        OrdersSetup::new(issuer).await.spawn().await
    }

    /// A client to hand to other tasks.
    pub fn client(&self) -> OrdersClient {
        self.client.clone()
    }

    /// A consumer reading this app's topic from the beginning.
    pub fn consumer(&self) -> StreamConsumer {
        kafka::consumer_from_start(&kafka::bootstrap(), &self.topic)
            .expect("creating a test consumer")
    }

    /// The readiness of `orders.v1.OrdersService` (its gRPC health status).
    pub async fn readiness(&self) -> ServingStatus {
        wait::serving_status(&self.dial, SERVICE_NAME).await
    }

    /// The liveness of the server as a whole (health status of `""`).
    pub async fn liveness(&self) -> ServingStatus {
        wait::serving_status(&self.dial, "").await
    }

    /// Stops the service gracefully and waits for it (within 30 s).
    pub async fn stop(self) {
        self.running
            .stop(Duration::from_secs(30))
            .await
            .expect("a clean shutdown");
    }
}

impl Deref for OrdersApp {
    type Target = OrdersClient;

    fn deref(&self) -> &OrdersClient {
        &self.client
    }
}

/// The order store on `database`, connected and migrated as Orders does.
pub async fn order_store(database: &TestDatabase) -> orders::store::OrderStore {
    let mut config = OrdersConfig::with_defaults("http://127.0.0.1:1", "unused");
    config.store.database_url = Some(database.url().to_owned());
    let settings = config.store_settings().expect("test database settings");
    orders::store::OrderStore::connect(&settings)
        .await
        .expect("connecting the order store")
}
