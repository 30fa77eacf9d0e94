//! Building and running the service: [`Application::build`] does everything that can fail at
//! start (config, database, Kafka clients, token validator, listener);
//! [`Application::run_until`] consumes and serves (the `zte-grpc` skeleton) until the
//! shutdown future resolves, then stops accepting calls, lets each partition worker finish
//! its batch, commits offsets and leaves the group, all within `--shutdown-timeout`. If the
//! consumer or the server dies first, the service stops and reports it (the process exits
//! non-zero).

use std::{
    future::Future,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use rdkafka::{consumer::StreamConsumer, producer::FutureProducer};
use zte_auth::names::SCOPE_PAYMENTS;
use zte_event::{EventVerifier, VerifierLimits};
use zte_grpc::GrpcServer;
use zte_proto::payments::v1::payments_service_server::PaymentsServiceServer;
use zte_runtime::Shutdown;

use crate::{
    api::PaymentsApi,
    config::{COPY_HEADER_ALLOWANCE, PaymentsConfig},
    consumer::{
        EventConsumer, PaymentsContext, copies::CopyProducer, retry::RetryPolicy, worker::Pipeline,
    },
    error::PaymentsError,
    stats::ConsumerStats,
    store::PaymentStore,
    topics::OutputTopics,
};

/// How long one copy (DLQ or retry topic) may take to be acknowledged, librdkafka's own
/// retries included, before the attempt counts as failed and is tried again.
const COPY_DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// A built, not yet running, Payments service.
#[derive(Debug)]
pub struct Application {
    server: GrpcServer,
    consumer: EventConsumer,
    store: PaymentStore,
    stats: Arc<ConsumerStats>,
    assigned: Arc<AtomicUsize>,
    output: Arc<OutputTopics>,
    shutdown_timeout: Duration,
    stats_interval: Duration,
}

impl Application {
    /// Validates `config`, opens the database, creates the Kafka clients and binds the gRPC
    /// listener. Does not need Identity or Kafka to be up: the consumer subscribes once the
    /// output topics are usable and the JWKS is loaded.
    pub async fn build(config: PaymentsConfig) -> Result<Self, PaymentsError> {
        config.validate().map_err(PaymentsError::Config)?;
        let service = &config.service;
        let database = config.store_settings().map_err(PaymentsError::Config)?;
        let store = PaymentStore::connect(&database).await?;
        let server = GrpcServer::bind(service).await?;
        let verifier = EventVerifier::new(
            server.validator().clone(),
            VerifierLimits {
                max_record_bytes: config.max_record_bytes,
                trusted_producers: config.trusted_producers.clone(),
            },
        );

        let (dlq_topic, retry_topic) = (config.dlq_topic(), config.retry_topic());
        let context = PaymentsContext::default();
        let assigned = context.assigned();
        let kafka_consumer: StreamConsumer<PaymentsContext> =
            zte_kafka::at_least_once_consumer_config(
                &service.kafka_bootstrap,
                &config.group_id,
                "payments",
            )
            .create_with_context(context.clone())?;
        let kafka_consumer = Arc::new(kafka_consumer);
        // Every copy fits: the largest record accepted plus the headers Payments adds.
        let producer: FutureProducer = zte_kafka::idempotent_producer_config(
            &service.kafka_bootstrap,
            "payments-copies",
            COPY_DELIVERY_TIMEOUT,
        )
        .set(
            "message.max.bytes",
            (config.max_record_bytes + COPY_HEADER_ALLOWANCE).to_string(),
        )
        .create()?;
        let output = OutputTopics::new(vec![dlq_topic.clone(), retry_topic.clone()]);

        let stats = Arc::new(ConsumerStats::default());
        let pipeline = Pipeline {
            consumer: kafka_consumer.clone(),
            verifier,
            store: store.clone(),
            copies: CopyProducer::new(
                producer,
                dlq_topic.clone(),
                retry_topic.clone(),
                output.clone(),
            ),
            stats: stats.clone(),
            policy: RetryPolicy {
                max_attempts: config.retry_max_attempts,
                backoff: config.retry_backoff,
                backoff_max: config.retry_backoff_max,
                refresh_cooldown: service.jwks_refresh_cooldown,
            },
            max_record_bytes: config.max_record_bytes,
            retry_topic: retry_topic.clone(),
        };
        let consumer = EventConsumer {
            consumer: kafka_consumer,
            context,
            pipeline: Arc::new(pipeline),
            topics: vec![service.topic.clone(), retry_topic.clone()],
            output: output.clone(),
        };
        tracing::info!(
            local_addr = %server.local_addr(),
            topic = %service.topic,
            %dlq_topic,
            %retry_topic,
            group_id = %config.group_id,
            database = %database.describe(),
            jwks_uri = %service.jwks_uri(),
            "payments service built"
        );
        Ok(Self {
            server,
            consumer,
            store,
            stats,
            assigned,
            output,
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
        let (assigned, output) = (self.assigned.clone(), self.output.clone());
        // Ready while the output topics are usable and the consumer has partitions (and the
        // JWKS is loaded: the skeleton adds that).
        let dependencies = move || {
            let ready = output
                .status()
                .and_then(|()| match assigned.load(Ordering::Relaxed) {
                    0 => Err("no partitions assigned".to_owned()),
                    _ => Ok(()),
                });
            async move { ready }
        };
        self.server
            .serve(api, SCOPE_PAYMENTS, dependencies, &tasks)
            .await?;
        tasks.spawn_task(
            "output topic checks",
            self.output
                .clone()
                .run_checks(self.consumer.consumer.clone()),
        );
        let token = tasks.token();
        tasks.spawn_service("consumer", self.consumer.run(token));
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
