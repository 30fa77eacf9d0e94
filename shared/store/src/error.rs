//! [`StoreError`]: the one error type of every store, classified so callers decide without
//! looking at driver details: a unique violation (the database refused a second row the
//! money depends on), transient (worth retrying: connection lost, pool timeout, server
//! restarting, serialization failure or deadlock, SQLite busy) or permanent.

use std::sync::Arc;

use sqlx::error::{DatabaseError, ErrorKind};

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or asked us to retry (see [`is_transient_code`]).
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A unique constraint refused the row.
    #[error("unique constraint violated: {0}")]
    UniqueViolation(#[source] sqlx::Error),
    /// Any other database error: retrying will not help.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// The versioned migrations could not be applied.
    #[error("migrations: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored row cannot be decoded.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database could not be set up (directory, settings).
    #[error("{0}")]
    Setup(String),
    /// The failure of a group commit, reported to each of its writers.
    #[error("{0}")]
    Shared(Arc<StoreError>),
    /// The group commit stopped (the store is shutting down).
    #[error("the database writer has stopped")]
    Closed,
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match classify(&error) {
            Class::Unique => Self::UniqueViolation(error),
            Class::Transient => Self::Unavailable(error),
            Class::Permanent => Self::Database(error),
        }
    }
}

impl StoreError {
    /// True when the same operation may succeed later (the caller retries, or answers
    /// `UNAVAILABLE`).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable(_) | Self::Closed => true,
            Self::Shared(inner) => inner.is_transient(),
            _ => false,
        }
    }

    /// True when a unique constraint refused the row.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            Self::UniqueViolation(_) => true,
            Self::Shared(inner) => inner.is_unique_violation(),
            _ => false,
        }
    }
}

enum Class {
    Unique,
    Transient,
    Permanent,
}

fn classify(error: &sqlx::Error) -> Class {
    match error {
        sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation => Class::Unique,
        sqlx::Error::Database(db) if is_transient_code(db.as_ref()) => Class::Transient,
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Class::Transient,
        _ => Class::Permanent,
    }
}

/// PostgreSQL SQLSTATEs worth a retry: connection exceptions (class 08), serialization
/// failure, deadlock, statement timeout / cancel, lock timeout, too many connections, and the
/// server shutting down or starting up.
const PG_TRANSIENT: [&str; 9] = [
    "40001", "40P01", "57014", "55P03", "53300", "57P01", "57P02", "57P03", "53400",
];

/// SQLite primary result codes worth a retry: BUSY (5), LOCKED (6), IOERR (10), FULL (13).
const SQLITE_TRANSIENT: [i64; 4] = [5, 6, 10, 13];

/// Whether a database error says "try again" (see [`PG_TRANSIENT`], [`SQLITE_TRANSIENT`]).
fn is_transient_code(error: &dyn DatabaseError) -> bool {
    let Some(code) = error.code() else {
        return false;
    };
    if error
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        return code.starts_with("08") || PG_TRANSIENT.contains(&code.as_ref());
    }
    // SQLite reports the extended result code; its low byte is the primary code.
    code.parse::<i64>()
        .is_ok_and(|extended| SQLITE_TRANSIENT.contains(&(extended & 0xff)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_level_failures_are_transient_and_decoding_is_not() {
        assert!(StoreError::from(sqlx::Error::PoolTimedOut).is_transient());
        assert!(
            StoreError::from(sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into()))
                .is_transient()
        );
        assert!(!StoreError::from(sqlx::Error::RowNotFound).is_transient());
        assert!(!StoreError::Corrupt("x".into()).is_transient());
        let shared = StoreError::Shared(Arc::new(sqlx::Error::PoolClosed.into()));
        assert!(shared.is_transient());
        assert!(!shared.is_unique_violation());
    }
}
