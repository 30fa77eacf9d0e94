//! SQLite's batch insert (one replica): one durable transaction on the `synchronous=FULL`
//! pool, one `INSERT … ON CONFLICT DO NOTHING` per order.

use std::collections::HashSet;

use sqlx::{Sqlite, SqlitePool};

use super::{Batch, InsertBatch, StoreError, columns};

impl InsertBatch for Sqlite {
    async fn insert_batch(pool: &SqlitePool, batch: &Batch) -> Result<HashSet<String>, StoreError> {
        let mut inserted = HashSet::new();
        let mut tx = pool.begin().await?;
        for payment in &batch.inserts {
            let done = sqlx::query(concat!(
                "INSERT INTO payments (",
                columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (order_transaction_id) DO NOTHING"
            ))
            .bind(&payment.order_transaction_id)
            .bind(&payment.user_id)
            .bind(payment.amount_minor)
            .bind(&payment.currency)
            .bind(payment.order_created_at_ns)
            .bind(payment.recorded_at_ns)
            .bind(&payment.triggered_by)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 1 {
                inserted.insert(payment.order_transaction_id.clone());
            }
        }
        tx.commit().await?;
        Ok(inserted)
    }
}
