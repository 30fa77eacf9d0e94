//! The topics Payments writes (the DLQ and the retry topic) and whether they are usable.
//!
//! At start nothing is consumed until both exist and this client may use them: the broker's
//! metadata for each must list partitions and no error (a missing topic is
//! `UNKNOWN_TOPIC_OR_PART`; a principal granted nothing on it gets
//! `TOPIC_AUTHORIZATION_FAILED`). Until then, and whenever a produce to them fails for a
//! reason no retry can fix (topic deleted, ACL removed), the service is not ready
//! ([`OutputTopics::status`]) and copies wait ([`OutputTopics::wait_usable`]) while a
//! checker looks again, backing off from 1 s to 30 s, so a broken deployment is never
//! hammered and a fixed one is picked up on its own.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use rdkafka::{
    ClientContext, consumer::Consumer, consumer::ConsumerContext, consumer::StreamConsumer,
};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// Wait before the first re-check after a failure; doubled each time, up to [`CHECK_MAX`].
const CHECK_FIRST: Duration = Duration::from_secs(1);
const CHECK_MAX: Duration = Duration::from_secs(30);
/// How long one metadata request may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// The output topics' usability, shared by the checker, the copy producer and readiness.
#[derive(Debug)]
pub struct OutputTopics {
    names: Vec<String>,
    usable: watch::Sender<Result<(), String>>,
    recheck: Notify,
    /// Failures since the last successful produce: paces re-checks of a topic whose
    /// metadata looks fine but that refuses writes.
    strikes: Mutex<u32>,
}

impl OutputTopics {
    /// Topics `names`, not checked yet.
    pub(crate) fn new(names: Vec<String>) -> Arc<Self> {
        let (usable, _) = watch::channel(Err("output topics not checked yet".to_owned()));
        Arc::new(Self {
            names,
            usable,
            recheck: Notify::new(),
            strikes: Mutex::new(0),
        })
    }

    /// `Ok` while both topics are usable; otherwise why not.
    pub fn status(&self) -> Result<(), String> {
        self.usable.borrow().clone()
    }

    /// A produce failed in a way no retry fixes: not usable until a check says otherwise.
    pub(crate) fn broken(&self, why: String) {
        *self.strikes.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.set(Err(why));
        self.recheck.notify_one();
    }

    fn set(&self, usable: Result<(), String>) {
        self.usable.send_modify(|current| *current = usable);
    }

    /// A copy was acknowledged.
    pub(crate) fn delivered(&self) {
        *self.strikes.lock().unwrap_or_else(|p| p.into_inner()) = 0;
    }

    /// Waits until the topics are usable; false if `cancel` fired first.
    pub(crate) async fn wait_usable(&self, cancel: &CancellationToken) -> bool {
        let mut usable = self.usable.subscribe();
        tokio::select! {
            () = cancel.cancelled() => false,
            ready = usable.wait_for(Result::is_ok) => ready.is_ok(),
        }
    }

    /// Checks the topics now and whenever they are found broken, until dropped. Uses the
    /// metadata of `client` (a consumer: it never auto-creates topics).
    pub(crate) async fn run_checks<C>(self: Arc<Self>, client: Arc<StreamConsumer<C>>)
    where
        C: ConsumerContext + ClientContext + 'static,
    {
        loop {
            let client = client.clone();
            let names = self.names.clone();
            let checked = tokio::task::spawn_blocking(move || check(&*client, &names))
                .await
                .unwrap_or_else(|e| Err(format!("checking the output topics: {e}")));
            let strikes = *self.strikes.lock().unwrap_or_else(|p| p.into_inner());
            match checked {
                Ok(()) => {
                    if self.status().is_err() {
                        tracing::info!(topics = ?self.names, "output topics usable");
                    }
                    self.set(Ok(()));
                    self.recheck.notified().await;
                    // Found broken by a produce: look again after a pause that grows with
                    // each failure in a row, so a topic that passes the check but refuses
                    // writes is not hammered.
                    tokio::time::sleep(pause(strikes.saturating_add(1))).await;
                }
                Err(why) => {
                    tracing::warn!(%why, "output topics not usable; the consumer waits");
                    self.set(Err(why));
                    tokio::select! {
                        () = self.recheck.notified() => {}
                        () = tokio::time::sleep(pause(strikes.max(1))) => {}
                    }
                }
            }
        }
    }
}

fn pause(strikes: u32) -> Duration {
    CHECK_FIRST
        .saturating_mul(1 << strikes.saturating_sub(1).min(5))
        .min(CHECK_MAX)
}

/// Each topic exists with partitions and this client may see it.
fn check<C: ConsumerContext>(client: &StreamConsumer<C>, names: &[String]) -> Result<(), String> {
    for name in names {
        let metadata = client
            .client()
            .fetch_metadata(Some(name), METADATA_TIMEOUT)
            .map_err(|e| format!("topic {name}: metadata unavailable: {e}"))?;
        let topic = metadata
            .topics()
            .iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| format!("topic {name}: not in the broker's metadata"))?;
        if let Some(error) = topic.error() {
            let code = rdkafka::types::RDKafkaErrorCode::from(error);
            return Err(format!("topic {name}: {code}"));
        }
        if topic.partitions().is_empty() {
            return Err(format!("topic {name}: no partitions"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_back_off_to_their_cap() {
        let pauses: Vec<u64> = (1..=8).map(|s| pause(s).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[tokio::test]
    async fn broken_until_checked_and_waiters_are_released() {
        let topics = OutputTopics::new(vec!["a".into()]);
        assert!(topics.status().is_err(), "not usable before a check");
        let cancel = CancellationToken::new();
        let waiter = {
            let (topics, cancel) = (topics.clone(), cancel.clone());
            tokio::spawn(async move { topics.wait_usable(&cancel).await })
        };
        topics.set(Ok(()));
        assert!(waiter.await.unwrap());
        topics.broken("gone".into());
        assert_eq!(topics.status(), Err("gone".to_owned()));
        cancel.cancel();
        assert!(!topics.wait_usable(&cancel).await);
    }
}
