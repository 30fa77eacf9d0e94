//! One partition's worker: takes the records the dispatcher hands it, in offset order, as
//! batches of whatever has arrived, and handles each batch completely before storing its
//! offsets:
//!
//! 1. every record is checked, in parallel on the blocking pool (size with headers first,
//!    then [`EventVerifier::verify_arrived`], which never waits for the JWKS);
//! 2. the valid ones are recorded with ONE [`PaymentStore::record_batch`] transaction
//!    (outcomes in offset order, so the first record of an order is the one paid);
//! 3. the others are copied, concurrently, to the DLQ (permanent reasons, oversized records
//!    as a digest) or to the retry topic (a check that cannot finish now), each copy
//!    acknowledged by the broker;
//! 4. only then is the batch's last offset stored for commit.
//!
//! A worker of the retry topic does the same, first waiting for each record's not-before
//! time; it is the only one that ever waits, and only for its own partition.

use std::{
    collections::VecDeque,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime},
};

use rdkafka::{
    Message as _,
    consumer::{Consumer as _, StreamConsumer},
    message::OwnedMessage,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use zte_event::{EventVerifier, Rejection, VerifiedEvent};

use super::{
    PaymentsContext,
    copies::{CopyProducer, Delivered, Outgoing, Purpose, record_size},
    retry::{Origin, RetryPolicy},
};
use crate::{
    stats::ConsumerStats,
    store::{PaymentRecord, PaymentStore, RecordOutcome, StoreError},
};

/// Most records handled as one batch.
pub(crate) const MAX_BATCH: usize = 500;
/// Most bytes handled as one batch (records can be up to the broker's limit each).
const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;
/// A batch smaller than this is checked inline: spawning costs more than it saves.
const PARALLEL_FROM: usize = 8;
/// Tries of one batch's transaction before its payments are set aside (a blip, not an
/// outage), and the pause before the second and third.
const STORE_TRIES: u32 = 3;
const STORE_PAUSE: Duration = Duration::from_millis(200);
/// Reason name of a payment the database could not record now.
const STORAGE_UNAVAILABLE: &str = "storage_unavailable";
/// Reason name of a payment the database refuses for good.
const STORAGE_REJECTED: &str = "storage_rejected";

/// A record handed to a worker, with when the dispatcher received it.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) message: OwnedMessage,
    pub(crate) received: SystemTime,
}

impl Incoming {
    /// Bytes this record holds in memory (for the dispatcher's flow control).
    pub(crate) fn size(&self) -> usize {
        record_size(&self.message)
    }
}

/// What a worker needs, shared by all of them.
pub(crate) struct Pipeline {
    pub(crate) consumer: Arc<StreamConsumer<PaymentsContext>>,
    pub(crate) verifier: EventVerifier,
    pub(crate) store: PaymentStore,
    pub(crate) copies: CopyProducer,
    pub(crate) stats: Arc<ConsumerStats>,
    pub(crate) policy: RetryPolicy,
    pub(crate) max_record_bytes: usize,
    pub(crate) retry_topic: String,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("copies", &self.copies)
            .field("policy", &self.policy)
            .field("max_record_bytes", &self.max_record_bytes)
            .finish_non_exhaustive()
    }
}

/// The queue between the dispatcher and one worker: records and the bytes they hold.
#[derive(Debug, Default)]
pub(crate) struct Queued {
    pub(crate) records: AtomicUsize,
    pub(crate) bytes: AtomicUsize,
}

impl Queued {
    fn taken(&self, incoming: &Incoming) {
        self.records.fetch_sub(1, Ordering::Relaxed);
        self.bytes.fetch_sub(incoming.size(), Ordering::Relaxed);
    }
}

/// A record in a worker's hands.
struct Record {
    message: OwnedMessage,
    origin: Origin,
}

/// What the checks decided for one record.
enum Decision {
    Pay(Box<VerifiedEvent>),
    DeadLetter {
        reason: &'static str,
        detail: String,
        digest: bool,
    },
    SetAside {
        reason: &'static str,
        detail: String,
        refresh_due: Option<Duration>,
    },
}

