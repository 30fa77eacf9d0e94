//! A service running in-process on a task with its stop signal: the one start/stop/abort the
//! `TestApp` values share.

use std::{future::Future, pin::Pin, time::Duration};

use tokio::{sync::oneshot, task::JoinHandle};

/// The shutdown future handed to a service's `run_until`.
pub(crate) type StopSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A service's `run_until` on a task. Aborted when dropped (a failing test leaves nothing
/// running).
#[derive(Debug)]
pub(crate) struct Running<E> {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), E>>>,
}

impl<E: Send + 'static> Running<E> {
    /// Spawns `run_until(stop signal)`.
    pub(crate) fn spawn<F>(run_until: impl FnOnce(StopSignal) -> F) -> Self
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run_until(Box::pin(async {
            let _ = stopped.await;
        })));
        Self {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Triggers a graceful shutdown and returns the service's result, which must come within
    /// `deadline`.
    pub(crate) async fn stop(mut self, deadline: Duration) -> Result<(), E> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().expect("a service runs until stopped");
        tokio::time::timeout(deadline, task)
            .await
            .expect("shutdown within the deadline")
            .expect("the service task")
    }
}

impl<E> Drop for Running<E> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
