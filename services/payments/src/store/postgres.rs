//! PostgreSQL's batch insert (several replicas in one consumer group): ONE statement,
//! `INSERT … SELECT FROM UNNEST(…) ON CONFLICT DO NOTHING RETURNING id`, so it is atomic,
//! takes one round trip and tells which orders it paid. Two replicas recording the same order
//! at once (a rebalance) meet at the primary key: one inserts, the other waits for that
//! commit and inserts nothing.

use std::collections::HashSet;

use sqlx::{PgPool, Postgres};

use super::{Batch, InsertBatch, PaymentRecord, StoreError, columns};

impl InsertBatch for Postgres {
    async fn insert_batch(pool: &PgPool, batch: &Batch) -> Result<HashSet<String>, StoreError> {
        let text = |f: fn(&PaymentRecord) -> &str| -> Vec<String> {
            batch.inserts.iter().map(|p| f(p).to_owned()).collect()
        };
        let number =
            |f: fn(&PaymentRecord) -> i64| -> Vec<i64> { batch.inserts.iter().map(f).collect() };
        let inserted: Vec<String> = sqlx::query_scalar(concat!(
            "INSERT INTO payments (",
            columns!(),
            ") SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::int8[], \
             $6::int8[], $7::text[]) \
             ON CONFLICT (order_transaction_id) DO NOTHING RETURNING order_transaction_id"
        ))
        .bind(text(|p| &p.order_transaction_id))
        .bind(text(|p| &p.user_id))
        .bind(number(|p| p.amount_minor))
        .bind(text(|p| &p.currency))
        .bind(number(|p| p.order_created_at_ns))
        .bind(number(|p| p.recorded_at_ns))
        .bind(text(|p| &p.triggered_by))
        .fetch_all(pool)
        .await?;
        Ok(inserted.into_iter().collect())
    }
}