impl Decision {
    fn rejected(rejection: &Rejection) -> Self {
        if rejection.is_transient() {
            Self::SetAside {
                reason: rejection.reason(),
                detail: rejection.to_string(),
                refresh_due: rejection.retry_after(),
            }
        } else {
            Self::DeadLetter {
                reason: rejection.reason(),
                detail: rejection.to_string(),
                digest: false,
            }
        }
    }
}

/// Runs the worker of `topic`/`partition` until `cancel` fires or the dispatcher hangs up,
/// after `previous` (the worker this one replaces, e.g. across a rebalance) has finished.
pub(crate) async fn run(
    pipeline: Arc<Pipeline>,
    topic: String,
    partition: i32,
    mut records: mpsc::UnboundedReceiver<Incoming>,
    queued: Arc<Queued>,
    cancel: CancellationToken,
    previous: Option<tokio::task::JoinHandle<()>>,
) {
    if let Some(previous) = previous {
        let _ = previous.await;
    }
    let is_retry = topic == pipeline.retry_topic;
    let mut pending: VecDeque<Record> = VecDeque::new();
    loop {
        if pending.is_empty() {
            let incoming = tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                incoming = records.recv() => match incoming {
                    Some(incoming) => incoming,
                    None => break,
                },
            };
            queued.taken(&incoming);
            pending.push_back(Record::new(incoming, is_retry, &pipeline.policy));
        }
        let mut bytes: usize = pending.iter().map(|r| record_size(&r.message)).sum();
        while pending.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            let Ok(incoming) = records.try_recv() else {
                break;
            };
            queued.taken(&incoming);
            bytes += incoming.size();
            pending.push_back(Record::new(incoming, is_retry, &pipeline.policy));
        }
        // Records of the retry topic wait for their time (the event topic's are due at once).
        let now = SystemTime::now();
        let due = pending
            .iter()
            .take_while(|r| r.origin.not_before <= now)
            .count();
        if due == 0 {
            let wait = pending.front().map_or(Duration::ZERO, |r| {
                r.origin.not_before.duration_since(now).unwrap_or_default()
            });
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
            continue;
        }
        let batch: Vec<Record> = pending.drain(..due).collect();
        if handle_batch(&pipeline, &topic, partition, batch, &cancel)
            .await
            .is_none()
        {
            break;
        }
    }
    tracing::debug!(%topic, partition, "partition worker stopped");
}

impl Record {
    fn new(incoming: Incoming, is_retry: bool, policy: &RetryPolicy) -> Self {
        let origin = if is_retry {
            Origin::of_retry(&incoming.message, incoming.received, policy.longest_wait())
        } else {
            Origin::of_event(&incoming.message, incoming.received)
        };
        Self {
            message: incoming.message,
            origin,
        }
    }
}

/// Handles `batch` (consecutive records of one partition) completely, then stores its last
/// offset. `None` when `cancel` interrupted a wait: nothing is stored, the records come
/// again (to this process after a rebalance, or to the next one).
async fn handle_batch(
    pipeline: &Pipeline,
    topic: &str,
    partition: i32,
    batch: Vec<Record>,
    cancel: &CancellationToken,
) -> Option<()> {
    let last_offset = batch.last()?.message.offset();
    let batch = Arc::new(batch);
    let mut decisions = check_all(pipeline, &batch).await;
    record_payments(pipeline, &batch, &mut decisions, cancel).await?;

    let mut copies = Vec::new();
    for (record, decision) in batch.iter().zip(&decisions) {
        if let Some(copy) = copy_for(pipeline, record, decision) {
            copies.push(copy);
        }
    }
    for outcome in pipeline.copies.deliver_all(copies, cancel).await? {
        match outcome {
            Delivered::DeadLettered => pipeline.stats.dead_lettered(),
            Delivered::SetAside => pipeline.stats.set_aside(),
        }
    }
    if let Err(error) = pipeline
        .consumer
        .store_offset(topic, partition, last_offset)
    {
        // Usually the partition was revoked meanwhile: its next owner gets these records
        // again, and the store reports duplicates.
        tracing::warn!(%error, %topic, partition, last_offset, "storing the offset failed");
    }
    Some(())
}

