//! Durable orders and the outbox, in one table: one trait, [`OrderStorage`], with an SQLite
//! implementation (embedded, one replica) and a PostgreSQL one (several replicas), behind the
//! cheap handle [`OrderStore`]. Both run the same statements (`$n` placeholders work on both);
//! only the outbox claim and how a commit is made non-durable differ ([`Dialect`]).
//!
//! A row is written `pending`, with the encoded event payload and its event token, BEFORE the
//! event is published, in a durable commit ([`OrderStorage::insert_batch`]: many concurrent
//! requests share one transaction). It becomes `published` once Kafka acknowledged the event;
//! only `published` rows are visible to GetOrder/ListOrders. That mark is a *relaxed* commit
//! (no fsync of its own: SQLite's `synchronous=NORMAL` connection, PostgreSQL's
//! `synchronous_commit = off`): if a crash loses it, the row is `pending` again and the relay
//! re-sends the same bytes, which Payments absorbs as a duplicate. `failed` rows belong to
//! calls told that their event was certainly not sent; that mark is durable, as is a retry
//! taking a failed row back.
//!
//! A pending row carries a lease (`lease_owner`, `lease_until`): the replica sending its
//! event. The outbox relay of every replica claims pending rows whose lease has passed
//! ([`OrderStorage::claim_pending`]; PostgreSQL with `FOR UPDATE SKIP LOCKED`), so each is
//! re-sent by one replica at a time, and the rows of a replica killed mid-send go to the
//! others when its leases run out.
//!
//! Uniqueness is the database's: one order per `(user_id, request_id)` (unique index), and the
//! hash of the request body is stored with it so a reuse of the request id with another body
//! is told apart from a retry.

mod postgres;
mod sqlite;

use std::{collections::HashMap, fmt, future::Future, ops::Deref, sync::Arc};

use prost::Message;
use sqlx::{Pool, Transaction};
use zte_proto::orders::v1::Order;
use zte_store::{Database, Migrations, StoreSettings};

pub use zte_store::{Backend, StoreError};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Orders' migrations, per backend.
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE_MIGRATIONS,
    postgres: &POSTGRES_MIGRATIONS,
};

/// Where a row is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    /// Written before publishing; its event is being (or will be) sent.
    Pending,
    /// The event is in Kafka; the order is visible.
    Published,
    /// The event was certainly not sent and the caller was told so; invisible until a retry
    /// with the same request id publishes it.
    Failed,
}

impl OrderStatus {
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
    /// SHA-256 of the canonical request body (see `validate::ValidOrder::request_hash`).
    pub request_hash: Vec<u8>,
    /// The encoded `events.v1.OrderCreated`, exactly the bytes the token's hash covers.
    pub event_payload: Vec<u8>,
    /// The event token bound to `event_payload`.
    pub event_token: String,
    /// Where the row is in its life.
    pub status: OrderStatus,
}

/// A replica's claim on pending rows: who sends their events, until when (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The replica (a random id per process).
    pub owner: String,
    /// When other replicas may take the rows over.
    pub until_ms: i64,
}

/// What [`OrderStorage::insert_batch`] did with one row.
#[derive(Debug, Clone, PartialEq)]
pub enum Inserted {
    /// The row was written, pending and leased to the writer.
    New,
    /// The user already has an order with this request id (written earlier, by any replica,
    /// or earlier in the same batch): nothing was written; here is that order.
    Existing(Box<StoredOrder>),
}

/// The order database, whichever backend. `now_ms` is the caller's clock (Unix ms).
#[async_trait::async_trait]
pub trait OrderStorage: Send + Sync + fmt::Debug {
    /// Writes `rows` (status ignored: written `pending` with `lease`) in ONE durable
    /// transaction; one outcome per row, in input order.
    async fn insert_batch(
        &self,
        rows: &[StoredOrder],
        lease: &Lease,
        now_ms: i64,
    ) -> Result<Vec<Inserted>, StoreError>;

    /// The user's order with this request id, in any status.
    async fn find_by_request(
        &self,
        user_id: &str,
        request_id: &str,
    ) -> Result<Option<StoredOrder>, StoreError>;

