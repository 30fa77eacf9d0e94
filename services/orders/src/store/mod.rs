//! Durable order storage and the outbox, in one SQLite table.
//!
//! A row is written (`pending`) with the encoded event payload and its event token BEFORE
//! the event is published, and marked `published` once Kafka has acknowledged it. Only
//! `published` rows are visible to GetOrder/ListOrders, so a caller never sees an order
//! whose event is not durably in Kafka. `failed` rows belong to calls that returned an
//! error; they stay invisible until a retry with the same request id publishes the same
//! bytes. `pending` rows found at startup belong to calls cut short by a crash and are
//! re-published (same key, same bytes; consumers dedupe by order id).
//!
//! The database runs in WAL mode with `synchronous=FULL`, so a committed status change
//! survives power loss. rusqlite is blocking: every operation runs on the blocking pool.

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use prost::Message;
use rusqlite::{Connection, OptionalExtension, params};
use zte_proto::orders::v1::Order;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored row cannot be decoded.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The blocking task running the operation died.
    #[error("storage task failed: {0}")]
    Task(String),
}

/// Where a row is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    /// Written before publishing; the call's outcome is not decided yet.
    Pending,
    /// The event is in Kafka; the order is visible.
    Published,
    /// Publishing failed and the caller was told so; invisible until a retry succeeds.
    Failed,
}

impl OrderStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Published => "published",
            Self::Failed => "failed",
        }
    }

    fn parse(value: &str) -> Result<Self, StoreError> {
        match value {
            "pending" => Ok(Self::Pending),
            "published" => Ok(Self::Published),
            "failed" => Ok(Self::Failed),
            other => Err(StoreError::Corrupt(format!("unknown status {other:?}"))),
        }
    }
}

/// An order row: what the client sees plus the outbox entry for its event.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredOrder {
    /// The order as returned to the client.
    pub order: Order,
    /// The encoded `events.v1.OrderCreated`, exactly the bytes the token's hash covers.
    pub event_payload: Vec<u8>,
    /// The event token bound to `event_payload`.
    pub event_token: String,
    /// Where the row is in its life.
    pub status: OrderStatus,
}

/// Result of [`OrderStore::insert_pending`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The row was written.
    Inserted,
    /// The user already has an order with this request id (nothing written).
    DuplicateRequest,
}

/// The order database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct OrderStore {
    conn: Arc<Mutex<Connection>>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS orders (
    seq                  INTEGER PRIMARY KEY AUTOINCREMENT,
    order_transaction_id TEXT NOT NULL UNIQUE,
    user_id              TEXT NOT NULL,
    request_id           TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('pending', 'published', 'failed')),
    order_message        BLOB NOT NULL,
    event_payload        BLOB NOT NULL,
    event_token          TEXT NOT NULL,
    updated_at           INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS orders_by_user_request ON orders (user_id, request_id);
CREATE INDEX IF NOT EXISTS orders_by_user_seq ON orders (user_id, seq);
CREATE INDEX IF NOT EXISTS orders_by_status ON orders (status);
";

const COLUMNS: &str = "order_message, event_payload, event_token, status";

impl OrderStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    /// An in-memory database (unit tests).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        // WAL + FULL: a commit is on disk when it returns, and readers never block the writer.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            // A poisoned lock means a panic mid-operation; SQLite rolled that transaction
            // back, so the connection is still consistent.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Writes a new `pending` row; reports a duplicate (user, request id) instead of failing.
    pub async fn insert_pending(&self, row: StoredOrder) -> Result<InsertOutcome, StoreError> {
        self.run(move |conn| {
            let result = conn.execute(
                "INSERT INTO orders (order_transaction_id, user_id, request_id, status,
                                     order_message, event_payload, event_token, updated_at)
                 VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?7)",
                params![
                    row.order.order_transaction_id,
                    row.order.user_id,
                    row.order.request_id,
                    row.order.encode_to_vec(),
                    row.event_payload,
                    row.event_token,
                    zte_auth::unix_now(),
                ],
            );
            match result {
                Ok(_) => Ok(InsertOutcome::Inserted),
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    Ok(InsertOutcome::DuplicateRequest)
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// Sets the status of an order.
    pub async fn set_status(&self, order_id: &str, status: OrderStatus) -> Result<(), StoreError> {
        let order_id = order_id.to_owned();
        self.run(move |conn| {
            let changed = conn.execute(
                "UPDATE orders SET status = ?1, updated_at = ?2 WHERE order_transaction_id = ?3",
                params![status.as_str(), zte_auth::unix_now(), order_id],
            )?;
            if changed == 1 {
                Ok(())
            } else {
                Err(StoreError::Corrupt(format!("no order {order_id}")))
            }
        })
        .await
    }

    /// The user's order with this request id, in any status.
    pub async fn find_by_request(
        &self,
        user_id: &str,
        request_id: &str,
    ) -> Result<Option<StoredOrder>, StoreError> {
        let keys = [user_id.to_owned(), request_id.to_owned()];
        self.find_where("user_id = ?1 AND request_id = ?2", keys)
            .await
    }

    /// The order with this id, in any status.
    pub async fn find(&self, order_id: &str) -> Result<Option<StoredOrder>, StoreError> {
        self.find_where("order_transaction_id = ?1", [order_id.to_owned()])
            .await
    }

    /// The one row matching `condition` (a `WHERE` clause over `keys`), in any status.
    async fn find_where<const N: usize>(
        &self,
        condition: &'static str,
        keys: [String; N],
    ) -> Result<Option<StoredOrder>, StoreError> {
        self.run(move |conn| {
            conn.query_row(
                &format!("SELECT {COLUMNS} FROM orders WHERE {condition}"),
                rusqlite::params_from_iter(keys),
                raw_row,
            )
            .optional()?
            .map(decode_row)
            .transpose()
        })
        .await
    }

    /// The user's published order with this id.
    pub async fn get_published(
        &self,
        user_id: &str,
        order_id: &str,
    ) -> Result<Option<Order>, StoreError> {
        let (user_id, order_id) = (user_id.to_owned(), order_id.to_owned());
        self.run(move |conn| {
            conn.query_row(
                "SELECT order_message FROM orders
                 WHERE order_transaction_id = ?1 AND user_id = ?2 AND status = 'published'",
                params![order_id, user_id],
                |row| row.get::<_, Vec<u8>>(0),
            )
            .optional()?
            .map(|bytes| decode_order(&bytes))
            .transpose()
        })
        .await
    }

    /// Up to `limit` of the user's published orders, newest first, strictly older than
    /// `before_seq` if given. Each order comes with its position for the next page token.
    pub async fn list_published(
        &self,
        user_id: &str,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(i64, Order)>, StoreError> {
        let user_id = user_id.to_owned();
        self.run(move |conn| {
            let mut statement = conn.prepare_cached(
                "SELECT seq, order_message FROM orders
                 WHERE user_id = ?1 AND status = 'published' AND seq < ?2
                 ORDER BY seq DESC LIMIT ?3",
            )?;
            let rows = statement.query_map(
                params![user_id, before_seq.unwrap_or(i64::MAX), limit],
                |row| Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?)),
            )?;
            let mut orders = Vec::new();
            for row in rows {
                let (seq, bytes) = row?;
                orders.push((seq, decode_order(&bytes)?));
            }
            Ok(orders)
        })
        .await
    }

    /// Ids of every `pending` row, oldest first (the outbox to re-publish at startup).
    pub async fn pending_ids(&self) -> Result<Vec<String>, StoreError> {
        self.run(|conn| {
            let mut statement = conn.prepare(
                "SELECT order_transaction_id FROM orders WHERE status = 'pending' ORDER BY seq",
            )?;
            let ids = statement
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ids)
        })
        .await
    }
}