/// Checks every record of `batch`, in parallel when it is worth it; one decision per record,
/// in order.
async fn check_all(pipeline: &Pipeline, batch: &Arc<Vec<Record>>) -> Vec<Decision> {
    if batch.len() < PARALLEL_FROM {
        return batch.iter().map(|r| check(pipeline, r)).collect();
    }
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    let chunk = batch.len().div_ceil(workers);
    let mut checks = Vec::new();
    for start in (0..batch.len()).step_by(chunk) {
        let (batch, verifier) = (batch.clone(), pipeline.verifier.clone());
        let max = pipeline.max_record_bytes;
        let end = (start + chunk).min(batch.len());
        checks.push(tokio::task::spawn_blocking(move || {
            batch[start..end]
                .iter()
                .map(|r| check_with(&verifier, max, r))
                .collect::<Vec<_>>()
        }));
    }
    let mut decisions = Vec::with_capacity(batch.len());
    for (index, joined) in futures::future::join_all(checks)
        .await
        .into_iter()
        .enumerate()
    {
        match joined {
            Ok(chunk) => decisions.extend(chunk),
            Err(error) => {
                // A check panicked: its records are set aside, never lost or paid unchecked.
                tracing::error!(%error, "a batch check failed");
                let start = index * chunk;
                let end = (start + chunk).min(batch.len());
                decisions.extend((start..end).map(|_| Decision::SetAside {
                    reason: "check_failed",
                    detail: error.to_string(),
                    refresh_due: None,
                }));
            }
        }
    }
    decisions
}

fn check(pipeline: &Pipeline, record: &Record) -> Decision {
    check_with(&pipeline.verifier, pipeline.max_record_bytes, record)
}

fn check_with(verifier: &EventVerifier, max_record_bytes: usize, record: &Record) -> Decision {
    let size = record_size(&record.message);
    if size > max_record_bytes {
        let rejection = Rejection::OversizedRecord(size);
        return Decision::DeadLetter {
            reason: rejection.reason(),
            detail: rejection.to_string(),
            digest: true,
        };
    }
    match verifier.verify_arrived(
        record.message.key(),
        record.message.payload(),
        record.origin.first_seen,
    ) {
        Ok(event) => Decision::Pay(Box::new(event)),
        Err(rejection) => Decision::rejected(&rejection),
    }
}

/// Records the payments of `decisions` in one transaction and logs each outcome. A
/// transaction that fails transiently is tried [`STORE_TRIES`] times, then its payments are
/// set aside; one the database refuses for good is split, so only the record it refuses is
/// dead-lettered. `None` if `cancel` interrupted a pause.
async fn record_payments(
    pipeline: &Pipeline,
    batch: &[Record],
    decisions: &mut [Decision],
    cancel: &CancellationToken,
) -> Option<()> {
    let to_pay: Vec<usize> = (0..decisions.len())
        .filter(|&i| matches!(decisions[i], Decision::Pay(_)))
        .collect();
    if to_pay.is_empty() {
        return Some(());
    }
    let payments: Vec<PaymentRecord> = to_pay
        .iter()
        .filter_map(|&i| match &decisions[i] {
            Decision::Pay(event) => Some(payment_record(event)),
            _ => None,
        })
        .collect();
    let mut tries = 0;
    let result = loop {
        tries += 1;
        match pipeline.store.record_batch(&payments).await {
            Err(error) if error.is_transient() && tries < STORE_TRIES => {
                tracing::warn!(%error, tries, "recording a batch failed; trying again");
                tokio::select! {
                    () = cancel.cancelled() => return None,
                    () = tokio::time::sleep(STORE_PAUSE * tries) => {}
                }
            }
            other => break other,
        }
    };
    match result {
        Ok(outcomes) => {
            for ((&index, payment), outcome) in to_pay.iter().zip(&payments).zip(outcomes) {
                log_payment(&batch[index], payment, outcome);
                match outcome {
                    RecordOutcome::Paid => pipeline.stats.paid(),
                    RecordOutcome::Duplicate => pipeline.stats.duplicate(),
                }
            }
        }
        Err(error) if error.is_transient() || to_pay.len() == 1 => {
            for &index in &to_pay {
                decisions[index] = storage_failure(&error);
            }
        }
        Err(error) => {
            tracing::warn!(%error, "the database refused a batch; recording its payments one by one");
            for (&index, payment) in to_pay.iter().zip(&payments) {
                match pipeline
                    .store
                    .record_batch(std::slice::from_ref(payment))
                    .await
                {
                    Ok(outcomes) => {
                        let outcome = outcomes
                            .first()
                            .copied()
                            .unwrap_or(RecordOutcome::Duplicate);
                        log_payment(&batch[index], payment, outcome);
                        match outcome {
                            RecordOutcome::Paid => pipeline.stats.paid(),
                            RecordOutcome::Duplicate => pipeline.stats.duplicate(),
                        }
                    }
                    Err(error) => decisions[index] = storage_failure(&error),
                }
            }
        }
    }
    Some(())
}

