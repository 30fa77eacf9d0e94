//! Durable payments: one trait, [`PaymentStorage`], with an SQLite implementation (embedded,
//! one replica) and a PostgreSQL one (several replicas in one consumer group), behind the
//! cheap handle [`PaymentStore`].
//!
//! One row per canonical `order_transaction_id`: the primary key, so the database (not a
//! lock, not the consumer) refuses a second payment for an order, whichever replica records
//! it. [`PaymentStorage::record_batch`] writes a poll batch in ONE transaction: outcomes come
//! back in input order (`Paid` for the first record of an order, `Duplicate` for any order
//! already paid, before or earlier in the same batch), and an error records nothing. A commit
//! is durable when it returns (SQLite: WAL + `synchronous=FULL`; PostgreSQL:
//! `synchronous_commit = on`), and the consumer stores Kafka offsets only after it, so a crash
//! at any moment neither loses nor doubles a payment.

mod postgres;
mod sqlite;

use std::{collections::HashSet, fmt, ops::Deref, sync::Arc};

use zte_store::{Database, Migrations, StoreSettings};

pub use zte_store::StoreError;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Payments' migrations, per backend.
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE_MIGRATIONS,
    postgres: &POSTGRES_MIGRATIONS,
};

/// A payment as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PaymentRecord {
    /// The order (UUID text; stored canonical: lowercase, hyphenated).
    pub order_transaction_id: String,
    /// The paying user (token `sub`).
    pub user_id: String,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// ISO 4217 currency.
    pub currency: String,
    /// Order creation time, Unix nanoseconds.
    #[sqlx(rename = "order_created_at")]
    pub order_created_at_ns: i64,
    /// When the payment was recorded, Unix nanoseconds.
    #[sqlx(rename = "recorded_at")]
    pub recorded_at_ns: i64,
    /// The client that triggered the payment (token `act.sub`).
    pub triggered_by: String,
}

/// What recording one payment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// A new payment was written.
    Paid,
    /// A payment for this order already existed (or came earlier in the batch); nothing
    /// changed.
    Duplicate,
}

/// A position in the newest-first listing: `(recorded_at_ns, order_transaction_id)` of the
/// last row returned.
pub type ListCursor = (i64, String);

/// The payments database, whichever backend.
#[async_trait::async_trait]
pub trait PaymentStorage: Send + Sync + fmt::Debug {
    /// Records `records` in one transaction; one outcome per record, in input order. Atomic:
    /// on error nothing is recorded ([`StoreError::is_transient`] says whether to retry).
    async fn record_batch(
        &self,
        records: &[PaymentRecord],
    ) -> Result<Vec<RecordOutcome>, StoreError>;

    /// The payment for `order_transaction_id` if it belongs to `user_id`.
    async fn get(
        &self,
        user_id: &str,
        order_transaction_id: &str,
    ) -> Result<Option<PaymentRecord>, StoreError>;

    /// Up to `limit` of `user_id`'s payments, newest first, after `after` if given.
    async fn list(
        &self,
        user_id: &str,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<Vec<PaymentRecord>, StoreError>;

    /// Number of stored payments (all users).
    async fn count(&self) -> Result<u64, StoreError>;

    /// Records one payment (a batch of one).
    async fn record(&self, payment: PaymentRecord) -> Result<RecordOutcome, StoreError> {
        let outcomes = self.record_batch(std::slice::from_ref(&payment)).await?;
        outcomes
            .first()
            .copied()
            .ok_or_else(|| StoreError::Corrupt("a batch of one had no outcome".into()))
    }
}

/// A cheap, cloneable handle on the payments database; derefs to [`PaymentStorage`].
#[derive(Debug, Clone)]
pub struct PaymentStore(Arc<dyn PaymentStorage>);

impl PaymentStore {
    /// Connects to the database `settings` name and applies the migrations.
    pub async fn connect(settings: &StoreSettings) -> Result<Self, StoreError> {
        Ok(match Database::connect(settings, MIGRATIONS).await? {
            Database::Sqlite(pools) => Self(Arc::new(SqlPayments {
                pool: pools.durable,
            })),
            Database::Postgres(pool) => Self(Arc::new(SqlPayments { pool })),
        })
    }
}

impl Deref for PaymentStore {
    type Target = dyn PaymentStorage;

