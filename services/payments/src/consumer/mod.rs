//! The OrderCreated consumer: at-least-once, one outcome per record, per partition.
//!
//! Each record read ends in exactly one of: a payment recorded, a duplicate ignored, a copy
//! on the dead-letter topic, or a copy set aside on the retry topic (a check that cannot
//! finish now: JWKS not fetched since the record arrived or unreachable for its `kid`, the
//! database failing). Only then is its offset *stored*; librdkafka auto-commits stored
//! offsets, and the consumer also commits synchronously on partition revocation and at
//! shutdown. A crash only causes redelivery, which the payment store absorbs as a duplicate.
//!
//! - **Per partition.** One dispatcher polls the consumer (subscribed to the event topic and
//!   the retry topic) and hands each record to its partition's worker ([`worker`]); a
//!   partition whose worker falls behind is paused at the broker, so one partition's trouble
//!   (a slow copy, a retry record not due yet) never stops another's.
//! - **Nothing sleeps on a record.** Checks never wait for the JWKS
//!   ([`zte_event::EventVerifier::verify_arrived`]); a record that cannot be decided now is
//!   set aside with a not-before time and an attempt count ([`retry`]), and its partition
//!   moves on. The retry topic's workers check it again, by the same rules, no sooner than
//!   that time; after `--retry-max-attempts` checks it is dead-lettered with its last reason.
//! - **Copies** ([`copies`]): reserved header names dropped, oversized records as a digest,
//!   produce errors that no retry fixes turned into "not ready" instead of a hot loop.
//! - Nothing is consumed until the output topics are usable ([`crate::topics`]) and the JWKS
//!   is loaded: a record read earlier could only be set aside.

pub(crate) mod copies;
pub(crate) mod retry;
pub(crate) mod worker;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime},
};

use rdkafka::{
    ClientContext, Message, Offset, TopicPartitionList,
    consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer},
    error::{KafkaError, RDKafkaErrorCode},
};
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::topics::OutputTopics;
use worker::{Incoming, Pipeline, Queued};

/// A partition is paused at the broker once its worker has this many records queued, or
/// [`PAUSE_BYTES`], and resumed below half of both.
const PAUSE_RECORDS: usize = 4 * worker::MAX_BATCH;
const PAUSE_BYTES: usize = 32 * 1024 * 1024;
/// How often paused partitions are looked at for resuming.
const FLOW_TICK: Duration = Duration::from_millis(50);
/// How often the dispatcher looks whether it may start consuming.
const START_POLL: Duration = Duration::from_millis(100);

/// A partition: topic and partition number.
type PartitionKey = (String, i32);

/// Consumer context: logs rebalances, stops the workers of revoked partitions and commits
/// stored offsets before they go, and tracks how many partitions are assigned (for health).
#[derive(Debug, Clone, Default)]
pub(crate) struct PaymentsContext {
    assigned: Arc<AtomicUsize>,
    /// The stop signal of each partition's current worker.
    workers: Arc<Mutex<HashMap<PartitionKey, CancellationToken>>>,
}

impl PaymentsContext {
    /// Shared count of assigned partitions.
    pub(crate) fn assigned(&self) -> Arc<AtomicUsize> {
        self.assigned.clone()
    }

    fn workers(&self) -> std::sync::MutexGuard<'_, HashMap<PartitionKey, CancellationToken>> {
        self.workers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ClientContext for PaymentsContext {}

impl ConsumerContext for PaymentsContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(partitions) => {
                tracing::info!(partitions = %describe(partitions), "partitions revoked");
                // Workers of revoked partitions stop after their current batch; records they
                // have not handled go to the next owner.
                let mut workers = self.workers();
                for element in partitions.elements() {
                    let key = (element.topic().to_owned(), element.partition());
                    if let Some(stop) = workers.remove(&key) {
                        stop.cancel();
                    }
                }
                drop(workers);
                // Rebalance callbacks run inside poll: every stored offset belongs to a fully
                // handled batch, so committing now loses nothing.
                commit_stored(consumer, "revocation");
            }
            Rebalance::Assign(partitions) => {
                tracing::info!(partitions = %describe(partitions), "partitions assigned");
            }
            Rebalance::Error(error) => tracing::warn!(%error, "rebalance error"),
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, _rebalance: &Rebalance<'_>) {
        let count = consumer.assignment().map(|a| a.count()).unwrap_or(0);
        self.assigned.store(count, Ordering::Relaxed);
    }

    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        offsets: &TopicPartitionList,
    ) {
        match result {
            Ok(()) => tracing::debug!(offsets = %describe(offsets), "offsets committed"),
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(error) => tracing::warn!(%error, "offset commit failed"),
        }
    }
}

