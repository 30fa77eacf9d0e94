//! The outbox: order rows written before their events are sent, their events sent until
//! Kafka acknowledges them, and the relay that finishes what callers could not.
//!
//! - **Group commit.** Concurrent CreateOrder calls hand their row to one writer
//!   ([`zte_store::GroupCommit`]), which writes every row waiting at that moment in one
//!   durable transaction: one fsync for the batch, and no call sends its event before its row
//!   is on disk.
//! - **No second fsync.** A row is marked `published` after the acknowledgement in a relaxed
//!   commit (batched too): visible to every replica at once, on disk with the next durable
//!   commit. Losing it in a crash only means the row is `pending` again and its event is sent
//!   again (same key, same bytes), which Payments absorbs.
//! - **Ambiguous outcomes.** A publish that may have reached Kafka (sent, not acknowledged
//!   in time) leaves the row `pending`; the caller hears "outcome unknown, retry with the same
//!   request id", and the relay sends it again until acknowledged, so an order that gets paid
//!   always becomes visible. Only a publish that certainly did not reach Kafka marks the row
//!   `failed` (durably, and only while this replica still holds its lease): such an order is
//!   refused and never paid.
//! - **Leases and the relay.** A row is written leased to the replica that sends it, for the
//!   publish deadline plus a margin. Every replica's relay claims pending rows whose lease has
//!   passed (crashes, ambiguous outcomes, a replica killed mid-send) and sends them again.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use tracing::Instrument as _;
use zte_store::{Backend, GroupCommit};

use crate::{
    error::ApiError,
    publisher::{EventPublisher, PURGE_GRACE, PublishError},
    store::{Inserted, Lease, OrderStatus, OrderStore, StoredOrder},
};

/// Most rows written (or marked) in one transaction.
const MAX_BATCH: usize = 256;
/// How long a lease outlives the publish that took it.
const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// How often the relay looks for pending rows whose lease has passed.
const RELAY_INTERVAL: Duration = Duration::from_millis(500);
/// Most rows the relay claims at once.
const RELAY_BATCH: u32 = 64;
/// How often a retry looks whether the call sending its order has settled it.
const SETTLE_POLL: Duration = Duration::from_millis(25);

/// The outbox of this replica. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: OrderStore,
    publisher: EventPublisher,
    inserts: GroupCommit<StoredOrder, Inserted>,
    marks: GroupCommit<String, ()>,
    owner: String,
    lease: Duration,
}

/// Whether a failed send may refuse the order (the caller holds the row's lease and may
/// mark it `failed`), or must leave it pending for the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Mark the row `failed` if the event certainly was not sent.
    MayRefuse,
    /// Leave the row pending whatever happened.
    KeepPending,
}

impl Outbox {
    /// The outbox over `store`, sending with `publisher`. Starts its two commit writers.
    pub fn new(store: OrderStore, publisher: EventPublisher) -> Self {
        let lease = publisher.timeout() + PURGE_GRACE + LEASE_MARGIN;
        let owner = uuid::Uuid::new_v4().simple().to_string();
        let inserts = {
            let (store, owner) = (store.clone(), owner.clone());
            GroupCommit::spawn(MAX_BATCH, move |rows: Vec<StoredOrder>| {
                let (store, owner) = (store.clone(), owner.clone());
                async move {
                    let now = unix_ms();
                    let lease = Lease {
                        owner,
                        until_ms: now.saturating_add(millis(lease)),
                    };
                    store.insert_batch(&rows, &lease, now).await
                }
            })
        };
        let marks = {
            let store = store.clone();
            GroupCommit::spawn(MAX_BATCH, move |ids: Vec<String>| {
                let store = store.clone();
                async move {
                    store.mark_published(&ids, unix_ms()).await?;
                    Ok(vec![(); ids.len()])
                }
            })
        };
        Self {
            inner: Arc::new(Inner {
                store,
                publisher,
                inserts,
                marks,
                owner,
                lease,
            }),
        }
    }

    /// The publisher (health checks, shutdown flush).
    pub fn publisher(&self) -> &EventPublisher {
        &self.inner.publisher
    }

    /// The store.
    pub fn store(&self) -> &OrderStore {
        &self.inner.store
    }

    /// `(commits, rows)` of the row writer so far (their ratio: fsyncs per order).
    pub fn insert_counts(&self) -> (u64, u64) {
        self.inner.inserts.counts()
    }

