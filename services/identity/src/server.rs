//! Serving the HTTP routes on the shared listener (`zte_tls::Listener`: TLS handshake within
//! `--handshake-timeout`, at most `--max-connections`, a connection idle for
//! `--idle-timeout` closed) with hyper, HTTP/1.1 and HTTP/2:
//!
//! - HTTP/1: each request's headers must arrive within `--handshake-timeout` (hyper's
//!   header-read timeout; it also bounds how long a kept-alive connection waits for the next
//!   request), so a client dribbling header bytes (slowloris) is cut off on time;
//! - every request, body included, is answered within `--request-timeout` (408 after that:
//!   the router's timeout layer, [`crate::http::router`]);
//! - at shutdown: no new connections, in-flight requests finish (within the drain deadline of
//!   the service's `Shutdown`).

use std::{future::Future, pin::pin, time::Duration};

use axum::{Extension, Router, extract::ConnectInfo};
use futures::StreamExt as _;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use zte_tls::Incoming;

/// Serves `router` on the connections of `incoming` until `stop` resolves, then lets the
/// open requests finish.
pub(crate) async fn serve(
    mut incoming: Incoming,
    router: Router,
    header_read_timeout: Duration,
    stop: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut stop = pin!(stop);
    loop {
        let connection = tokio::select! {
            next = incoming.next() => match next {
                Some(Ok(connection)) => connection,
                Some(Err(error)) => {
                    tracing::debug!(%error, "accept failed");
                    continue;
                }
                None => break,
            },
            () = &mut stop => break,
        };
        let remote = connection.remote_addr();
        // The peer address, for the password grant's per-address throttle.
        let service =
            TowerToHyperService::new(router.clone().layer(Extension(ConnectInfo(remote))));
        let served = builder
            .serve_connection(TokioIo::new(connection), service)
            .into_owned();
        let served = graceful.watch(served);
        tokio::spawn(async move {
            if let Err(error) = served.await {
                // Timeouts, resets and TLS alerts end up here: the client's business.
                tracing::debug!(%remote, %error, "connection closed with an error");
            }
        });
    }
    // Stop accepting (closes the listening socket), then let open requests finish.
    drop(incoming);
    graceful.shutdown().await;
}