fn storage_failure(error: &StoreError) -> Decision {
    if error.is_transient() {
        Decision::SetAside {
            reason: STORAGE_UNAVAILABLE,
            detail: error.to_string(),
            refresh_due: None,
        }
    } else {
        Decision::DeadLetter {
            reason: STORAGE_REJECTED,
            detail: error.to_string(),
            digest: false,
        }
    }
}

/// The copy `decision` calls for, if any: a record set aside once too often is
/// dead-lettered with its last reason.
fn copy_for(pipeline: &Pipeline, record: &Record, decision: &Decision) -> Option<Outgoing> {
    let (purpose, reason, detail, digest) = match decision {
        Decision::Pay(_) => return None,
        Decision::DeadLetter {
            reason,
            detail,
            digest,
        } => (Purpose::DeadLetter, *reason, detail.as_str(), *digest),
        Decision::SetAside {
            reason,
            detail,
            refresh_due,
        } => {
            let attempts = record.origin.attempts;
            if pipeline.policy.may_retry(attempts) {
                let wait = pipeline.policy.delay(attempts, *refresh_due);
                let not_before = SystemTime::now() + wait;
                (
                    Purpose::SetAside { not_before },
                    *reason,
                    detail.as_str(),
                    false,
                )
            } else {
                (Purpose::DeadLetter, *reason, detail.as_str(), false)
            }
        }
    };
    let copy = Outgoing::of(&record.message, &record.origin, purpose, reason, detail);
    Some(if digest { copy.into_digest() } else { copy })
}

fn payment_record(event: &VerifiedEvent) -> PaymentRecord {
    let created = event.order.created_at.unwrap_or_default();
    PaymentRecord {
        order_transaction_id: event.canonical_order_id(),
        user_id: event.order.user_id.clone(),
        amount_minor: event.order.total_minor,
        currency: event.order.currency.clone(),
        order_created_at_ns: unix_nanos(created.seconds, created.nanos),
        recorded_at_ns: now_unix_nanos(),
        triggered_by: event
            .claims
            .act
            .as_ref()
            .map_or_else(|| event.claims.client_id.clone(), |a| a.sub.clone()),
    }
}

fn log_payment(record: &Record, payment: &PaymentRecord, outcome: RecordOutcome) {
    let (topic, partition, offset) = position(record);
    match outcome {
        RecordOutcome::Paid => tracing::info!(
            topic, partition, offset,
            order_id = %payment.order_transaction_id,
            amount_minor = payment.amount_minor,
            currency = %payment.currency,
            user_id = %payment.user_id,
            "payment recorded"
        ),
        RecordOutcome::Duplicate => tracing::info!(
            topic, partition, offset,
            order_id = %payment.order_transaction_id,
            "duplicate event; order already paid"
        ),
    }
}

fn position(record: &Record) -> (&str, i32, i64) {
    (
        record.message.topic(),
        record.message.partition(),
        record.message.offset(),
    )
}

/// Unix nanoseconds, saturating at the i64 range (year 1677..2262).
pub(crate) fn unix_nanos(seconds: i64, nanos: i32) -> i64 {
    seconds
        .saturating_mul(1_000_000_000)
        .saturating_add(i64::from(nanos))
}

fn now_unix_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