type RawRow = (Vec<u8>, Vec<u8>, String, String);

fn raw_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn decode_row(
    (order, event_payload, event_token, status): RawRow,
) -> Result<StoredOrder, StoreError> {
    Ok(StoredOrder {
        order: decode_order(&order)?,
        event_payload,
        event_token,
        status: OrderStatus::parse(&status)?,
    })
}

fn decode_order(bytes: &[u8]) -> Result<Order, StoreError> {
    Order::decode(bytes).map_err(|e| StoreError::Corrupt(format!("order message: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(user: &str, request: &str) -> StoredOrder {
        StoredOrder {
            order: Order {
                order_transaction_id: uuid::Uuid::new_v4().to_string(),
                user_id: user.into(),
                request_id: request.into(),
                currency: "EUR".into(),
                total_minor: 5,
                ..Order::default()
            },
            event_payload: vec![1, 2, 3],
            event_token: "t".into(),
            status: OrderStatus::Pending,
        }
    }

    #[tokio::test]
    async fn only_published_rows_are_visible_and_listed_newest_first() {
        let store = OrderStore::in_memory().unwrap();
        let a = row("alice", "1");
        let b = row("alice", "2");
        let c = row("alice", "3");
        for r in [&a, &b, &c] {
            assert_eq!(
                store.insert_pending(r.clone()).await.unwrap(),
                InsertOutcome::Inserted
            );
        }
        let a_id = &a.order.order_transaction_id;
        assert_eq!(store.get_published("alice", a_id).await.unwrap(), None);
        store
            .set_status(a_id, OrderStatus::Published)
            .await
            .unwrap();
        store
            .set_status(&c.order.order_transaction_id, OrderStatus::Published)
            .await
            .unwrap();
        store
            .set_status(&b.order.order_transaction_id, OrderStatus::Failed)
            .await
            .unwrap();
        assert_eq!(
            store.get_published("alice", a_id).await.unwrap(),
            Some(a.order.clone())
        );
        assert_eq!(store.get_published("bob", a_id).await.unwrap(), None);
        let listed = store.list_published("alice", None, 10).await.unwrap();
        let ids: Vec<_> = listed.iter().map(|(_, o)| o.request_id.as_str()).collect();
        assert_eq!(ids, ["3", "1"]);
        let next = store
            .list_published("alice", Some(listed[0].0), 10)
            .await
            .unwrap();
        assert_eq!(next.len(), 1);
        assert!(store.pending_ids().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_second_row_for_the_same_user_and_request_id_is_refused() {
        let store = OrderStore::in_memory().unwrap();
        assert_eq!(
            store.insert_pending(row("alice", "1")).await.unwrap(),
            InsertOutcome::Inserted
        );
        assert_eq!(
            store.insert_pending(row("alice", "1")).await.unwrap(),
            InsertOutcome::DuplicateRequest
        );
        assert_eq!(
            store.insert_pending(row("bob", "1")).await.unwrap(),
            InsertOutcome::Inserted
        );
        assert_eq!(store.pending_ids().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn rows_survive_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.sqlite3");
        let r = row("alice", "1");
        {
            let store = OrderStore::open(&path).unwrap();
            store.insert_pending(r.clone()).await.unwrap();
        }
        let store = OrderStore::open(&path).unwrap();
        let found = store.find_by_request("alice", "1").await.unwrap().unwrap();
        assert_eq!(found, r);
        assert_eq!(
            store.pending_ids().await.unwrap(),
            [r.order.order_transaction_id]
        );
    }
}
