//! The gRPC server every API runs in ([`GrpcServer`]): bound at build time, then served with
//! the same pieces everywhere: authentication, readiness, reflection, request spans,
//! graceful stop.

use std::{convert::Infallible, future::Future, net::SocketAddr, time::Duration};

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{body::Body, server::NamedService};
use tonic_health::pb::health_server::HealthServer;
use tonic_reflection::server::Builder as ReflectionBuilder;
use tower::Service;
use tower_http::trace::TraceLayer;
use zte_auth::TokenValidator;
use zte_runtime::{ServiceConfig, ServiceDefaults, Shutdown};

use crate::{
    auth::{AuthLayer, ProtectedService, token_validator},
    readiness::Readiness,
};

/// Why a gRPC service could not be set up (listener, token validator, reflection), or
/// stopped because a task that had to run until shutdown died.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// A setting is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The HTTP client for the JWKS could not be built.
    #[error("{0}")]
    Http(#[from] zte_auth::HttpError),
    /// The reflection service could not be built from the descriptor sets.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// A task that had to run until shutdown (the server, a consumer) died.
    #[error("task {0}")]
    Task(#[from] zte_runtime::TaskFailed),
}

/// The gRPC server of one API, prepared at start (listener bound, token validator built)
/// and served later ([`GrpcServer::serve`]).
#[derive(Debug)]
pub struct GrpcServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    validator: TokenValidator,
}

impl GrpcServer {
    /// Binds `config.listen` (port 0 becomes a free port) and builds the service's token
    /// validator from `config` ([`token_validator`]; each JWKS fetch bounded by
    /// `jwks_timeout`).
    pub async fn bind<D: ServiceDefaults>(
        config: &ServiceConfig<D>,
        jwks_timeout: Duration,
    ) -> Result<Self, ServiceError> {
        let validator = token_validator(config, jwks_timeout)?;
        let addr = config.listen;
        let bind_error = |source| ServiceError::Bind { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        Ok(Self {
            listener,
            local_addr,
            validator,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The validator calls are authenticated with (shared, e.g. with an event verifier).
    pub fn validator(&self) -> &TokenValidator {
        &self.validator
    }

    /// Serves `api` as a task of `shutdown`, next to health and reflection (v1 and v1alpha,
    /// listing exactly what this server serves).
    ///
    /// - Calls to `api` need a bearer token valid for the validator with `scope`
    ///   ([`AuthLayer`]); health and reflection stay open. Every call runs in a request span
    ///   ([`TraceLayer::new_for_grpc`]).
    /// - The validator's JWKS is loaded in the background (with retries: the issuer may
    ///   start later) and kept fresh by its refresher, and the service is ready ([`Readiness`]) while the JWKS is loaded and
    ///   `probe` (the service's own dependencies) answers `Ok`.
    /// - When the shutdown is triggered, readiness goes NOT_SERVING, the server stops
    ///   accepting, and in-flight calls finish within the drain deadline. A server that fails
    ///   before that fails the process.
    pub async fn serve<S, P, F>(
        self,
        api: S,
        scope: &str,
        mut probe: P,
        shutdown: &Shutdown,
    ) -> Result<(), ServiceError>
    where
        S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        P: FnMut() -> F + Send + 'static,
        F: Future<Output = Result<(), String>> + Send,
    {
        let reflection = || {
            ReflectionBuilder::configure()
                .register_encoded_file_descriptor_set(zte_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                // List only what this server serves (the descriptor set holds every API).
                .with_service_name(S::NAME)
                .with_service_name(<HealthServer<tonic_health::server::HealthService>>::NAME)
        };
        let (reflection_v1, reflection_v1alpha) =
            (reflection().build_v1()?, reflection().build_v1alpha()?);
        let readiness = Readiness::new(S::NAME).await;
        // The JWKS refresher loads the keys now (retrying until the issuer answers) and keeps
        // them fresh; it stops with the validator.
        let keys = self.validator.keys().clone();
        keys.start();
        readiness.watch(shutdown, move || {
            let dependencies = probe();
            let keys = keys.clone();
            async move {
                match (dependencies.await, keys.is_loaded()) {
                    (result, true) => result,
                    (Ok(()), false) => Err("JWKS not loaded".to_owned()),
                    (Err(why), false) => Err(format!("{why}; JWKS not loaded")),
                }
            }
        });

        let auth = AuthLayer::new(self.validator, vec![ProtectedService::new(S::NAME, scope)]);
        let router = tonic::transport::Server::builder()
            .layer(TraceLayer::new_for_grpc())
            .layer(auth)
            .add_service(readiness.health_service())
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(api);
        let token = shutdown.token();
        let draining = async move {
            token.cancelled().await;
            readiness.stop().await;
            tracing::info!("gRPC server draining: no new calls, finishing in-flight ones");
        };
        tracing::info!(addr = %self.local_addr, service = S::NAME, "serving");
        shutdown.spawn_service(
            "gRPC server",
            router.serve_with_incoming_shutdown(TcpListenerStream::new(self.listener), draining),
        );
        Ok(())
    }
}
