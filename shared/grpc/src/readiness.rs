//! Readiness over `grpc.health.v1.Health`, with one polling policy for every service.
//!
//! Two statuses are reported:
//! - `""` (the server as a whole): SERVING while the process runs. A liveness probe reads it,
//!   so an instance waiting for a dependency is taken out of rotation, not restarted.
//! - the named service (e.g. `orders.v1.OrdersService`): NOT_SERVING until a probe closure
//!   says the dependencies are ready, and again whenever it says they are lost.
//!
//! At shutdown both go NOT_SERVING and stay there.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::sync::Mutex;
use tonic_health::{
    ServingStatus,
    pb::health_server::HealthServer,
    server::{HealthReporter, HealthService},
};
use zte_runtime::Shutdown;

/// How often the probe runs while the service is not ready: a ready instance joins quickly.
pub const NOT_READY_POLL: Duration = Duration::from_millis(250);
/// How often the probe runs while the service is ready: a lost dependency is seen within this.
pub const READY_POLL: Duration = Duration::from_secs(2);

/// The health statuses of one gRPC service. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Readiness {
    reporter: HealthReporter,
    service: &'static str,
    /// True once stopping: the probe no longer changes anything. Held while a status is set,
    /// so a probe result cannot land after the shutdown's NOT_SERVING.
    stopping: Arc<Mutex<bool>>,
}

impl Readiness {
    /// `""` SERVING, `service` NOT_SERVING.
    pub async fn new(service: &'static str) -> Self {
        let reporter = HealthReporter::new();
        reporter
            .set_service_status(service, ServingStatus::NotServing)
            .await;
        Self {
            reporter,
            service,
            stopping: Arc::default(),
        }
    }

    /// The `grpc.health.v1.Health` service answering from these statuses.
    pub fn health_service(&self) -> HealthServer<HealthService> {
        HealthServer::new(HealthService::from_health_reporter(self.reporter.clone()))
    }

    /// Runs `probe` until `shutdown`: every [`NOT_READY_POLL`] while it answers `Err(why)`,
    /// every [`READY_POLL`] while it answers `Ok`, and sets the named status accordingly
    /// (logging each change with the reason).
    pub fn watch<P, F>(&self, shutdown: &Shutdown, mut probe: P)
    where
        P: FnMut() -> F + Send + 'static,
        F: Future<Output = Result<(), String>> + Send,
    {
        let this = self.clone();
        shutdown.spawn_task("readiness probe", async move {
            let mut ready = false;
            loop {
                let result = probe().await;
                if result.is_ok() != ready {
                    ready = result.is_ok();
                    match &result {
                        Ok(()) => tracing::info!(service = this.service, "ready: SERVING"),
                        Err(why) => {
                            tracing::warn!(service = this.service, %why, "not ready: NOT_SERVING")
                        }
                    }
                    this.set(ready).await;
                } else if let Err(why) = &result {
                    tracing::debug!(service = this.service, %why, "still not ready");
                }
                tokio::time::sleep(if ready { READY_POLL } else { NOT_READY_POLL }).await;
            }
        });
    }

    async fn set(&self, ready: bool) {
        let stopping = self.stopping.lock().await;
        if !*stopping {
            let status = if ready {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            self.reporter.set_service_status(self.service, status).await;
        }
    }

    /// Reports NOT_SERVING for the service and the server, for good.
    pub async fn stop(&self) {
        let mut stopping = self.stopping.lock().await;
        *stopping = true;
        for service in [self.service, ""] {
            self.reporter
                .set_service_status(service, ServingStatus::NotServing)
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use tonic_health::pb::{HealthCheckRequest, health_server::Health as _};

    use super::*;

    const SERVICE: &str = "test.v1.TestService";

    async fn status(readiness: &Readiness, service: &str) -> i32 {
        HealthService::from_health_reporter(readiness.reporter.clone())
            .check(tonic::Request::new(HealthCheckRequest {
                service: service.into(),
            }))
            .await
            .unwrap()
            .into_inner()
            .status
    }

    async fn wait_for(readiness: &Readiness, service: &str, wanted: ServingStatus) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while status(readiness, service).await != wanted as i32 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{service} never became {wanted:?}"));
    }

    #[tokio::test]
    async fn the_named_service_follows_the_probe_and_stop_takes_both_down_for_good() {
        let readiness = Readiness::new(SERVICE).await;
        assert_eq!(
            status(&readiness, SERVICE).await,
            ServingStatus::NotServing as i32
        );
        assert_eq!(status(&readiness, "").await, ServingStatus::Serving as i32);

        let dependency_up = Arc::new(AtomicBool::new(false));
        let shutdown = Shutdown::new();
        let probe_flag = dependency_up.clone();
        readiness.watch(&shutdown, move || {
            let up = probe_flag.load(Ordering::SeqCst);
            async move { if up { Ok(()) } else { Err("down".to_owned()) } }
        });
        dependency_up.store(true, Ordering::SeqCst);
        wait_for(&readiness, SERVICE, ServingStatus::Serving).await;

        readiness.stop().await;
        assert_eq!(
            status(&readiness, SERVICE).await,
            ServingStatus::NotServing as i32
        );
        assert_eq!(
            status(&readiness, "").await,
            ServingStatus::NotServing as i32
        );
        // The probe still says ready, but a stopped service stays down.
        readiness.set(true).await;
        assert_eq!(
            status(&readiness, SERVICE).await,
            ServingStatus::NotServing as i32
        );
        assert_eq!(shutdown.drain(Duration::from_secs(5)).await, Ok(()));
    }
}
