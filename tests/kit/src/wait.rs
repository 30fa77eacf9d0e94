//! Deadline waits instead of fixed sleeps: any condition, a gRPC health status, an HTTP health
//! endpoint.

use std::{
    future::Future,
    net::SocketAddr,
    time::{Duration, Instant},
};

use anyhow::bail;
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// Polls `check` until it returns `Some`, failing with `what` after `timeout`.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(20);
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(250));
    }
}

/// The status the gRPC health service at `addr` reports for `service` (`""`: the server as a
/// whole), or `None` if it cannot be asked.
pub async fn grpc_health(addr: SocketAddr, service: &str) -> Option<ServingStatus> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .ok()?
        .connect()
        .await
        .ok()?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .ok()?;
    ServingStatus::try_from(response.into_inner().status).ok()
}

/// The status the gRPC health service at `addr` reports for `service`; it must answer.
pub async fn serving_status(addr: SocketAddr, service: &str) -> ServingStatus {
    grpc_health(addr, service)
        .await
        .unwrap_or_else(|| panic!("no health answer for {service:?} at {addr}"))
}

/// Waits until the gRPC health service at `addr` reports `status` for `service`.
pub async fn wait_grpc_health(
    addr: SocketAddr,
    service: &str,
    status: ServingStatus,
    timeout: Duration,
) -> anyhow::Result<()> {
    wait_until(
        &format!("{service} at {addr} to be {status:?}"),
        timeout,
        || async move { (grpc_health(addr, service).await == Some(status)).then_some(()) },
    )
    .await
}

/// Waits until `url` answers 200.
pub async fn wait_http_ok(url: &str, timeout: Duration) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    wait_until(&format!("{url} to answer 200"), timeout, || {
        let request = http.get(url);
        async move {
            request
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(|_| ())
        }
    })
    .await
}