fn commit_stored<C: Consumer<PaymentsContext>>(consumer: &C, when: &'static str) {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) => tracing::debug!(when, "stored offsets committed"),
        // Nothing stored since the last commit.
        Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(error) => tracing::warn!(when, %error, "committing stored offsets failed"),
    }
}

fn describe(partitions: &TopicPartitionList) -> String {
    partitions
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => format!("{}[{}]@{o}", e.topic(), e.partition()),
            _ => format!("{}[{}]", e.topic(), e.partition()),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Why the consumer stopped before it was told to.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// Subscribing failed.
    #[error("subscribing to {topics:?}: {source}")]
    Subscribe {
        /// The topics.
        topics: Vec<String>,
        /// The cause.
        source: KafkaError,
    },
    /// A partition worker ended on its own (it panicked).
    #[error("the worker of {topic}[{partition}] died")]
    WorkerDied {
        /// Its topic.
        topic: String,
        /// Its partition.
        partition: i32,
    },
}

/// One partition's worker, as the dispatcher sees it.
#[derive(Debug)]
struct WorkerHandle {
    records: mpsc::UnboundedSender<Incoming>,
    queued: Arc<Queued>,
    stop: CancellationToken,
    paused: bool,
    done: JoinHandle<()>,
}

/// The dispatcher and everything the workers share.
pub(crate) struct EventConsumer {
    pub(crate) consumer: Arc<StreamConsumer<PaymentsContext>>,
    pub(crate) context: PaymentsContext,
    pub(crate) pipeline: Arc<Pipeline>,
    pub(crate) topics: Vec<String>,
    pub(crate) output: Arc<OutputTopics>,
}

impl std::fmt::Debug for EventConsumer {
    // The rdkafka consumer has no Debug; name the parts that identify this consumer.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventConsumer")
            .field("topics", &self.topics)
            .field("pipeline", &self.pipeline)
            .finish_non_exhaustive()
    }
}

