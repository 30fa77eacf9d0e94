//! What one API call may cost a server, bounded once for every gRPC API:
//!
//! - at most `max_concurrent_requests` API calls in progress; one more is answered
//!   `RESOURCE_EXHAUSTED` at once (load is shed, never queued without bound);
//! - each call runs to completion on a task of its own that holds its place: a client that
//!   goes away (cancels, disconnects) does not abandon half-done work (an outbox row left
//!   pending until the next start), and its work still counts until it is finished, so a
//!   flood of calls whose clients vanish cannot pile up work behind the limit;
//! - the caller gets `DEADLINE_EXCEEDED` after `request_timeout` (the work goes on, holding
//!   its place, until its own timeouts end it);
//! - messages above `max_message_bytes` are refused by the generated servers
//!   ([`MessageLimits`]).
//!
//! Health and reflection are not API calls: a server at its limit still answers its probes.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use tokio::sync::Semaphore;
use tonic::{Status, body::Body};
use tower::{Layer, Service};
use zte_proto::{
    orders::v1::orders_service_server::OrdersServiceServer,
    payments::v1::payments_service_server::PaymentsServiceServer,
};

/// A generated gRPC server whose message size limits can be set.
pub trait MessageLimits {
    /// The server, refusing messages (either way) larger than `max_bytes`.
    fn with_message_limits(self, max_bytes: usize) -> Self;
}

macro_rules! message_limits {
    ($($server:ident),* $(,)?) => {$(
        impl<T> MessageLimits for $server<T> {
            fn with_message_limits(self, max_bytes: usize) -> Self {
                self.max_decoding_message_size(max_bytes)
                    .max_encoding_message_size(max_bytes)
            }
        }
    )*};
}

message_limits!(OrdersServiceServer, PaymentsServiceServer);

/// The concurrency limit and deadline of the API calls under `path_prefix`.
#[derive(Debug, Clone)]
pub struct CallLimitLayer {
    path_prefix: Arc<str>,
    slots: Arc<Semaphore>,
    limit: usize,
    request_timeout: Duration,
}

impl CallLimitLayer {
    /// At most `limit` calls under `path_prefix` at once, each answered within
    /// `request_timeout`.
    pub fn new(path_prefix: &str, limit: usize, request_timeout: Duration) -> Self {
        Self {
            path_prefix: path_prefix.into(),
            slots: Arc::new(Semaphore::new(limit)),
            limit,
            request_timeout,
        }
    }

    /// API calls in progress now (their work included, whether or not the client waits).
    pub fn in_progress(&self) -> usize {
        self.limit - self.slots.available_permits()
    }
}

impl<S> Layer<S> for CallLimitLayer {
    type Service = CallLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CallLimit {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service produced by [`CallLimitLayer`].
#[derive(Debug, Clone)]
pub struct CallLimit<S> {
    inner: S,
    layer: CallLimitLayer,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S> Service<http::Request<Body>> for CallLimit<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        // Take the service that was polled ready and leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if !request.uri().path().starts_with(&*self.layer.path_prefix) {
            return Box::pin(inner.call(request));
        }
        let Ok(slot) = self.layer.slots.clone().try_acquire_owned() else {
            tracing::debug!(
                limit = self.layer.limit,
                "concurrency limit reached; shedding"
            );
            return Box::pin(async {
                Ok(
                    Status::resource_exhausted("server busy: too many requests in progress")
                        .into_http(),
                )
            });
        };
        let work = inner.call(request);
        let task = tokio::spawn(async move {
            let _slot = slot;
            work.await
        });
        let deadline = self.layer.request_timeout;
        Box::pin(async move {
            match tokio::time::timeout(deadline, task).await {
                Ok(Ok(response)) => response,
                Ok(Err(error)) => {
                    Ok(crate::status::internal("API call task failed", &error).into_http())
                }
                Err(_) => {
                    tracing::warn!(?deadline, "request timed out; its work goes on");
                    Ok(Status::deadline_exceeded("the request took too long").into_http())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tokio::sync::watch;

    use super::*;

    const PREFIX: &str = "/test.v1.Test/";

    fn request(path: &str) -> http::Request<Body> {
        http::Request::builder()
            .uri(path)
            .body(Body::empty())
            .unwrap()
    }

    fn code(response: &http::Response<Body>) -> tonic::Code {
        Status::from_header_map(response.headers()).map_or(tonic::Code::Ok, |s| s.code())
    }

    /// A service whose API calls wait until `release` is true; anything else answers at once.
    fn service(
        release: watch::Receiver<bool>,
    ) -> impl Service<
        http::Request<Body>,
        Response = http::Response<Body>,
        Error = Infallible,
        Future: Send,
    > + Clone
    + Send
    + 'static {
        tower::service_fn(move |request: http::Request<Body>| {
            let mut release = release.clone();
            async move {
                if request.uri().path().starts_with(PREFIX) {
                    let _ = release.wait_for(|released| *released).await;
                }
                Ok::<_, Infallible>(http::Response::new(Body::empty()))
            }
        })
    }

    #[tokio::test]
    async fn calls_beyond_the_limit_are_shed_and_abandoned_work_keeps_its_place() {
        let layer = CallLimitLayer::new(PREFIX, 2, Duration::from_secs(60));
        let (release, released) = watch::channel(false);
        let mut svc = layer.layer(service(released));

        // Two calls in progress; their callers go away (futures dropped).
        for _ in 0..2 {
            drop(svc.call(request("/test.v1.Test/Slow")));
        }
        assert_eq!(
            layer.in_progress(),
            2,
            "abandoned work still holds its place"
        );
        let shed = svc.call(request("/test.v1.Test/Slow")).await.unwrap();
        assert_eq!(code(&shed), tonic::Code::ResourceExhausted);
        let health = svc
            .call(request("/grpc.health.v1.Health/Check"))
            .await
            .unwrap();
        assert_eq!(code(&health), tonic::Code::Ok, "probes are not API calls");

        // The abandoned work finishes: the places are free again.
        release.send_replace(true);
        crate::tests::eventually(|| layer.in_progress() == 0).await;
        let next = svc.call(request("/test.v1.Test/Slow")).await.unwrap();
        assert_eq!(code(&next), tonic::Code::Ok);
    }

    #[tokio::test]
    async fn a_call_past_its_deadline_is_answered_deadline_exceeded() {
        let layer = CallLimitLayer::new(PREFIX, 2, Duration::from_millis(50));
        let (release, released) = watch::channel(false);
        let mut svc = layer.layer(service(released));
        let response = svc.call(request("/test.v1.Test/Slow")).await.unwrap();
        assert_eq!(code(&response), tonic::Code::DeadlineExceeded);
        assert_eq!(layer.in_progress(), 1, "the work goes on");
        release.send_replace(true);
        crate::tests::eventually(|| layer.in_progress() == 0).await;
    }
}