    /// A fresh lease of this replica.
    pub fn lease(&self) -> Lease {
        Lease {
            owner: self.inner.owner.clone(),
            until_ms: unix_ms().saturating_add(millis(self.inner.lease)),
        }
    }

    /// Waits until the order leaves `pending` (another call or replica is sending it), for at
    /// most one lease: the order as it then is.
    pub async fn await_settled(&self, order_id: &str) -> Result<StoredOrder, ApiError> {
        let deadline = tokio::time::Instant::now() + self.inner.lease;
        loop {
            let row = self
                .inner
                .store
                .find(order_id)
                .await?
                .ok_or_else(|| ApiError::Internal("a known order vanished".into()))?;
            if row.status != OrderStatus::Pending || tokio::time::Instant::now() >= deadline {
                return Ok(row);
            }
            tokio::time::sleep(SETTLE_POLL).await;
        }
    }

    /// Writes `row` as a pending order leased to this replica (shared durable commit).
    pub async fn write(&self, row: StoredOrder) -> Result<Inserted, ApiError> {
        Ok(self.inner.inserts.submit(row).await?)
    }

    /// Publishes the row's event (the stored bytes, unchanged) and settles the row: published
    /// (then visible) on acknowledgement; `failed` if it certainly was not sent and
    /// `on_failure` allows it; pending otherwise (the relay sends it again).
    pub async fn send(&self, row: &StoredOrder, on_failure: OnFailure) -> Result<(), ApiError> {
        let order_id = &row.order.order_transaction_id;
        let value = zte_event::envelope(&row.event_payload, &row.event_token);
        match self.inner.publisher.publish(order_id, &value).await {
            Ok(delivered) => {
                tracing::debug!(
                    partition = delivered.partition,
                    offset = delivered.offset,
                    "event delivered"
                );
                // Visible once this returns; if it fails the row stays pending and the relay
                // marks it after sending it again.
                self.inner
                    .marks
                    .submit(order_id.clone())
                    .await
                    .map_err(ApiError::Unconfirmed)
            }
            Err(error @ PublishError::NotSent(_)) if on_failure == OnFailure::MayRefuse => {
                let refused = self
                    .inner
                    .store
                    .mark_failed(order_id, &self.inner.owner, unix_ms())
                    .await?;
                match refused {
                    true => Err(ApiError::Publish(error)),
                    // Another replica took the row over: it will be sent.
                    false => Err(ApiError::Publish(PublishError::Unknown(
                        "the order was taken over by another replica".into(),
                    ))),
                }
            }
            Err(PublishError::NotSent(error)) => Err(ApiError::Publish(PublishError::Unknown(
                format!("not sent this time ({error}); the outbox sends it again"),
            ))),
            Err(error) => Err(ApiError::Publish(error)),
        }
    }

    /// The relay: every [`RELAY_INTERVAL`], claims the pending rows whose lease has passed and
    /// sends them again until none is left. Runs until dropped (at shutdown; rows it holds
    /// are taken over when their leases pass).
    pub async fn relay(self) {
        if self.inner.store.backend() == Backend::Sqlite {
            // One replica: every lease belongs to this process's previous run.
            if let Err(error) = self.inner.store.free_leases().await {
                tracing::warn!(%error, "could not free the outbox leases of the last run");
            }
        }
        let mut tick = tokio::time::interval(RELAY_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            while self.relay_once().await > 0 {}
        }
    }

    /// Claims and sends one batch; returns how many were acknowledged.
    async fn relay_once(&self) -> usize {
        let claimed = match self
            .inner
            .store
            .claim_pending(&self.lease(), unix_ms(), RELAY_BATCH)
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(%error, "cannot read the outbox");
                return 0;
            }
        };
        if claimed.is_empty() {
            return 0;
        }
        tracing::info!(pending = claimed.len(), "re-sending pending orders");
        let sends = claimed.iter().map(|row| {
            let span =
                tracing::info_span!("outbox_relay", order_id = %row.order.order_transaction_id);
            async move {
                match self.send(row, OnFailure::KeepPending).await {
                    Ok(()) => {
                        tracing::info!("pending order published");
                        true
                    }
                    Err(error) => {
                        tracing::warn!(%error, "pending order not published yet; will retry");
                        false
                    }
                }
            }
            .instrument(span)
        });
        futures::future::join_all(sends)
            .await
            .into_iter()
            .filter(|sent| *sent)
            .count()
    }
}

/// Now, in Unix milliseconds (the leases' clock).
pub(crate) fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
