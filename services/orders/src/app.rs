//! Building and running the service: [`Application::build`] opens storage, creates the
//! producer, binds the listener and starts the background tasks; [`Application::run_until`]
//! serves until the shutdown future resolves, then drains within the shutdown deadline.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tokio_stream::wrappers::TcpListenerStream;
use tonic_health::{
    ServingStatus,
    pb::health_server::HealthServer,
    server::{HealthReporter, HealthService},
};
use zte_auth::{AuthLayer, JwksCache, ProtectedService, TokenValidator, ValidatorConfig};
use zte_proto::orders::v1::{SERVICE_NAME, orders_service_server::OrdersServiceServer};

use crate::{
    config::OrdersConfig, error::OrdersError, orders::Orders, publisher::EventPublisher,
    service::OrdersApi, store::OrderStore, token::EventTokenIssuer,
};

/// How often dependencies are probed for the health status.
const HEALTH_INTERVAL: Duration = Duration::from_secs(2);
/// How long one Kafka metadata probe may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(2);
/// Clock skew allowed on `exp`/`nbf`.
const TOKEN_LEEWAY: Duration = Duration::from_secs(30);
/// Largest request the gRPC server decodes (an order of 100 items is a few KiB).
const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// A built, not yet running, Orders service.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    orders: Orders,
    validator: TokenValidator,
    health: HealthReporter,
    health_server: HealthServer<HealthService>,
    shutdown_timeout: Duration,
}

impl Application {
    /// Builds the service from `config`, with the RFC 8693 token-exchange client.
    pub async fn build(config: OrdersConfig) -> Result<Self, OrdersError> {
        config.validate().map_err(OrdersError::Config)?;
        let issuer = crate::token::oauth_issuer(&config)?;
        Self::build_with_issuer(config, issuer).await
    }

    /// Builds the service with another event-token issuer (tests, or another authorization
    /// server client).
    pub async fn build_with_issuer(
        config: OrdersConfig,
        issuer: Arc<dyn EventTokenIssuer>,
    ) -> Result<Self, OrdersError> {
        config.validate().map_err(OrdersError::Config)?;
        std::fs::create_dir_all(&config.data_dir).map_err(|source| OrdersError::Io {
            context: format!("creating data directory {}", config.data_dir.display()),
            source,
        })?;
        let store = OrderStore::open(&config.database_path())?;
        let publisher = EventPublisher::new(
            &config.kafka_bootstrap,
            &config.topic,
            config.publish_timeout,
        )?;
        let http = reqwest::Client::builder()
            .timeout(config.identity_timeout)
            .build()
            .map_err(|e| OrdersError::TokenClient(e.to_string()))?;
        let validator = TokenValidator::new(
            ValidatorConfig {
                issuer: config.issuer.clone(),
                audience: config.audience.clone(),
                leeway: TOKEN_LEEWAY,
            },
            JwksCache::remote(config.jwks_uri(), http, config.jwks_refresh_cooldown),
        );
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| OrdersError::Io {
                    context: format!("listening on {}", config.listen),
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| OrdersError::Io {
            context: "reading the listen address".into(),
            source,
        })?;
        let health = HealthReporter::new();
        let health_server = HealthServer::new(HealthService::from_health_reporter(health.clone()));
        // Readiness is the named service: NOT_SERVING until Kafka and the JWKS are ready.
        // Liveness is "" (the server as a whole): SERVING while the process runs, so a
        // Kafka outage takes the instance out of rotation without getting it restarted.
        health
            .set_service_status(SERVICE_NAME, ServingStatus::NotServing)
            .await;
        health.set_service_status("", ServingStatus::Serving).await;
        tracing::info!(
            %local_addr,
            topic = %config.topic,
            issuer = %config.issuer,
            "orders service built"
        );
        Ok(Self {
            listener,
            local_addr,
            orders: Orders::new(store, publisher, issuer),
            validator,
            health,
            health_server,
            shutdown_timeout: config.shutdown_timeout,
        })
    }

