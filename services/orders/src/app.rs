//! Building and running the service: [`Application::build`] opens storage, creates the
//! producer and the token validator and binds the listener; [`Application::run_until`]
//! serves (the `zte-grpc` skeleton), runs the outbox relay and reports readiness until the
//! shutdown future resolves, then drains within the shutdown deadline and flushes the
//! producer.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use zte_auth::names::SCOPE_ORDERS;
use zte_grpc::GrpcServer;
use zte_proto::orders::v1::orders_service_server::OrdersServiceServer;
use zte_runtime::Shutdown;

use crate::{
    config::OrdersConfig, error::OrdersError, orders::Orders, publisher::EventPublisher,
    service::OrdersApi, store::OrderStore, token::EventTokenIssuer,
};

/// How long one Kafka metadata probe may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(2);

/// A built, not yet running, Orders service.
#[derive(Debug)]
pub struct Application {
    server: GrpcServer,
    orders: Orders,
    shutdown_timeout: Duration,
}

impl Application {
    /// Builds the service from `config`, with the RFC 8693 token-exchange client.
    pub async fn build(config: OrdersConfig) -> Result<Self, OrdersError> {
        config.validate().map_err(OrdersError::Config)?;
        let server = GrpcServer::bind(&config.service).await?;
        let issuer = crate::token::oauth_issuer(&config, server.client_tls())?;
        Self::assemble(config, server, issuer).await
    }

    /// Builds the service with another event-token issuer (tests, or another authorization
    /// server client).
    pub async fn build_with_issuer(
        config: OrdersConfig,
        issuer: Arc<dyn EventTokenIssuer>,
    ) -> Result<Self, OrdersError> {
        config.validate().map_err(OrdersError::Config)?;
        let server = GrpcServer::bind(&config.service).await?;
        Self::assemble(config, server, issuer).await
    }

    async fn assemble(
        config: OrdersConfig,
        server: GrpcServer,
        issuer: Arc<dyn EventTokenIssuer>,
    ) -> Result<Self, OrdersError> {
        let service = &config.service;
        std::fs::create_dir_all(&service.data_dir).map_err(|source| OrdersError::Io {
            context: format!("creating data directory {}", service.data_dir.display()),
            source,
        })?;
        let database = config.store_settings().map_err(OrdersError::Config)?;
        let store = OrderStore::connect(&database).await?;
        let publisher = EventPublisher::new(
            &service.kafka_bootstrap,
            &service.topic,
            config.publish_timeout,
        )?;
        tracing::info!(
            local_addr = %server.local_addr(),
            topic = %service.topic,
            issuer = %service.issuer,
            database = %database.describe(),
            "orders service built"
        );
        Ok(Self {
            server,
            orders: Orders::new(store, publisher, issuer),
            shutdown_timeout: service.shutdown_timeout,
        })
    }

    /// The address the gRPC server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Serves until `shutdown` resolves (or a service task dies); then stops accepting, lets
    /// in-flight calls finish and flushes the producer, all within the shutdown deadline.
    pub async fn run_until<F>(self, shutdown: F) -> Result<(), OrdersError>
    where
        F: Future<Output = ()> + Send,
    {
        let outbox = self.orders.outbox().clone();
        // Ready while Kafka answers metadata requests and the database a query (and the JWKS
        // is loaded).
        let dependencies_reachable = move || {
            let outbox = outbox.clone();
            async move {
                if !outbox.publisher().cluster_reachable(METADATA_TIMEOUT).await {
                    return Err("Kafka unreachable".to_owned());
                }
                outbox
                    .store()
                    .ping()
                    .await
                    .map_err(|error| format!("database unreachable: {error}"))
            }
        };
        let api = OrdersServiceServer::new(OrdersApi::new(self.orders.clone()));
        let tasks = Shutdown::new();
        self.server
            .serve(api, SCOPE_ORDERS, dependencies_reachable, &tasks)
            .await?;
        tasks.spawn_task("outbox relay", self.orders.outbox().clone().relay());

        let drained = tasks.drain_after(shutdown, self.shutdown_timeout).await;
        if let Err(error) = self.orders.publisher().flush(self.shutdown_timeout).await {
            tracing::warn!(%error, "producer flush incomplete");
        }
        tracing::info!("orders service stopped");
        Ok(drained.map_err(zte_grpc::ServiceError::from)?)
    }
}
