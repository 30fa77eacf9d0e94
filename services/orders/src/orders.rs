//! Order creation and reading: the rules of the service, independent of gRPC.
//!
//! CreateOrder, in order: look up (user, request id) for a retry; build `OrderCreated` and
//! encode it ONCE; exchange the caller's token for an event token bound to the hash of those
//! bytes; write the `pending` outbox row; publish and await the delivery report; mark the row
//! `published`; return. Calls with the same (user, request id) are serialized in-process, and
//! the unique index on (user_id, request_id) backs that up in the database.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tracing::Instrument as _;
use zte_event::encode_order_created;
use zte_proto::{events::v1 as events, orders::v1 as api};

use crate::{
    error::ApiError,
    publisher::EventPublisher,
    store::{InsertOutcome, OrderStatus, OrderStore, StoredOrder},
    token::{EventTokenIssuer, EventTokenRequest},
    validate::{ValidOrder, encode_page_token},
};

/// The order service's state. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Orders {
    store: OrderStore,
    publisher: EventPublisher,
    issuer: Arc<dyn EventTokenIssuer>,
    locks: Arc<KeyLocks>,
}

impl Orders {
    /// Assembles the service from its parts.
    pub fn new(
        store: OrderStore,
        publisher: EventPublisher,
        issuer: Arc<dyn EventTokenIssuer>,
    ) -> Self {
        Self {
            store,
            publisher,
            issuer,
            locks: Arc::default(),
        }
    }

    /// The publisher (health checks, shutdown flush).
    pub fn publisher(&self) -> &EventPublisher {
        &self.publisher
    }

    /// Creates the order (or returns the one created earlier with the same request id).
    /// `subject_token` is the caller's bearer token, exchanged for the event token.
    pub async fn create(
        &self,
        user_id: &str,
        subject_token: &str,
        valid: ValidOrder,
    ) -> Result<api::Order, ApiError> {
        let _guard = self
            .locks
            .lock(format!("{user_id}\u{0}{}", valid.request_id))
            .await;
        if let Some(existing) = self
            .store
            .find_by_request(user_id, &valid.request_id)
            .await?
        {
            return self.resume(existing).await;
        }

        let order_id = uuid::Uuid::new_v4().hyphenated().to_string();
        tracing::Span::current().record("order_id", order_id.as_str());
        let created_at = now_timestamp();
        let event = events::OrderCreated {
            order_transaction_id: order_id.clone(),
            user_id: user_id.to_owned(),
            created_at: Some(created_at),
            items: valid.items.clone(),
            currency: valid.currency.clone(),
            total_minor: valid.total_minor,
        };
        // Encoded exactly once: these bytes are hashed, stored, and sent.
        let encoded = encode_order_created(&event);
        let event_token = self
            .issuer
            .issue(EventTokenRequest {
                subject_token,
                order_transaction_id: &order_id,
                event_payload_hash: &encoded.payload_hash,
            })
            .await?;
        let row = StoredOrder {
            order: api::Order {
                order_transaction_id: order_id,
                user_id: user_id.to_owned(),
                created_at: Some(created_at),
                items: valid
                    .items
                    .into_iter()
                    .map(|item| api::OrderItem {
                        sku: item.sku,
                        quantity: item.quantity,
                        unit_price_minor: item.unit_price_minor,
                    })
                    .collect(),
                currency: valid.currency,
                total_minor: valid.total_minor,
                request_id: valid.request_id,
            },
            event_payload: encoded.payload,
            event_token,
            status: OrderStatus::Pending,
        };
        match self.store.insert_pending(row.clone()).await? {
            InsertOutcome::Inserted => self.publish_and_commit(row).await,
            InsertOutcome::DuplicateRequest => {
                // Another process on the same database won the race: answer with its order.
                let existing = self
                    .store
                    .find_by_request(&row.order.user_id, &row.order.request_id)
                    .await?
                    .ok_or_else(|| ApiError::Internal("duplicate request row vanished".into()))?;
                self.resume(existing).await
            }
        }
    }

    /// A retry of a known request: return it if published, otherwise publish the stored bytes.
    async fn resume(&self, existing: StoredOrder) -> Result<api::Order, ApiError> {
        tracing::Span::current().record("order_id", existing.order.order_transaction_id.as_str());
        match existing.status {
            OrderStatus::Published => {
                tracing::info!("retry of a created order; returning it");
                Ok(existing.order)
            }
            OrderStatus::Pending | OrderStatus::Failed => {
                tracing::info!(status = ?existing.status, "retry of an unpublished order; publishing its event");
                self.publish_and_commit(existing).await
            }
        }
    }

    /// Publishes the row's event (the stored bytes, unchanged) and marks the row published.
    /// On failure the row is marked `failed`, which keeps it invisible.
    async fn publish_and_commit(&self, row: StoredOrder) -> Result<api::Order, ApiError> {
        let order_id = row.order.order_transaction_id.clone();
        if row.status != OrderStatus::Pending {
            // Back in the outbox first, so a crash during this attempt is recovered.
            self.store
                .set_status(&order_id, OrderStatus::Pending)
                .await?;
        }
        match self.publish_row(&row).await {
            Ok(()) => {
                self.store
                    .set_status(&order_id, OrderStatus::Published)
                    .await?;
                tracing::info!(total_minor = row.order.total_minor, "order created");
                Ok(row.order)
            }
            Err(error) => {
                if let Err(store_error) =
                    self.store.set_status(&order_id, OrderStatus::Failed).await
                {
                    // Still pending: a restart would publish it. Logged so that is visible.
                    tracing::error!(%store_error, "could not mark the unpublished order failed");
                }
                Err(error)
            }
        }
    }