    /// The order with this id, in any status.
    async fn find(&self, order_id: &str) -> Result<Option<StoredOrder>, StoreError>;

    /// The user's published order with this id.
    async fn get_published(
        &self,
        user_id: &str,
        order_id: &str,
    ) -> Result<Option<Order>, StoreError>;

    /// Up to `limit` of the user's published orders, newest first, strictly older than
    /// `before_seq` if given; each with its position for the next page token.
    async fn list_published(
        &self,
        user_id: &str,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(i64, Order)>, StoreError>;

    /// Marks the orders published (their events are acknowledged) and frees their leases, in
    /// one relaxed commit: visible at once, durable with the next durable commit.
    async fn mark_published(&self, order_ids: &[String], now_ms: i64) -> Result<(), StoreError>;

    /// Marks a pending order `failed` (its event was certainly not sent), durably, if `owner`
    /// still holds its lease. False when it does not (another replica took it over): the
    /// caller must not tell its client the order was refused.
    async fn mark_failed(
        &self,
        order_id: &str,
        owner: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Takes an order back into the outbox under `lease`, durably: a `failed` order, or a
    /// pending one whose lease has passed. `None` when it is published or leased to another
    /// replica.
    async fn take_over(
        &self,
        order_id: &str,
        lease: &Lease,
        now_ms: i64,
    ) -> Result<Option<StoredOrder>, StoreError>;

    /// Claims up to `limit` pending orders whose lease has passed, oldest first, for `lease`
    /// (the outbox relay); a row is claimed by one replica at a time.
    async fn claim_pending(
        &self,
        lease: &Lease,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<StoredOrder>, StoreError>;

    /// Frees every lease (SQLite at start: one replica, so every lease belonged to this
    /// process's previous run). PostgreSQL keeps them: other replicas may be sending.
    async fn free_leases(&self) -> Result<(), StoreError>;

    /// Succeeds when the database answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// A cheap, cloneable handle on the order database; derefs to [`OrderStorage`].
#[derive(Debug, Clone)]
pub struct OrderStore {
    storage: Arc<dyn OrderStorage>,
    backend: Backend,
}

impl OrderStore {
    /// Connects to the database `settings` name and applies the migrations.
    pub async fn connect(settings: &StoreSettings) -> Result<Self, StoreError> {
        let database = Database::connect(settings, MIGRATIONS).await?;
        let backend = database.backend();
        let storage: Arc<dyn OrderStorage> = match database {
            Database::Sqlite(pools) => Arc::new(SqlOrders {
                durable: pools.durable,
                relaxed: pools.relaxed,
            }),
            Database::Postgres(pool) => Arc::new(SqlOrders {
                durable: pool.clone(),
                relaxed: pool,
            }),
        };
        Ok(Self { storage, backend })
    }

    /// The backend (one replica on SQLite, several on PostgreSQL).
    pub fn backend(&self) -> Backend {
        self.backend
    }
}

impl Deref for OrderStore {
    type Target = dyn OrderStorage;

    fn deref(&self) -> &Self::Target {
        self.storage.as_ref()
    }
}

/// What differs between the backends.
trait Dialect: sqlx::Database {
    /// Claims pending rows: `$1` owner, `$2` lease end, `$3` now, `$4` limit; returns the
    /// claimed rows' [`ROW`] columns.
    const CLAIM: &'static str;

    /// How many rows a statement changed.
    fn rows_affected(result: &Self::QueryResult) -> u64;

    /// A transaction whose commit need not be durable by itself.
    fn begin_relaxed(
        relaxed: &Pool<Self>,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, sqlx::Error>> + Send;
}

/// Orders in an SQL database: `durable` commits are on disk when they return; `relaxed`
/// commits ride on the next durable one (SQLite: a second pool; PostgreSQL: the same pool).
#[derive(Debug)]
struct SqlOrders<DB: sqlx::Database> {
    durable: Pool<DB>,
    relaxed: Pool<DB>,
}

/// The columns a [`StoredOrder`] is decoded from.
macro_rules! row_columns {
    () => {
        "order_message, request_hash, event_payload, event_token, status"
    };
}
use row_columns;

/// [`row_columns!`] as a string.
const ROW: &str = row_columns!();

#[derive(sqlx::FromRow)]
struct RawOrder {
    order_message: Vec<u8>,
    request_hash: Vec<u8>,
    event_payload: Vec<u8>,
    event_token: String,
    status: String,
}

impl RawOrder {
    fn decode(self) -> Result<StoredOrder, StoreError> {
        Ok(StoredOrder {
            order: decode_order(&self.order_message)?,
            request_hash: self.request_hash,
            event_payload: self.event_payload,
            event_token: self.event_token,
            status: OrderStatus::parse(&self.status)?,
        })
    }
}

fn decode_order(bytes: &[u8]) -> Result<Order, StoreError> {
    Order::decode(bytes).map_err(|e| StoreError::Corrupt(format!("order message: {e}")))
}

fn decode_all(rows: Vec<RawOrder>) -> Result<Vec<StoredOrder>, StoreError> {
    rows.into_iter().map(RawOrder::decode).collect()
}

const FIND_BY_REQUEST: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM orders WHERE user_id = $1 AND request_id = $2"
);

#[async_trait::async_trait]
impl<DB> OrderStorage for SqlOrders<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'r> RawOrder: sqlx::FromRow<'r, DB::Row>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    async fn insert_batch(
        &self,
        rows: &[StoredOrder],
        lease: &Lease,
        now_ms: i64,
    ) -> Result<Vec<Inserted>, StoreError> {
        // Rows are written in (user, request id) order, so two replicas' batches that
        // overlap take their locks in the same order and cannot deadlock.
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by(|&a, &b| request_key(&rows[a]).cmp(&request_key(&rows[b])));
        let mut outcomes: Vec<Option<Inserted>> = vec![None; rows.len()];
        let mut written: HashMap<(&str, &str), usize> = HashMap::new();
        let mut tx = self.durable.begin().await?;
        for index in order {
            let row = &rows[index];
            if let Some(&first) = written.get(&request_key(row)) {
                // A second request with the same id in this batch: the first one's row.
                outcomes[index] = Some(Inserted::Existing(Box::new(StoredOrder {
                    status: OrderStatus::Pending,
                    ..rows[first].clone()
                })));
                continue;
            }
            let done = sqlx::query(
                "INSERT INTO orders (order_transaction_id, user_id, request_id, request_hash, \
                 status, order_message, event_payload, event_token, lease_owner, lease_until, \
                 created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9, $10, $10) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(row.order.order_transaction_id.clone())
            .bind(row.order.user_id.clone())
            .bind(row.order.request_id.clone())
            .bind(row.request_hash.clone())
            .bind(row.order.encode_to_vec())
            .bind(row.event_payload.clone())
            .bind(row.event_token.clone())
            .bind(lease.owner.clone())
            .bind(lease.until_ms)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            outcomes[index] = Some(if DB::rows_affected(&done) == 1 {
                written.insert(request_key(row), index);
                Inserted::New
            } else {
                let existing: Option<RawOrder> = sqlx::query_as(FIND_BY_REQUEST)
                    .bind(row.order.user_id.clone())
                    .bind(row.order.request_id.clone())
                    .fetch_optional(&mut *tx)
                    .await?;
                let existing = existing.ok_or_else(|| {
                    StoreError::Corrupt("an insert conflicted with no existing request".into())
                })?;
                Inserted::Existing(Box::new(existing.decode()?))
            });
        }
        tx.commit().await?;
        outcomes
            .into_iter()
            .map(|o| o.ok_or_else(|| StoreError::Corrupt("a row of the batch was skipped".into())))
            .collect()
    }

    async fn find_by_request(
        &self,
        user_id: &str,
        request_id: &str,
    ) -> Result<Option<StoredOrder>, StoreError> {
        let row: Option<RawOrder> = sqlx::query_as(FIND_BY_REQUEST)
            .bind(user_id.to_owned())
            .bind(request_id.to_owned())
            .fetch_optional(&self.durable)
            .await?;
        row.map(RawOrder::decode).transpose()
    }

    async fn find(&self, order_id: &str) -> Result<Option<StoredOrder>, StoreError> {
        let row: Option<RawOrder> = sqlx::query_as(concat!(
            "SELECT ",
            row_columns!(),
            " FROM orders WHERE order_transaction_id = $1"
        ))
        .bind(order_id.to_owned())
        .fetch_optional(&self.durable)
        .await?;
        row.map(RawOrder::decode).transpose()
    }

    async fn get_published(
        &self,
        user_id: &str,
        order_id: &str,
    ) -> Result<Option<Order>, StoreError> {
        let bytes: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT order_message FROM orders \
             WHERE order_transaction_id = $1 AND user_id = $2 AND status = 'published'",
        )
        .bind(order_id.to_owned())
        .bind(user_id.to_owned())
        .fetch_optional(&self.durable)
        .await?;
        bytes.map(|b| decode_order(&b)).transpose()
    }

    async fn list_published(
        &self,
        user_id: &str,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(i64, Order)>, StoreError> {
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, order_message FROM orders \
             WHERE user_id = $1 AND status = 'published' AND seq < $2 \
             ORDER BY seq DESC LIMIT $3",
        )
        .bind(user_id.to_owned())
        .bind(before_seq.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.durable)
        .await?;
        rows.into_iter()
            .map(|(seq, bytes)| Ok((seq, decode_order(&bytes)?)))
            .collect()
    }

    async fn mark_published(&self, order_ids: &[String], now_ms: i64) -> Result<(), StoreError> {
        let mut tx = DB::begin_relaxed(&self.relaxed).await?;
        for id in order_ids {
            sqlx::query(
                "UPDATE orders SET status = 'published', lease_owner = NULL, lease_until = 0, \
                 updated_at = $2 WHERE order_transaction_id = $1",
            )
            .bind(id.clone())
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn mark_failed(
        &self,
        order_id: &str,
        owner: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE orders SET status = 'failed', lease_owner = NULL, lease_until = 0, \
             updated_at = $3 \
             WHERE order_transaction_id = $1 AND status = 'pending' AND lease_owner = $2",
        )
        .bind(order_id.to_owned())
        .bind(owner.to_owned())
        .bind(now_ms)
        .execute(&self.durable)
        .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn take_over(
        &self,
        order_id: &str,
        lease: &Lease,
        now_ms: i64,
    ) -> Result<Option<StoredOrder>, StoreError> {
        let row: Option<RawOrder> = sqlx::query_as(&format!(
            "UPDATE orders SET status = 'pending', lease_owner = $2, lease_until = $3, \
             updated_at = $4 \
             WHERE order_transaction_id = $1 \
             AND (status = 'failed' OR (status = 'pending' AND lease_until <= $4)) \
             RETURNING {ROW}"
        ))
        .bind(order_id.to_owned())
        .bind(lease.owner.clone())
        .bind(lease.until_ms)
        .bind(now_ms)
        .fetch_optional(&self.durable)
        .await?;
        row.map(RawOrder::decode).transpose()
    }

    async fn claim_pending(
        &self,
        lease: &Lease,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<StoredOrder>, StoreError> {
        let mut tx = DB::begin_relaxed(&self.relaxed).await?;
        let rows: Vec<RawOrder> = sqlx::query_as(DB::CLAIM)
            .bind(lease.owner.clone())
            .bind(lease.until_ms)
            .bind(now_ms)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        decode_all(rows)
    }

    async fn free_leases(&self) -> Result<(), StoreError> {
        let mut tx = DB::begin_relaxed(&self.relaxed).await?;
        sqlx::query(
            "UPDATE orders SET lease_owner = NULL, lease_until = 0 WHERE status = 'pending'",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.durable).await?;
        Ok(())
    }
}

fn request_key(row: &StoredOrder) -> (&str, &str) {
    (&row.order.user_id, &row.order.request_id)
}
