//! Graceful shutdown as a value: one stop signal (a [`CancellationToken`]) and one "wait for
//! every task, with a deadline" (a [`TaskTracker`]), shared by everything a service spawns.
//!
//! A service spawns its long-running parts through its [`Shutdown`]:
//! - [`Shutdown::spawn_service`] for what must run until shutdown (a server, a consumer). It
//!   watches [`Shutdown::token`] itself and finishes its work when told to stop. Ending before
//!   shutdown, returning an error or panicking is a failure: it triggers the shutdown, and
//!   [`Shutdown::drain`] reports it, so the process exits non-zero instead of idling on.
//! - [`Shutdown::spawn_task`] for helpers (a readiness probe, a reloader): dropped at shutdown;
//!   ending early is fine, a panic is a failure.
//!
//! The service then waits for a signal ([`shutdown_signal`]: SIGTERM or Ctrl-C) or a failed
//! task, and drains ([`Shutdown::drain_after`]): every task is told to stop and given until
//! the deadline; what still runs then is aborted.

use std::{
    convert::Infallible,
    fmt,
    future::Future,
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use futures::FutureExt as _;
use tokio::task::AbortHandle;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// A task that had to run until shutdown ended, failed or panicked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{task} {reason}")]
pub struct TaskFailed {
    /// The name the task was spawned with.
    pub task: &'static str,
    /// What happened (`ended before shutdown`, `failed: ...`, `panicked: ...`).
    pub reason: String,
}

/// The stop signal and the tasks that must stop. Cheap to clone; clones share everything.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tracker: TaskTracker,
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    failure: Option<TaskFailed>,
    tasks: Vec<AbortHandle>,
}

impl Shutdown {
    /// A shutdown that has not been triggered, with no tasks.
    pub fn new() -> Self {
        Self::default()
    }

    /// The stop signal, for a task that finishes its work itself when told to stop.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Tells every task to stop.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// True once the shutdown was triggered.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once the shutdown was triggered (by [`Shutdown::trigger`] or a failed task).
    pub async fn triggered(&self) {
        self.token.cancelled().await;
    }

    /// Spawns `task`, which must run until the shutdown is triggered and then finish (it
    /// watches [`Shutdown::token`]). Ending earlier, an `Err` or a panic is recorded as a
    /// failure and triggers the shutdown.
    pub fn spawn_service<F, E>(&self, name: &'static str, task: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display,
    {
        self.spawn(name, true, task);
    }

    /// Spawns a helper `task` that is dropped when the shutdown is triggered. Ending earlier
    /// is fine; a panic is recorded as a failure and triggers the shutdown.
    pub fn spawn_task<F>(&self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let token = self.token.clone();
        self.spawn(name, false, async move {
            tokio::select! {
                () = task => {}
                () = token.cancelled() => {}
            }
            Ok::<(), Infallible>(())
        });
    }

    fn spawn<F, E>(&self, name: &'static str, runs_until_shutdown: bool, task: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display,
    {
        let this = self.clone();
        let handle = self.tracker.spawn(async move {
            let reason = match AssertUnwindSafe(task).catch_unwind().await {
                Ok(Ok(())) if runs_until_shutdown && !this.is_triggered() => {
                    Some("ended before shutdown".to_owned())
                }
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(format!("failed: {error}")),
                Err(panic) => Some(format!("panicked: {}", panic_message(&*panic))),
            };
            match reason {
                Some(reason) => this.fail(TaskFailed { task: name, reason }),
                None => tracing::debug!(task = name, "task finished"),
            }
        });
        self.state().tasks.push(handle.abort_handle());
    }

    fn fail(&self, failure: TaskFailed) {
        tracing::error!(task = failure.task, reason = %failure.reason, "task failed; shutting down");
        self.state().failure.get_or_insert(failure);
        self.trigger();
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave `State` half-updated (each update is
        // one push or one assignment), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for `signal` or a failed task, then [drains](Shutdown::drain) with `deadline`.
    pub async fn drain_after<F>(&self, signal: F, deadline: Duration) -> Result<(), TaskFailed>
    where
        F: Future<Output = ()>,
    {
        tokio::select! {
            () = signal => tracing::info!("shutting down"),
            () = self.triggered() => {}
        }
        self.drain(deadline).await
    }

    /// Triggers the shutdown (if nothing did yet) and waits up to `deadline` for every task
    /// to finish; tasks still running then are aborted. `Err` names the first task that
    /// failed, so the process can exit non-zero.
    pub async fn drain(&self, deadline: Duration) -> Result<(), TaskFailed> {
        self.trigger();
        self.tracker.close();
        if tokio::time::timeout(deadline, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                ?deadline,
                "tasks still running at the drain deadline; aborting them"
            );
            for task in std::mem::take(&mut self.state().tasks) {
                task.abort();
            }
        }
        match self.state().failure.clone() {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Resolves when the process receives SIGTERM or Ctrl-C (SIGINT).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    const DEADLINE: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn tasks_that_stop_when_told_drain_cleanly() {
        let shutdown = Shutdown::new();
        let token = shutdown.token();
        shutdown.spawn_service("server", async move {
            token.cancelled().await;
            Ok::<(), String>(())
        });
        shutdown.spawn_task("probe", std::future::pending());
        shutdown.spawn_task("loader", async {});
        assert!(!shutdown.is_triggered());
        assert_eq!(shutdown.drain(DEADLINE).await, Ok(()));
        assert!(shutdown.is_triggered());
    }

    #[tokio::test]
    async fn a_service_task_that_ends_early_triggers_shutdown_and_fails_the_drain() {
        let shutdown = Shutdown::new();
        shutdown.spawn_service("consumer", async { Ok::<(), String>(()) });
        tokio::time::timeout(DEADLINE, shutdown.triggered())
            .await
            .expect("the ended task triggers the shutdown");
        let failure = shutdown.drain(DEADLINE).await.unwrap_err();
        assert_eq!(failure.task, "consumer");
        assert_eq!(failure.to_string(), "consumer ended before shutdown");
    }

    #[tokio::test]
    async fn errors_and_panics_fail_the_drain_with_their_reason() {
        let shutdown = Shutdown::new();
        shutdown.spawn_service("server", async { Err::<(), _>("address in use") });
        shutdown.triggered().await;
        let failure = shutdown.drain(DEADLINE).await.unwrap_err();
        assert_eq!(failure.reason, "failed: address in use");

        let shutdown = Shutdown::new();
        shutdown.spawn_task("reloader", async { panic!("key ring corrupt") });
        shutdown.triggered().await;
        let failure = shutdown.drain(DEADLINE).await.unwrap_err();
        assert_eq!(
            (failure.task, failure.reason.as_str()),
            ("reloader", "panicked: key ring corrupt")
        );
    }

    #[tokio::test]
    async fn a_task_ignoring_the_signal_is_aborted_at_the_deadline() {
        struct SetOnDrop(Arc<AtomicBool>);
        impl Drop for SetOnDrop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicBool::new(false));
        let guard = SetOnDrop(dropped.clone());
        let shutdown = Shutdown::new();
        shutdown.spawn_service("stuck", async move {
            let _guard = guard;
            std::future::pending::<Result<(), String>>().await
        });
        let started = tokio::time::Instant::now();
        assert_eq!(shutdown.drain(Duration::from_millis(50)).await, Ok(()));
        assert!(started.elapsed() < DEADLINE);
        tokio::time::timeout(DEADLINE, async {
            while !dropped.load(Ordering::SeqCst) {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the aborted task is dropped");
    }
}
