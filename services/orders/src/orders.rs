//! Order creation and reading: the rules of the service, independent of gRPC.
//!
//! CreateOrder, in order: look up (user, request id) for a retry (same body: resume it;
//! another body: `ALREADY_EXISTS`); build `OrderCreated` and encode it ONCE; exchange the
//! caller's token for an event token bound to the hash of those bytes; write the `pending`
//! outbox row (a shared durable commit); publish and await the delivery report; mark the row
//! `published`; return. No in-process lock: two calls with the same (user, request id), on
//! one replica or two, meet at the database's unique index, and the loser answers with the
//! winner's order. The [`Outbox`] owns sending and the relay.

use zte_event::encode_order_created;
use zte_proto::{events::v1 as events, orders::v1 as api};

use std::sync::Arc;

use crate::{
    error::ApiError,
    outbox::{OnFailure, Outbox, unix_ms},
    publisher::EventPublisher,
    store::{Inserted, OrderStatus, OrderStore, StoredOrder},
    token::{EventTokenIssuer, EventTokenRequest},
    validate::{ValidOrder, encode_page_token},
};

/// The order service's state. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Orders {
    outbox: Outbox,
    issuer: Arc<dyn EventTokenIssuer>,
}

impl Orders {
    /// Assembles the service from its parts.
    pub fn new(
        store: OrderStore,
        publisher: EventPublisher,
        issuer: Arc<dyn EventTokenIssuer>,
    ) -> Self {
        Self {
            outbox: Outbox::new(store, publisher),
            issuer,
        }
    }

    /// The outbox (its relay runs as a service task).
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// The publisher (health checks, shutdown flush).
    pub fn publisher(&self) -> &EventPublisher {
        self.outbox.publisher()
    }

    fn store(&self) -> &OrderStore {
        self.outbox.store()
    }

    /// Creates the order (or returns the one created earlier with the same request id and
    /// body). `subject_token` is the caller's bearer token, exchanged for the event token.
    pub async fn create(
        &self,
        user_id: &str,
        subject_token: &str,
        valid: ValidOrder,
    ) -> Result<api::Order, ApiError> {
        let request_hash = valid.request_hash();
        if let Some(existing) = self
            .store()
            .find_by_request(user_id, &valid.request_id)
            .await?
        {
            return self.resume(existing, &request_hash).await;
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
            request_hash,
            event_payload: encoded.payload,
            event_token,
            status: OrderStatus::Pending,
        };
        match self.outbox.write(row.clone()).await? {
            Inserted::New => {
                self.outbox.send(&row, OnFailure::MayRefuse).await?;
                tracing::info!(total_minor = row.order.total_minor, "order created");
                Ok(row.order)
            }
            // Another call (this replica or another) won the race: answer with its order.
            Inserted::Existing(existing) => self.resume(*existing, &row.request_hash).await,
        }
    }

    /// A retry of a known request: refused if the body differs; returned if published;
    /// otherwise its stored event is sent (again) and it is returned once acknowledged.
    async fn resume(
        &self,
        existing: StoredOrder,
        request_hash: &[u8],
    ) -> Result<api::Order, ApiError> {
        if existing.request_hash != request_hash {
            tracing::warn!("request id reused with another body");
            return Err(ApiError::AlreadyExists);
        }
        let order_id = existing.order.order_transaction_id.clone();
        tracing::Span::current().record("order_id", order_id.as_str());
        // A pending order is being sent by another call (or the relay): its outcome decides.
        let existing = match existing.status {
            OrderStatus::Pending => self.outbox.await_settled(&order_id).await?,
            _ => existing,
        };
        let (row, on_failure) = match existing.status {
            OrderStatus::Published => {
                tracing::info!("retry of a created order; returning it");
                return Ok(existing.order);
            }
            // Still pending after a whole lease: send a copy, never refuse it.
            OrderStatus::Pending => (existing, OnFailure::KeepPending),
            OrderStatus::Failed => {
                // Back into the outbox, durably, before sending: a crash during this attempt
                // leaves it pending for the relay.
                match self
                    .store()
                    .take_over(&order_id, &self.outbox.lease(), unix_ms())
                    .await?
                {
                    Some(row) => (row, OnFailure::MayRefuse),
                    None => {
                        // Another retry got there first: its outcome decides.
                        let row = self.outbox.await_settled(&order_id).await?;
                        if row.status == OrderStatus::Published {
                            return Ok(row.order);
                        }
                        (row, OnFailure::KeepPending)
                    }
                }
            }
        };
        tracing::info!(status = ?row.status, "retry of an unpublished order; publishing its event");
        self.outbox.send(&row, on_failure).await?;
        Ok(row.order)
    }

    /// One of the user's orders; anything else (unknown, unpublished, another user's) is
    /// `NotFound`.
    pub async fn get(&self, user_id: &str, order_id: &str) -> Result<api::Order, ApiError> {
        self.store()
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
            .store()
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
}

fn now_timestamp() -> prost_types::Timestamp {
    let now = time::OffsetDateTime::now_utc();
    prost_types::Timestamp {
        seconds: now.unix_timestamp(),
        // Always 0..1e9, so the conversion cannot fail.
        nanos: i32::try_from(now.nanosecond()).unwrap_or(0),
    }
}