impl EventConsumer {
    /// Waits until the output topics are usable and the JWKS is loaded, then consumes until
    /// `shutdown` is cancelled; then lets every worker finish its batch, commits stored
    /// offsets and leaves the group.
    pub(crate) async fn run(self, shutdown: CancellationToken) -> Result<(), ConsumerError> {
        if !self.wait_until_startable(&shutdown).await {
            return Ok(());
        }
        let topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        self.consumer
            .subscribe(&topics)
            .map_err(|source| ConsumerError::Subscribe {
                topics: self.topics.clone(),
                source,
            })?;
        tracing::info!(topics = ?self.topics, "consuming");
        let mut workers: HashMap<PartitionKey, WorkerHandle> = HashMap::new();
        let mut flow = tokio::time::interval(FLOW_TICK);
        let result = loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break Ok(()),
                _ = flow.tick() => self.resume_drained(&mut workers),
                received = self.consumer.recv() => match received {
                    Ok(message) => {
                        let incoming = Incoming {
                            message: message.detach(),
                            received: SystemTime::now(),
                        };
                        if let Err(error) = self.dispatch(&mut workers, incoming) {
                            break Err(error);
                        }
                    }
                    Err(error) => tracing::warn!(%error, "Kafka consumer error"),
                },
            }
        };
        for worker in workers.values() {
            worker.stop.cancel();
        }
        for (_, worker) in workers.drain() {
            let _ = worker.done.await;
        }
        commit_stored(&*self.consumer, "shutdown");
        self.consumer.unsubscribe();
        self.pipeline.stats.log_summary("shutdown");
        tracing::info!("consumer stopped");
        result
    }

    async fn wait_until_startable(&self, shutdown: &CancellationToken) -> bool {
        let keys = self.pipeline.verifier.validator().keys().clone();
        let mut logged = false;
        loop {
            match (self.output.status(), keys.is_loaded()) {
                (Ok(()), true) => return true,
                (status, loaded) if !logged => {
                    tracing::info!(output_topics = ?status, jwks_loaded = loaded, "waiting before consuming");
                    logged = true;
                }
                _ => {}
            }
            tokio::select! {
                () = shutdown.cancelled() => return false,
                () = tokio::time::sleep(START_POLL) => {}
            }
        }
    }

    /// Hands `incoming` to its partition's worker (starting one if needed), pausing the
    /// partition when the worker falls behind.
    fn dispatch(
        &self,
        workers: &mut HashMap<PartitionKey, WorkerHandle>,
        incoming: Incoming,
    ) -> Result<(), ConsumerError> {
        let key = (
            incoming.message.topic().to_owned(),
            incoming.message.partition(),
        );
        let current = workers
            .get(&key)
            .is_some_and(|w| !w.stop.is_cancelled() && !w.done.is_finished());
        if !current {
            let previous = workers.remove(&key);
            if let Some(old) = &previous
                && old.done.is_finished()
                && !old.stop.is_cancelled()
            {
                return Err(ConsumerError::WorkerDied {
                    topic: key.0,
                    partition: key.1,
                });
            }
            workers.insert(key.clone(), self.start_worker(&key, previous));
        }
        let Some(worker) = workers.get_mut(&key) else {
            return Ok(());
        };
        let size = incoming.size();
        if worker.records.send(incoming).is_err() {
            return Err(ConsumerError::WorkerDied {
                topic: key.0,
                partition: key.1,
            });
        }
        let records = worker.queued.records.fetch_add(1, Ordering::Relaxed) + 1;
        let bytes = worker.queued.bytes.fetch_add(size, Ordering::Relaxed) + size;
        if !worker.paused && (records >= PAUSE_RECORDS || bytes >= PAUSE_BYTES) {
            match self.consumer.pause(&partition_list(&key)) {
                Ok(()) => {
                    worker.paused = true;
                    tracing::debug!(topic = %key.0, partition = key.1, records, bytes, "partition paused: its worker is behind");
                }
                Err(error) => {
                    tracing::warn!(%error, topic = %key.0, partition = key.1, "pausing a partition failed")
                }
            }
        }
        Ok(())
    }

    fn start_worker(&self, key: &PartitionKey, previous: Option<WorkerHandle>) -> WorkerHandle {
        let (records, receiver) = mpsc::unbounded_channel();
        let queued = Arc::new(Queued::default());
        let stop = CancellationToken::new();
        self.context.workers().insert(key.clone(), stop.clone());
        if let Some(previous) = &previous {
            previous.stop.cancel();
        }
        let done = tokio::spawn(worker::run(
            self.pipeline.clone(),
            key.0.clone(),
            key.1,
            receiver,
            queued.clone(),
            stop.clone(),
            previous.map(|p| p.done),
        ));
        tracing::debug!(topic = %key.0, partition = key.1, "partition worker started");
        WorkerHandle {
            records,
            queued,
            stop,
            paused: false,
            done,
        }
    }

    /// Resumes paused partitions whose workers have caught up.
    fn resume_drained(&self, workers: &mut HashMap<PartitionKey, WorkerHandle>) {
        for (key, worker) in workers.iter_mut().filter(|(_, w)| w.paused) {
            let records = worker.queued.records.load(Ordering::Relaxed);
            let bytes = worker.queued.bytes.load(Ordering::Relaxed);
            if records < PAUSE_RECORDS / 2 && bytes < PAUSE_BYTES / 2 {
                if let Err(error) = self.consumer.resume(&partition_list(key)) {
                    // Revoked meanwhile: the next assignment starts unpaused.
                    tracing::debug!(%error, topic = %key.0, partition = key.1, "resuming a partition failed");
                }
                worker.paused = false;
            }
        }
    }
}

fn partition_list((topic, partition): &PartitionKey) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    list.add_partition(topic, *partition);
    list
}
