//! Building and running the service: [`Application::build`] does everything that can fail at
//! start (config, database, Kafka clients, token validator, listener);
//! [`Application::run_until`] consumes and serves (the `zte-grpc` skeleton) until the
//! shutdown future resolves, then stops accepting calls, finishes the current record,
//! commits offsets and leaves the group, all within `--shutdown-timeout`. If the consumer or
//! the server dies first, the service stops and reports it (the process exits non-zero).

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
use zte_auth::names::SCOPE_PAYMENTS;
use zte_event::{EventVerifier, VerifierLimits};
use zte_grpc::GrpcServer;
use zte_proto::payments::v1::payments_service_server::PaymentsServiceServer;
use zte_runtime::Shutdown;

use crate::{
    api::PaymentsApi,
    config::PaymentsConfig,
    consumer::{DLQ_DELIVERY_TIMEOUT, EventConsumer, PaymentsContext},
    error::PaymentsError,
    stats::ConsumerStats,
    store::PaymentStore,
};

/// Timeout of one JWKS request.
const JWKS_HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// A built, not yet running, Payments service.
#[derive(Debug)]
pub struct Application {
    server: GrpcServer,
    consumer: EventConsumer,
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
        let service = &config.service;
        let store = PaymentStore::open(&config.database_path()).await?;
        let server = GrpcServer::bind(service, JWKS_HTTP_TIMEOUT).await?;
        let verifier = EventVerifier::new(
            server.validator().clone(),
            VerifierLimits {
                max_record_bytes: config.max_record_bytes,
                trusted_producers: config.trusted_producers.clone(),
            },
        );

        let context = PaymentsContext::default();
        let assigned = context.assigned();
        let kafka_consumer: StreamConsumer<PaymentsContext> =
            zte_kafka::at_least_once_consumer_config(
                &service.kafka_bootstrap,
                &config.group_id,
                "payments",
            )
            .create_with_context(context)?;
        kafka_consumer.subscribe(&[service.topic.as_str()])?;
        let producer: FutureProducer = zte_kafka::idempotent_producer_config(
            &service.kafka_bootstrap,
            "payments-dlq",
            DLQ_DELIVERY_TIMEOUT,
        )
        .create()?;

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
            local_addr = %server.local_addr(),
            topic = %service.topic,
            dlq_topic = %config.dlq_topic(),
            group_id = %config.group_id,
            database = %config.database_path().display(),
            jwks_uri = %service.jwks_uri(),
            "payments service built"
        );
        Ok(Self {
            server,
            consumer,
            store,
            stats,
            assigned,
            shutdown_timeout: service.shutdown_timeout,
            stats_interval: config.stats_interval,
        })
    }

    /// Serves gRPC and consumes events until `shutdown` resolves (or the consumer or the
    /// server dies), then shuts down gracefully.
    pub async fn run_until<F>(self, shutdown: F) -> Result<(), PaymentsError>
    where
        F: Future<Output = ()> + Send,
    {
        let tasks = Shutdown::new();
        let api = PaymentsServiceServer::new(PaymentsApi::new(self.store.clone()));
        let assigned = self.assigned.clone();
        // Ready while the consumer has partitions (and the JWKS is loaded).
        let has_partitions = move || {
            let partitions = assigned.load(Ordering::Relaxed);
            async move {
                match partitions {
                    0 => Err("no partitions assigned".to_owned()),
                    _ => Ok(()),
                }
            }
        };
        self.server
            .serve(api, SCOPE_PAYMENTS, has_partitions, &tasks)
            .await?;
        let token = tasks.token();
        tasks.spawn_service("consumer", async move {
            self.consumer.run(token).await;
            Ok::<(), std::convert::Infallible>(())
        });
        tasks.spawn_task(
            "stats logger",
            log_stats(self.stats.clone(), self.stats_interval),
        );

        let drained = tasks.drain_after(shutdown, self.shutdown_timeout).await;
        self.stats.log_summary("final");
        tracing::info!("payments service stopped");
        Ok(drained.map_err(zte_grpc::ServiceError::from)?)
    }

    /// The bound gRPC address (the real port when `--listen` used port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The consumer's counters (shared; they keep updating while the service runs).
    pub fn stats(&self) -> Arc<ConsumerStats> {
        self.stats.clone()
    }

    /// The payments database.
    pub fn store(&self) -> PaymentStore {
        self.store.clone()
    }
}

async fn log_stats(stats: Arc<ConsumerStats>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        stats.log_summary("periodic");
    }
}
