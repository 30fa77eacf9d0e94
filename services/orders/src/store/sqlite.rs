//! SQLite's [`Dialect`] (one replica): relaxed commits on the `synchronous=NORMAL`
//! connection; the claim needs no row locks (SQLite has one writer at a time).

use std::future::Future;

use sqlx::{Pool, Sqlite, Transaction};

use super::{Dialect, row_columns};

impl Dialect for Sqlite {
    const CLAIM: &'static str = concat!(
        "UPDATE orders SET lease_owner = $1, lease_until = $2, updated_at = $3 \
         WHERE seq IN (SELECT seq FROM orders WHERE status = 'pending' AND lease_until <= $3 \
                       ORDER BY seq LIMIT $4) \
         RETURNING ",
        row_columns!()
    );

    fn rows_affected(result: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    fn begin_relaxed(
        relaxed: &Pool<Self>,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, sqlx::Error>> + Send {
        relaxed.begin()
    }
}
