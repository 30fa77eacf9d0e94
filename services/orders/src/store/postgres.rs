//! PostgreSQL's [`Dialect`] (several replicas): relaxed commits with
//! `SET LOCAL synchronous_commit = off` (visible at once, flushed by the WAL writer or the
//! next durable commit); the claim locks the rows it takes with `FOR UPDATE SKIP LOCKED`, so
//! two replicas' relays never take the same row and never wait for each other.

use sqlx::{PgPool, Postgres, Transaction};

use super::{Dialect, row_columns};

impl Dialect for Postgres {
    const CLAIM: &'static str = concat!(
        "UPDATE orders SET lease_owner = $1, lease_until = $2, updated_at = $3 \
         WHERE seq IN (SELECT seq FROM orders WHERE status = 'pending' AND lease_until <= $3 \
                       ORDER BY seq LIMIT $4 FOR UPDATE SKIP LOCKED) \
         RETURNING ",
        row_columns!()
    );

    fn rows_affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
    }

    async fn begin_relaxed(relaxed: &PgPool) -> Result<Transaction<'static, Self>, sqlx::Error> {
        let mut tx = relaxed.begin().await?;
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }
}
