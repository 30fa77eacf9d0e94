//! The gRPC server every API runs in ([`GrpcServer`]): bound at build time, then served with
//! the same pieces everywhere: TLS (mutual when configured; certificates reloaded from disk),
//! the listener's connection limits, authentication, the API call limits, readiness,
//! reflection, request spans, HTTP/2 keep-alive, graceful stop.

use std::{convert::Infallible, future::Future, net::SocketAddr, time::Duration};

use tonic::{body::Body, server::NamedService};
use tonic_health::pb::health_server::HealthServer;
use tonic_reflection::server::Builder as ReflectionBuilder;
use tower::Service;
use tower_http::trace::TraceLayer;
use zte_auth::{OutboundHttp, TokenValidator};
use zte_runtime::{GrpcLimits, ServiceConfig, ServiceDefaults, Shutdown};
use zte_tls::{ALPN_GRPC, ClientTls, ConnectionLimits, Listener, ServerTls};

use crate::{
    auth::{AuthLayer, ProtectedService, token_validator},
    limits::{CallLimitLayer, MessageLimits},
    readiness::Readiness,
};

/// How long an HTTP/2 keep-alive PING may go unanswered before the connection is closed.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

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
    /// A certificate, key or CA file could not be loaded.
    #[error("TLS: {0}")]
    Tls(#[from] zte_tls::TlsError),
    /// The reflection service could not be built from the descriptor sets.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// A task that had to run until shutdown (the server, a consumer) died.
    #[error("task {0}")]
    Task(#[from] zte_runtime::TaskFailed),
}

/// The gRPC server of one API, prepared at start (listener bound, TLS files loaded, token
/// validator built) and served later ([`GrpcServer::serve`]).
#[derive(Debug)]
pub struct GrpcServer {
    listener: Listener,
    local_addr: SocketAddr,
    validator: TokenValidator,
    client_tls: ClientTls,
    max_concurrent_requests: usize,
    max_message_bytes: usize,
    keepalive_interval: Duration,
    request_timeout: Duration,
}

impl GrpcServer {
    /// Binds `config.listen` (port 0 becomes a free port) with the configured TLS and
    /// connection limits, loads the client side of TLS (what this service trusts and presents
    /// when it calls identity), and builds the service's token validator from
    /// `config` ([`token_validator`]; each JWKS fetch bounded by `--identity-timeout`).
    pub async fn bind<D: ServiceDefaults>(config: &ServiceConfig<D>) -> Result<Self, ServiceError> {
        let client_tls = ClientTls::from_config(&config.tls)?;
        let http = OutboundHttp::from_builder(client_tls.http_client(), config.identity_timeout)?;
        let validator = token_validator(config, http)?;
        let server_tls = ServerTls::from_config(&config.tls, ALPN_GRPC)?;
        let addr = config.listen;
        let listener = Listener::bind(addr, server_tls, ConnectionLimits::from(&config.limits))
            .await
            .map_err(|source| ServiceError::Bind { addr, source })?;
        let GrpcLimits {
            max_concurrent_requests,
            max_message_bytes,
            keepalive_interval,
            ..
        } = config.grpc;
        Ok(Self {
            local_addr: listener.local_addr(),
            listener,
            validator,
            client_tls,
            max_concurrent_requests,
            max_message_bytes,
            keepalive_interval,
            request_timeout: config.limits.request_timeout,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// True when the server speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.listener.tls().is_some()
    }

    /// The validator calls are authenticated with (shared, e.g. with an event verifier).
    pub fn validator(&self) -> &TokenValidator {
        &self.validator
    }

    /// What this service trusts and presents as a client (identity's JWKS and token endpoint).
    pub fn client_tls(&self) -> &ClientTls {
        &self.client_tls
    }

    /// Serves `api` as a task of `shutdown`, next to health and reflection (v1 and v1alpha,
    /// listing exactly what this server serves).
    ///
    /// - Calls to `api` need a bearer token valid for the validator with `scope`
    ///   ([`AuthLayer`]); health and reflection stay open. Every call runs in a request span
    ///   ([`TraceLayer::new_for_grpc`]).
    /// - Calls to `api` are limited ([`CallLimitLayer`]: `--max-concurrent-requests`,
    ///   `--request-timeout`), and so are its messages (`--max-message-bytes`).
    /// - The certificate, key and client CA files (server side) and the client certificate
    ///   (client side) are re-read every `--tls-reload-interval`.
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
            + MessageLimits
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

        if let Some(tls) = self.listener.tls() {
            shutdown.spawn_task("server certificate reloader", tls.reloader());
        }
        shutdown.spawn_task("client certificate reloader", self.client_tls.reloader());

        let protected = ProtectedService::new(S::NAME, scope);
        let call_limits = CallLimitLayer::new(
            &protected.path_prefix,
            self.max_concurrent_requests,
            self.request_timeout,
        );
        let auth = AuthLayer::new(self.validator, vec![protected]);
        let router = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(self.keepalive_interval))
            .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
            .layer(TraceLayer::new_for_grpc())
            .layer(call_limits)
            .layer(auth)
            .add_service(readiness.health_service())
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(api.with_message_limits(self.max_message_bytes));
        let token = shutdown.token();
        let draining = async move {
            token.cancelled().await;
            readiness.stop().await;
            tracing::info!("gRPC server draining: no new calls, finishing in-flight ones");
        };
        tracing::info!(
            addr = %self.local_addr,
            service = S::NAME,
            tls = self.listener.tls().is_some(),
            client_auth = ?self.listener.tls().and_then(ServerTls::client_auth),
            "serving"
        );
        shutdown.spawn_service(
            "gRPC server",
            router.serve_with_incoming_shutdown(self.listener.incoming(), draining),
        );
        Ok(())
    }
}
