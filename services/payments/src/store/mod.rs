//! Durable payments in an embedded SQLite database.
//!
//! One row per `order_transaction_id` (the primary key), inserted with
//! `ON CONFLICT DO NOTHING` inside a transaction: a replayed event finds its row and is
//! reported as a duplicate, so nothing is ever paid twice. WAL mode with `synchronous=FULL`
//! makes a committed row survive `kill -9` and power loss; the consumer stores the Kafka offset
//! only after the commit returns, so a crash at any moment neither loses nor doubles a payment.
//!
//! SQLite calls block, so every call runs on tokio's blocking pool. Writes and reads use
//! separate connections (WAL lets readers proceed while the consumer writes).

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

/// Why a storage call failed. [`StoreError::is_transient`] tells the consumer whether the
/// same call may succeed later (busy, locked, I/O) or never will (a record the database
/// refuses).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error (busy, I/O, full disk, ...).
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The data directory could not be created.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The blocking task running the call panicked or was cancelled.
    #[error("storage task failed: {0}")]
    Task(String),
}

impl StoreError {
    /// True when retrying the same call may succeed.
    pub fn is_transient(&self) -> bool {
        use rusqlite::ErrorCode as Code;
        match self {
            Self::Sqlite(rusqlite::Error::SqliteFailure(failure, _)) => matches!(
                failure.code,
                Code::DatabaseBusy
                    | Code::DatabaseLocked
                    | Code::SystemIoFailure
                    | Code::DiskFull
                    | Code::CannotOpen
                    | Code::OutOfMemory
                    | Code::FileLockingProtocolFailed
            ),
            Self::Sqlite(_) => false,
            Self::DataDir { .. } => false,
            Self::Task(_) => true,
        }
    }
}

/// A payment as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    /// The order (UUID text).
    pub order_transaction_id: String,
    /// The paying user (token `sub`).
    pub user_id: String,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// ISO 4217 currency.
    pub currency: String,
    /// Order creation time, Unix nanoseconds.
    pub order_created_at_ns: i64,
    /// When the payment was recorded, Unix nanoseconds.
    pub recorded_at_ns: i64,
    /// The client that triggered the payment (token `act.sub`).
    pub triggered_by: String,
}

/// Whether [`PaymentStore::record`] inserted a new row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// A new payment was written.
    Paid,
    /// A payment for this order already existed; nothing changed.
    Duplicate,
}

/// A position in the newest-first listing: `(recorded_at_ns, order_transaction_id)` of the
/// last row returned.
pub type ListCursor = (i64, String);

