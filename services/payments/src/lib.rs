//! The Payments service: consumes `OrderCreated` events from Kafka, verifies each one end to
//! end (token, payload hash, bindings), records exactly one payment per order in SQLite, and
//! serves `payments.v1.PaymentsService` so users can read their own payments.
//!
//! [`Application::build`] does everything that can fail at start (config, database, Kafka
//! clients, listener); [`Application::run_until`] runs until a shutdown future resolves, then
//! stops accepting calls, finishes the current record, commits offsets and leaves the group,
//! all within `--shutdown-timeout`. Tests build it in-process with port 0.

pub mod api;
pub mod config;
pub mod consumer;
pub mod stats;
pub mod store;

use std::{
    future::Future,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use rdkafka::{
    consumer::{Consumer as _, StreamConsumer},
    producer::FutureProducer,
};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tokio_stream::wrappers::TcpListenerStream;
use tonic_health::{ServingStatus, server::HealthReporter};
use zte_auth::{AuthLayer, JwksCache, ProtectedService, TokenValidator, ValidatorConfig};
use zte_event::{EventVerifier, VerifierLimits};
use zte_proto::payments::v1::{SERVICE_NAME, payments_service_server::PaymentsServiceServer};

pub use config::PaymentsConfig;
pub use consumer::{
    HEADER_DETAIL, HEADER_REASON, HEADER_SOURCE_OFFSET, HEADER_SOURCE_PARTITION,
    HEADER_SOURCE_TOPIC,
};
pub use stats::{ConsumerStats, StatsSnapshot};
pub use store::PaymentStore;

use crate::{
    api::PaymentsApi,
    consumer::{DLQ_DELIVERY_TIMEOUT, EventConsumer, PaymentsContext},
};

/// Clock skew tolerated on token `exp`/`nbf`.
const TOKEN_LEEWAY: Duration = Duration::from_secs(30);
/// Timeout of one JWKS request.
const JWKS_HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// How often readiness (assignment + JWKS) is re-evaluated for the health service.
const HEALTH_POLL: Duration = Duration::from_millis(200);
/// The gRPC scope needed to read payments.
const SCOPE_PAYMENTS: &str = "payments";

/// Why the service could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The database could not be opened.
    #[error("payments database: {0}")]
    Store(#[from] store::StoreError),
    /// A Kafka client could not be created or subscribed.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The HTTP client for the JWKS could not be built.
    #[error("http client: {0}")]
    Http(#[from] reqwest::Error),
    /// The gRPC listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The reflection service could not be built from the descriptor set.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// A built, not yet running, Payments service.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    consumer: EventConsumer,
    validator: TokenValidator,
    store: PaymentStore,
    stats: Arc<ConsumerStats>,
    assigned: Arc<AtomicUsize>,
    shutdown_timeout: Duration,
    stats_interval: Duration,
}

impl Application {
    /// Validates `config`, opens the database, creates the Kafka clients (subscribing to the
    /// topic) and binds the gRPC listener. Does not need Identity or Kafka to be up.
    pub async fn build(config: PaymentsConfig) -> Result<Self, PaymentsError> {
        config.validate().map_err(PaymentsError::Config)?;
        let store = PaymentStore::open(&config.database_path()).await?;

        let http = reqwest::Client::builder()
            .timeout(JWKS_HTTP_TIMEOUT)
            .build()?;
        let keys = JwksCache::remote(config.jwks_uri(), http, config.jwks_refresh_cooldown);
        let validator = TokenValidator::new(
            ValidatorConfig {
                issuer: config.issuer.clone(),
                audience: config.audience.clone(),
                leeway: TOKEN_LEEWAY,
            },
            keys,
        );
        let verifier = EventVerifier::new(
            validator.clone(),
            VerifierLimits {
                max_record_bytes: config.max_record_bytes,
                trusted_producers: config.trusted_producers.clone(),
            },
        );

        let context = PaymentsContext::default();
        let assigned = context.assigned();
        let kafka_consumer: StreamConsumer<PaymentsContext> =
            zte_runtime::at_least_once_consumer_config(
                &config.kafka_bootstrap,
                &config.group_id,
                "payments",
            )
            .create_with_context(context)?;
        kafka_consumer.subscribe(&[config.topic.as_str()])?;
        let producer: FutureProducer = zte_runtime::idempotent_producer_config(
            &config.kafka_bootstrap,
            "payments-dlq",
            DLQ_DELIVERY_TIMEOUT,
        )
        .create()?;

        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| PaymentsError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| PaymentsError::Bind {
                addr: config.listen,
                source,
            })?;

        let stats = Arc::new(ConsumerStats::default());
        let consumer = EventConsumer {
            consumer: kafka_consumer,
            producer,
            verifier,
            store: store.clone(),
            stats: stats.clone(),
            dlq_topic: config.dlq_topic(),
        };
        tracing::info!(
            %local_addr,
            topic = %config.topic,
            dlq_topic = %config.dlq_topic(),
            group_id = %config.group_id,
            database = %config.database_path().display(),
            jwks_uri = %config.jwks_uri(),
            "payments service built"
        );
        Ok(Self {
            listener,
            local_addr,
            consumer,
            validator,
            store,
            stats,
            assigned,
            shutdown_timeout: config.shutdown_timeout,
            stats_interval: config.stats_interval,
        })
    }

    /// The bound gRPC address (the real port when `--listen` used port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The consumer's counters (shared; they keep updating while the service runs).
    pub fn stats(&self) -> Arc<ConsumerStats> {
        self.stats.clone()
    }

    /// The payments database.
    pub fn store(&self) -> PaymentStore {
        self.store.clone()
    }

    /// Serves gRPC and consumes events until `shutdown` resolves, then shuts down gracefully.
    pub async fn run_until<F>(self, shutdown: F) -> Result<(), PaymentsError>
    where
        F: Future<Output = ()> + Send,
    {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (reporter, health_service) = tonic_health::server::health_reporter();
        set_health(&reporter, ServingStatus::NotServing).await;

        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(zte_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            // List only what this server serves (the descriptor set also holds Orders).
            .with_service_name(SERVICE_NAME)
            .with_service_name("grpc.health.v1.Health")
            .build_v1()?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(zte_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            // List only what this server serves (the descriptor set also holds Orders).
            .with_service_name(SERVICE_NAME)
            .with_service_name("grpc.health.v1.Health")
            .build_v1alpha()?;
        let auth = AuthLayer::new(
            self.validator.clone(),
            vec![ProtectedService::new(SERVICE_NAME, SCOPE_PAYMENTS)],
        );
        let router = tonic::transport::Server::builder()
            .layer(auth)
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(PaymentsServiceServer::new(PaymentsApi::new(
                self.store.clone(),
            )));
        let mut stop_serving = stop_rx.clone();
        let mut server: JoinHandle<Result<(), tonic::transport::Error>> =
            tokio::spawn(router.serve_with_incoming_shutdown(
                TcpListenerStream::new(self.listener),
                async move {
                    let _ = stop_serving.wait_for(|stop| *stop).await;
                },
            ));

        let keys = self.validator.keys().clone();
        let jwks_loader = tokio::spawn(load_jwks(keys.clone(), stop_rx.clone()));
        let health = tokio::spawn(report_health(
            reporter.clone(),
            keys,
            self.assigned.clone(),
            stop_rx.clone(),
        ));
        let stats_logger = tokio::spawn(log_stats(
            self.stats.clone(),
            self.stats_interval,
            stop_rx.clone(),
        ));
        let mut consumer = tokio::spawn(self.consumer.run(stop_rx));
        tracing::info!(addr = %self.local_addr, "payments service running");

        let early_exit = tokio::select! {
            () = shutdown => None,
            result = &mut server => Some(result),
            _ = &mut consumer => {
                tracing::error!("consumer stopped unexpectedly");
                None
            }
        };
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
        set_health(&reporter, ServingStatus::NotServing).await;

        let deadline = tokio::time::Instant::now() + self.shutdown_timeout;
        if !consumer.is_finished() {
            match tokio::time::timeout_at(deadline, &mut consumer).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::error!(%error, "consumer task failed"),
                Err(_) => {
                    tracing::warn!("consumer did not stop before the deadline; aborting it");
                    consumer.abort();
                }
            }
        }
        let served = match early_exit {
            Some(result) => flatten(result),
            None => match tokio::time::timeout_at(deadline, &mut server).await {
                Ok(result) => flatten(result),
                Err(_) => {
                    tracing::warn!("gRPC calls still running at the deadline; aborting them");
                    server.abort();
                    Ok(())
                }
            },
        };
        for task in [jwks_loader, health, stats_logger] {
            task.abort();
        }
        self.stats.log_summary("final");
        tracing::info!("payments service stopped");
        served
    }
}

fn flatten(
    result: Result<Result<(), tonic::transport::Error>, tokio::task::JoinError>,
) -> Result<(), PaymentsError> {
    match result {
        Ok(served) => served.map_err(PaymentsError::from),
        Err(error) => {
            tracing::error!(%error, "gRPC server task failed");
            Ok(())
        }
    }
}

/// Readiness is reported on the named service only. The overall status ("") stays SERVING
/// while the process runs, so a liveness probe does not restart a pod that is merely waiting
/// for Identity or Kafka.
async fn set_health(reporter: &HealthReporter, status: ServingStatus) {
    reporter.set_service_status(SERVICE_NAME, status).await;
}

/// Loads the JWKS at start, retrying with backoff until it succeeds or shutdown: Payments
/// starts even when Identity is not up yet, and reports NOT_SERVING meanwhile.
async fn load_jwks(keys: JwksCache, mut stop: watch::Receiver<bool>) {
    let mut delay = Duration::from_millis(200);
    loop {
        match keys.refresh().await {
            Ok(count) => {
                tracing::info!(keys = count, "JWKS loaded");
                return;
            }
            Err(error) => tracing::warn!(%error, retry_in = ?delay, "JWKS not loaded yet"),
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// SERVING while the consumer has partitions and the JWKS is loaded, NOT_SERVING otherwise.
async fn report_health(
    reporter: HealthReporter,
    keys: JwksCache,
    assigned: Arc<AtomicUsize>,
    mut stop: watch::Receiver<bool>,
) {
    let mut current = ServingStatus::NotServing;
    loop {
        let partitions = assigned.load(Ordering::Relaxed);
        let jwks_loaded = keys.is_loaded();
        let wanted = if partitions > 0 && jwks_loaded {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        if wanted != current {
            tracing::info!(status = ?wanted, partitions, jwks_loaded, "health changed");
            set_health(&reporter, wanted).await;
            current = wanted;
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            () = tokio::time::sleep(HEALTH_POLL) => {}
        }
    }
}

async fn log_stats(stats: Arc<ConsumerStats>, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = ticker.tick() => stats.log_summary("periodic"),
        }
    }
}