    fn deref(&self) -> &Self::Target {
        self.0.as_ref()
    }
}

/// Column list shared by both backends' statements.
macro_rules! columns {
    () => {
        "order_transaction_id, user_id, amount_minor, currency, order_created_at, recorded_at, \
         triggered_by"
    };
}
use columns;

/// The canonical spelling of an order id: a UUID lowercase and hyphenated; anything else is
/// only lowercased (the verifier lets no such id through; the CHECK constraint backs it).
pub fn canonical_order_id(id: &str) -> String {
    uuid::Uuid::parse_str(id)
        .map(|u| u.hyphenated().to_string())
        .unwrap_or_else(|_| id.to_ascii_lowercase())
}

/// A batch prepared for insertion: each order's first record, canonical, in id order (two
/// replicas inserting overlapping batches lock rows in the same order, so they cannot
/// deadlock); later copies are duplicates whatever the database says.
struct Batch {
    /// Records to insert, by canonical id.
    inserts: Vec<PaymentRecord>,
    /// Per input record: its canonical id and whether it is the first of its order.
    slots: Vec<(String, bool)>,
}

impl Batch {
    fn plan(records: &[PaymentRecord]) -> Self {
        let mut seen = HashSet::new();
        let mut inserts = Vec::new();
        let slots = records
            .iter()
            .map(|record| {
                let id = canonical_order_id(&record.order_transaction_id);
                let first = seen.insert(id.clone());
                if first {
                    inserts.push(PaymentRecord {
                        order_transaction_id: id.clone(),
                        ..record.clone()
                    });
                }
                (id, first)
            })
            .collect();
        inserts.sort_by(|a, b| a.order_transaction_id.cmp(&b.order_transaction_id));
        Self { inserts, slots }
    }

    /// Outcomes in input order, given the ids the database inserted.
    fn outcomes(&self, inserted: &HashSet<String>) -> Vec<RecordOutcome> {
        self.slots
            .iter()
            .map(|(id, first)| match *first && inserted.contains(id) {
                true => RecordOutcome::Paid,
                false => RecordOutcome::Duplicate,
            })
            .collect()
    }
}

/// SQL of [`PaymentStorage::get`] (both backends accept `$n` placeholders).
const GET: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM payments WHERE order_transaction_id = $1 AND user_id = $2"
);

/// SQL of [`PaymentStorage::list`]: keyset pagination, rows strictly after the cursor in
/// `(recorded_at, id)` descending order.
const LIST: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM payments WHERE user_id = $1 \
     AND (recorded_at < $2 OR (recorded_at = $2 AND order_transaction_id < $3)) \
     ORDER BY recorded_at DESC, order_transaction_id DESC LIMIT $4"
);

/// SQL of [`PaymentStorage::count`].
const COUNT: &str = "SELECT COUNT(*) FROM payments";

/// How a backend writes a [`Batch`] in one transaction: the one part that differs.
trait InsertBatch: sqlx::Database {
    /// Inserts the batch's records atomically; returns the ids it inserted.
    fn insert_batch(
        pool: &sqlx::Pool<Self>,
        batch: &Batch,
    ) -> impl std::future::Future<Output = Result<HashSet<String>, StoreError>> + Send;
}

/// Payments in an SQL database; the reads are the same statements on both backends.
#[derive(Debug)]
struct SqlPayments<DB: sqlx::Database> {
    pool: sqlx::Pool<DB>,
}

#[async_trait::async_trait]
impl<DB> PaymentStorage for SqlPayments<DB>
where
    DB: InsertBatch,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'r> PaymentRecord: sqlx::FromRow<'r, DB::Row>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    async fn record_batch(
        &self,
        records: &[PaymentRecord],
    ) -> Result<Vec<RecordOutcome>, StoreError> {
        let batch = Batch::plan(records);
        let inserted = DB::insert_batch(&self.pool, &batch).await?;
        Ok(batch.outcomes(&inserted))
    }

    async fn get(
        &self,
        user_id: &str,
        order_transaction_id: &str,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        Ok(sqlx::query_as(GET)
            .bind(canonical_order_id(order_transaction_id))
            .bind(user_id.to_owned())
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn list(
        &self,
        user_id: &str,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        // From the newest when no cursor is given.
        let (at, id) = after.unwrap_or((i64::MAX, String::from("\u{10FFFF}")));
        Ok(sqlx::query_as(LIST)
            .bind(user_id.to_owned())
            .bind(at)
            .bind(id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(COUNT).fetch_one(&self.pool).await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}