/// The payments database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PaymentStore {
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS payments (
    order_transaction_id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    order_created_at INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    triggered_by TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS payments_by_user_newest
    ON payments (user_id, recorded_at DESC, order_transaction_id DESC);
";

const COLUMNS: &str = "order_transaction_id, user_id, amount_minor, currency, order_created_at, \
                       recorded_at, triggered_by";

impl PaymentStore {
    /// Opens (creating if needed) the database at `path`, creating its directory.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        run_blocking(move || {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                    path: dir.display().to_string(),
                    source,
                })?;
            }
            let writer = Connection::open(&path)?;
            configure(&writer)?;
            writer.execute_batch(SCHEMA)?;
            let reader = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            reader.busy_timeout(Duration::from_secs(2))?;
            Ok(Self {
                writer: Arc::new(Mutex::new(writer)),
                reader: Arc::new(Mutex::new(reader)),
            })
        })
        .await
    }

    /// Records `payment` unless its order already has one.
    pub async fn record(&self, payment: PaymentRecord) -> Result<RecordOutcome, StoreError> {
        let outcomes = self.record_batch(std::slice::from_ref(&payment)).await?;
        Ok(outcomes
            .first()
            .copied()
            .unwrap_or(RecordOutcome::Duplicate))
    }

    /// Records `payments` in ONE transaction (one commit, one fsync, for a whole poll batch):
    /// the outcomes come in input order, `Paid` for the first record of an order id and
    /// `Duplicate` for an order already paid, before or earlier in the same batch. Atomic: on
    /// an error nothing is recorded.
    pub async fn record_batch(
        &self,
        payments: &[PaymentRecord],
    ) -> Result<Vec<RecordOutcome>, StoreError> {
        if payments.is_empty() {
            return Ok(Vec::new());
        }
        let writer = self.writer.clone();
        let payments = payments.to_vec();
        run_blocking(move || {
            let mut conn = lock(&writer);
            let tx = conn.transaction()?;
            let mut outcomes = Vec::with_capacity(payments.len());
            {
                let mut insert = tx.prepare_cached(&format!(
                    "INSERT INTO payments ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                     ON CONFLICT(order_transaction_id) DO NOTHING"
                ))?;
                for payment in &payments {
                    let inserted = insert.execute(params![
                        payment.order_transaction_id,
                        payment.user_id,
                        payment.amount_minor,
                        payment.currency,
                        payment.order_created_at_ns,
                        payment.recorded_at_ns,
                        payment.triggered_by,
                    ])?;
                    outcomes.push(if inserted == 1 {
                        RecordOutcome::Paid
                    } else {
                        RecordOutcome::Duplicate
                    });
                }
            }
            tx.commit()?;
            Ok(outcomes)
        })
        .await
    }

    /// The payment for `order_transaction_id` if it belongs to `user_id`.
    pub async fn get(
        &self,
        user_id: &str,
        order_transaction_id: &str,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        let reader = self.reader.clone();
        let (user_id, order_id) = (user_id.to_owned(), order_transaction_id.to_owned());
        run_blocking(move || {
            let conn = lock(&reader);
            let mut statement = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM payments WHERE order_transaction_id = ?1 AND user_id = ?2"
            ))?;
            Ok(statement
                .query_row(params![order_id, user_id], row_to_record)
                .optional()?)
        })
        .await
    }

    /// Up to `limit` of `user_id`'s payments, newest first, after `after` if given.
    pub async fn list(
        &self,
        user_id: &str,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        let reader = self.reader.clone();
        let user_id = user_id.to_owned();
        run_blocking(move || {
            let conn = lock(&reader);
            // Keyset pagination: rows strictly after the cursor in (recorded_at, id) DESC order.
            let (at, id) = after.unwrap_or((i64::MAX, String::from("\u{10FFFF}")));
            let mut statement = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM payments WHERE user_id = ?1 \
                 AND (recorded_at < ?2 OR (recorded_at = ?2 AND order_transaction_id < ?3)) \
                 ORDER BY recorded_at DESC, order_transaction_id DESC LIMIT ?4"
            ))?;
            let rows = statement
                .query_map(params![user_id, at, id, limit], row_to_record)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Number of stored payments (all users).
    pub async fn count(&self) -> Result<u64, StoreError> {
        let reader = self.reader.clone();
        run_blocking(move || {
            let conn = lock(&reader);
            let count: i64 = conn.query_row("SELECT COUNT(*) FROM payments", [], |r| r.get(0))?;
            Ok(u64::try_from(count).unwrap_or(0))
        })
        .await
    }
}

fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    // WAL + FULL: a transaction is durable once commit returns, even on power loss.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(%mode, "SQLite refused WAL mode");
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(Duration::from_secs(2))?;
    Ok(())
}

fn row_to_record(row: &rusqlite::Row<'_>) -> Result<PaymentRecord, rusqlite::Error> {
    Ok(PaymentRecord {
        order_transaction_id: row.get(0)?,
        user_id: row.get(1)?,
        amount_minor: row.get(2)?,
        currency: row.get(3)?,
        order_created_at_ns: row.get(4)?,
        recorded_at_ns: row.get(5)?,
        triggered_by: row.get(6)?,
    })
}

