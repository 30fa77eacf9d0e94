//! Deadline waits instead of fixed sleeps: any condition, a gRPC health status, an HTTP health
//! endpoint.

use std::{
    future::Future,
    time::{Duration, Instant},
};

use anyhow::bail;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::clients::{Dial, channel};

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

/// The status the gRPC health service `dial` names reports for `service` (`""`: the server
/// as a whole), or `None` if it cannot be asked.
pub async fn grpc_health(dial: impl Into<Dial>, service: &str) -> Option<ServingStatus> {
    let channel = channel(dial).await.ok()?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .ok()?;
    ServingStatus::try_from(response.into_inner().status).ok()
}

/// The status the gRPC health service `dial` names reports for `service`; it must answer.
pub async fn serving_status(dial: impl Into<Dial>, service: &str) -> ServingStatus {
    let dial = dial.into();
    let addr = dial.addr;
    grpc_health(dial, service)
        .await
        .unwrap_or_else(|| panic!("no health answer for {service:?} at {addr}"))
}

/// Waits until the gRPC health service `dial` names reports `status` for `service`.
pub async fn wait_grpc_health(
    dial: impl Into<Dial>,
    service: &str,
    status: ServingStatus,
    timeout: Duration,
) -> anyhow::Result<()> {
    let dial: Dial = dial.into();
    wait_until(
        &format!("{service} at {} to be {status:?}", dial.addr),
        timeout,
        || {
            let dial = dial.clone();
            async move { (grpc_health(dial, service).await == Some(status)).then_some(()) }
        },
    )
    .await
}

/// Waits until `url` answers 200 (`https://` URLs: the PKI's servers, [`crate::pki::http_client_for`]).
pub async fn wait_http_ok(url: &str, timeout: Duration) -> anyhow::Result<()> {
    let http = crate::pki::http_client_for(url);
    wait_until(&format!("{url} to answer 200"), timeout, || {
        let request = http.get(url).timeout(Duration::from_secs(2));
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