    async fn publish_row(&self, row: &StoredOrder) -> Result<(), ApiError> {
        let value = zte_event::envelope(&row.event_payload, &row.event_token);
        let delivered = self
            .publisher
            .publish(&row.order.order_transaction_id, &value)
            .await?;
        tracing::debug!(
            partition = delivered.partition,
            offset = delivered.offset,
            "event delivered"
        );
        Ok(())
    }

    /// One of the user's orders; anything else (unknown, unpublished, another user's) is
    /// `NotFound`.
    pub async fn get(&self, user_id: &str, order_id: &str) -> Result<api::Order, ApiError> {
        self.store
            .get_published(user_id, order_id)
            .await?
            .ok_or(ApiError::NotFound)
    }

    /// A page of the user's orders, newest first, and the token for the next page.
    pub async fn list(
        &self,
        user_id: &str,
        after: Option<i64>,
        page_size: u32,
    ) -> Result<(Vec<api::Order>, String), ApiError> {
        // One extra row tells whether another page exists.
        let mut rows = self
            .store
            .list_published(user_id, after, page_size.saturating_add(1))
            .await?;
        let more = rows.len() > page_size as usize;
        rows.truncate(page_size as usize);
        let next = match (more, rows.last()) {
            (true, Some((seq, _))) => encode_page_token(*seq),
            _ => String::new(),
        };
        Ok((rows.into_iter().map(|(_, order)| order).collect(), next))
    }

    /// Publishes every order left `pending` by a previous process (a crash between writing the
    /// outbox row and answering the caller), retrying until all are out. Dropping the future
    /// (at shutdown) leaves the remaining rows pending for the next start.
    pub async fn recover_outbox(&self) {
        let mut ids = match self.store.pending_ids().await {
            Ok(ids) => ids,
            Err(error) => {
                tracing::error!(%error, "cannot read the outbox");
                return;
            }
        };
        if ids.is_empty() {
            return;
        }
        tracing::info!(
            pending = ids.len(),
            "re-publishing orders left pending by the last run"
        );
        let mut delay = Duration::from_millis(500);
        while !ids.is_empty() {
            let mut left = Vec::new();
            for id in ids {
                let span = tracing::info_span!("outbox_recovery", order_id = %id);
                if !self.recover_one(&id).instrument(span).await {
                    left.push(id);
                }
            }
            ids = left;
            if ids.is_empty() {
                break;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(30));
        }
        tracing::info!("outbox empty");
    }

    /// Publishes one recovered row; true when it needs no further attempts.
    async fn recover_one(&self, order_id: &str) -> bool {
        let Ok(Some(row)) = self.store.find(order_id).await else {
            return false;
        };
        let _guard = self
            .locks
            .lock(format!(
                "{}\u{0}{}",
                row.order.user_id, row.order.request_id
            ))
            .await;
        // A retry by the client may have settled it while we waited for the lock.
        let row = match self.store.find(order_id).await {
            Ok(Some(row)) if row.status == OrderStatus::Pending => row,
            Ok(_) => return true,
            Err(_) => return false,
        };
        match self.publish_row(&row).await {
            Ok(()) => match self
                .store
                .set_status(order_id, OrderStatus::Published)
                .await
            {
                Ok(()) => {
                    tracing::info!("recovered order published");
                    true
                }
                Err(error) => {
                    tracing::warn!(%error, "recovered order published but not marked; will retry");
                    false
                }
            },
            Err(error) => {
                tracing::warn!(%error, "recovered order not yet published; will retry");
                false
            }
        }
    }
}

fn now_timestamp() -> prost_types::Timestamp {
    let now = time::OffsetDateTime::now_utc();
    prost_types::Timestamp {
        seconds: now.unix_timestamp(),
        // Always 0..1e9, so the conversion cannot fail.
        nanos: i32::try_from(now.nanosecond()).unwrap_or(0),
    }
}

/// Per-key async locks (key = user + request id), removed when no one holds or awaits them.
#[derive(Debug, Default)]
struct KeyLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

struct KeyGuard<'a> {
    locks: &'a KeyLocks,
    key: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl KeyLocks {
    async fn lock(&self, key: String) -> KeyGuard<'_> {
        let mutex = self.map().entry(key.clone()).or_default().clone();
        let guard = mutex.lock_owned().await;
        KeyGuard {
            locks: self,
            key,
            guard: Some(guard),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        // Poisoning cannot leave this map inconsistent (single insert/remove operations).
        self.locks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.locks.map();
        // Only the map holds it: nobody is waiting, so forget the key.
        if map
            .get(&self.key)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn key_locks_serialize_one_key_and_forget_it_afterwards() {
        let locks = Arc::new(KeyLocks::default());
        let first = locks.lock("k".into()).await;
        let other = locks.lock("other".into()).await;
        let mut waiter = {
            let locks = locks.clone();
            tokio::spawn(async move {
                let _g = locks.lock("k".into()).await;
            })
        };
        // A negative check needs some wait; 100 ms is plenty for an uncontended lock.
        assert!(
            tokio::time::timeout(Duration::from_millis(100), &mut waiter)
                .await
                .is_err(),
            "second holder of the same key must wait"
        );
        drop(first);
        waiter.await.unwrap();
        drop(other);
        assert!(locks.map().is_empty());
    }
}