    /// The address the gRPC server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` resolves; then stops accepting, lets in-flight calls finish and
    /// flushes the producer, all within the shutdown deadline.
    pub async fn run_until<F>(self, shutdown: F) -> Result<(), OrdersError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (stop_tx, stop_rx) = watch::channel(false);
        let tasks: Vec<JoinHandle<()>> = vec![
            tokio::spawn(watch_dependencies(
                self.orders.publisher().clone(),
                self.validator.clone(),
                self.health.clone(),
                stop_rx.clone(),
            )),
            tokio::spawn({
                let orders = self.orders.clone();
                let stop = stop_rx.clone();
                async move { orders.recover_outbox(stop).await }
            }),
        ];

        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(zte_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| OrdersError::Config(format!("reflection: {e}")))?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(zte_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()
            .map_err(|e| OrdersError::Config(format!("reflection: {e}")))?;
        let auth = AuthLayer::new(
            self.validator.clone(),
            vec![ProtectedService::new(SERVICE_NAME, "orders")],
        );
        let api = OrdersServiceServer::new(OrdersApi::new(self.orders.clone()))
            .max_decoding_message_size(MAX_REQUEST_BYTES);

        let (signalled_tx, mut signalled_rx) = watch::channel(false);
        let health = self.health.clone();
        let stop_tx_for_signal = stop_tx.clone();
        let shutdown = async move {
            shutdown.await;
            tracing::info!("shutting down: no new calls, finishing in-flight ones");
            // Stop the dependency watcher first so it cannot flip readiness back on.
            let _ = stop_tx_for_signal.send(true);
            health
                .set_service_status(SERVICE_NAME, ServingStatus::NotServing)
                .await;
            health
                .set_service_status("", ServingStatus::NotServing)
                .await;
            let _ = signalled_tx.send(true);
        };
        let server = tonic::transport::Server::builder()
            .layer(auth)
            .add_service(self.health_server)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(api)
            .serve_with_incoming_shutdown(TcpListenerStream::new(self.listener), shutdown);

        tracing::info!(addr = %self.local_addr, "serving orders.v1.OrdersService");
        let deadline = self.shutdown_timeout;
        let result = tokio::select! {
            result = server => result.map_err(OrdersError::from),
            () = async {
                let _ = signalled_rx.wait_for(|s| *s).await;
                tokio::time::sleep(deadline).await;
            } => {
                tracing::warn!(?deadline, "in-flight calls did not finish before the deadline");
                Ok(())
            }
        };
        let _ = stop_tx.send(true);
        for task in tasks {
            task.abort();
        }
        if let Err(error) = self.orders.publisher().flush(deadline).await {
            tracing::warn!(%error, "producer flush incomplete");
        }
        tracing::info!("orders service stopped");
        result
    }
}

/// Keeps the health status true: `SERVING` only while Kafka answers metadata requests and
/// the JWKS has been loaded. Loads the JWKS with retries (the identity service may start
/// after us).
async fn watch_dependencies(
    publisher: EventPublisher,
    validator: TokenValidator,
    health: HealthReporter,
    mut stop: watch::Receiver<bool>,
) {
    let mut serving = false;
    loop {
        if !validator.keys().is_loaded()
            && let Err(error) = validator.keys().refresh().await
        {
            tracing::debug!(%error, "JWKS not loaded yet");
        }
        let jwks_ready = validator.keys().is_loaded();
        let kafka_ready = publisher.cluster_reachable(METADATA_TIMEOUT).await;
        let ready = jwks_ready && kafka_ready;
        if *stop.borrow() {
            return;
        }
        if ready != serving {
            serving = ready;
            let status = if ready {
                tracing::info!("dependencies ready: SERVING");
                ServingStatus::Serving
            } else {
                tracing::warn!(kafka_ready, jwks_ready, "dependency lost: NOT_SERVING");
                ServingStatus::NotServing
            };
            health.set_service_status(SERVICE_NAME, status).await;
        }
        tokio::select! {
            _ = tokio::time::sleep(HEALTH_INTERVAL) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