fn lock(connection: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    // A panic while holding the lock cannot leave a half-applied transaction behind (SQLite
    // rolls back an uncommitted transaction when it is dropped), so the connection is usable.
    connection.lock().unwrap_or_else(|p| p.into_inner())
}

async fn run_blocking<T, F>(f: F) -> Result<T, StoreError>
where
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment(id: &str, user: &str, at: i64) -> PaymentRecord {
        PaymentRecord {
            order_transaction_id: id.into(),
            user_id: user.into(),
            amount_minor: 1250,
            currency: "EUR".into(),
            order_created_at_ns: 1,
            recorded_at_ns: at,
            triggered_by: "orders-service".into(),
        }
    }

    #[tokio::test]
    async fn a_second_record_for_the_same_order_is_a_duplicate_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/p.sqlite3");
        let store = PaymentStore::open(&path).await.unwrap();
        assert_eq!(
            store.record(payment("a", "u", 1)).await.unwrap(),
            RecordOutcome::Paid
        );
        let mut changed = payment("a", "u", 2);
        changed.amount_minor = 9;
        assert_eq!(
            store.record(changed).await.unwrap(),
            RecordOutcome::Duplicate
        );
        drop(store);
        let store = PaymentStore::open(&path).await.unwrap();
        assert_eq!(store.count().await.unwrap(), 1);
        let got = store.get("u", "a").await.unwrap().unwrap();
        assert_eq!(got, payment("a", "u", 1));
        assert_eq!(store.get("someone-else", "a").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_batch_is_one_transaction_with_outcomes_in_input_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = PaymentStore::open(&dir.path().join("p.sqlite3"))
            .await
            .unwrap();
        store.record(payment("a", "u", 1)).await.unwrap();
        let batch = [
            payment("b", "u", 2),
            payment("a", "u", 3),
            payment("c", "u", 4),
            payment("b", "u", 5),
        ];
        assert_eq!(
            store.record_batch(&batch).await.unwrap(),
            [
                RecordOutcome::Paid,
                RecordOutcome::Duplicate,
                RecordOutcome::Paid,
                RecordOutcome::Duplicate
            ]
        );
        assert_eq!(store.count().await.unwrap(), 3);
        assert_eq!(
            store.get("u", "b").await.unwrap().unwrap().recorded_at_ns,
            2
        );
        assert!(store.record_batch(&[]).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_failed_batch_records_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = PaymentStore::open(&dir.path().join("p.sqlite3"))
            .await
            .unwrap();
        // A trigger refuses one row: the whole batch is rolled back, and the error is not
        // one that a retry could fix.
        lock(&store.writer)
            .execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON payments WHEN NEW.user_id = 'x' \
                 BEGIN SELECT RAISE(ABORT, 'refused'); END;",
            )
            .unwrap();
        let error = store
            .record_batch(&[payment("a", "u", 1), payment("b", "x", 2)])
            .await
            .unwrap_err();
        assert!(!error.is_transient(), "{error}");
        assert_eq!(store.count().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn listing_is_per_user_newest_first_and_pages_without_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let store = PaymentStore::open(&dir.path().join("p.sqlite3"))
            .await
            .unwrap();
        for (id, at) in [("a", 1), ("b", 3), ("c", 3), ("d", 2)] {
            store.record(payment(id, "u", at)).await.unwrap();
        }
        store.record(payment("x", "other", 9)).await.unwrap();
        let first = store.list("u", None, 3).await.unwrap();
        let ids: Vec<_> = first
            .iter()
            .map(|p| p.order_transaction_id.as_str())
            .collect();
        assert_eq!(ids, ["c", "b", "d"]);
        let last = first.last().unwrap();
        let cursor = (last.recorded_at_ns, last.order_transaction_id.clone());
        let rest = store.list("u", Some(cursor), 3).await.unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].order_transaction_id, "a");
    }
}
