//! The gRPC server every API runs in: bound at build time ([`Listener`]), then served with
//! the same pieces everywhere ([`spawn_server`]): authentication, readiness, reflection,
//! request spans, graceful stop.

use std::{convert::Infallible, future::Future, net::SocketAddr};

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{body::Body, server::NamedService};
use tonic_health::pb::health_server::HealthServer;
use tonic_reflection::server::Builder as ReflectionBuilder;
use tower::Service;
use tower_http::trace::TraceLayer;
use zte_auth::TokenValidator;
use zte_runtime::Shutdown;

use crate::{
    auth::{AuthLayer, ProtectedService},
    readiness::Readiness,
};

/// Why the server (or the token validator in front of it) could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The HTTP client for the JWKS could not be built.
    #[error("http client: {0}")]
    Http(#[from] reqwest::Error),
    /// The reflection service could not be built from the descriptor sets.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// A bound listener and the address it really listens on (port 0 becomes a free port).
#[derive(Debug)]
pub struct Listener {
    listener: TcpListener,
    local_addr: SocketAddr,
}

impl Listener {
    /// Binds `addr`.
    pub async fn bind(addr: SocketAddr) -> Result<Self, ServerError> {
        let bind_error = |source| ServerError::Bind { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        Ok(Self {
            listener,
            local_addr,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

/// Serves `api` on `listener` as a task of `shutdown`, next to health and reflection (v1 and
/// v1alpha, listing exactly what this server serves).
///
/// - Calls to `api` need a bearer token valid for `validator` with `scope` ([`AuthLayer`]);
///   health and reflection stay open. Every call runs in a request span
///   ([`TraceLayer::new_for_grpc`]).
/// - The validator's JWKS is loaded in the background (with retries: the issuer may start
///   later), and the service is ready ([`Readiness`]) while the JWKS is loaded and `probe`
///   (the service's own dependencies) answers `Ok`.
/// - When the shutdown is triggered, readiness goes NOT_SERVING, the server stops accepting,
///   and in-flight calls finish within the drain deadline. A server that fails before that
///   fails the process.
pub async fn spawn_server<S, P, F>(
    listener: Listener,
    api: S,
    scope: &str,
    validator: TokenValidator,
    mut probe: P,
    shutdown: &Shutdown,
) -> Result<(), ServerError>
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
    let keys = validator.keys().clone();
    shutdown.spawn_task("JWKS loader", {
        let keys = keys.clone();
        async move {
            keys.load_with_retry().await;
        }
    });
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

    let auth = AuthLayer::new(validator, vec![ProtectedService::new(S::NAME, scope)]);
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
    tracing::info!(addr = %listener.local_addr, service = S::NAME, "serving");
    shutdown.spawn_service(
        "gRPC server",
        router.serve_with_incoming_shutdown(TcpListenerStream::new(listener.listener), draining),
    );
    Ok(())
}
