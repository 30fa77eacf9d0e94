//! Connecting: the pool(s) for the backend the settings name, with the project's durability
//! and timeouts, and the service's versioned migrations applied before anything else runs.
//!
//! - **SQLite** (one replica): WAL and `synchronous=FULL`, so a commit is on disk when it
//!   returns and readers never block the writer; `busy_timeout` = the statement timeout bounds
//!   waits for the write lock. A second, one-connection pool runs with `synchronous=NORMAL`
//!   for writes that need not be durable on their own ([`SqlitePools::relaxed`]): in WAL mode
//!   they reach the disk with the next durable commit, and survive a process crash at once.
//! - **PostgreSQL** (several replicas): a bounded pool, `statement_timeout` on every
//!   connection, the service's name as `application_name`. Durable commits use the server's
//!   settings (`synchronous_commit = on`); a store asks for a relaxed commit per transaction
//!   with `SET LOCAL synchronous_commit = off`.
//!
//! Migrations are sqlx's: one directory per backend and service (`migrations/sqlite`,
//! `migrations/postgres`), embedded at compile time by `sqlx::migrate!`, recorded in
//! `_sqlx_migrations`, applied under the migrator's lock (several replicas may start at once).
//! Give each service its own database (or schema): the migration history is per database.

use std::time::Duration;

use sqlx::{
    PgPool, SqlitePool,
    migrate::Migrator,
    pool::PoolOptions,
    postgres::PgConnectOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
};

use crate::{Backend, StoreError, StoreSettings, config::Target};

/// A service's migrations, one set per backend (`sqlx::migrate!("migrations/sqlite")` …).
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    /// Applied to an SQLite database.
    pub sqlite: &'static Migrator,
    /// Applied to a PostgreSQL database.
    pub postgres: &'static Migrator,
}

/// The two SQLite pools of one database file.
#[derive(Debug, Clone)]
pub struct SqlitePools {
    /// `synchronous=FULL`: a commit is durable when it returns.
    pub durable: SqlitePool,
    /// `synchronous=NORMAL`, one connection: a commit survives a process crash at once and
    /// power loss from the next durable commit on.
    pub relaxed: SqlitePool,
}

/// A connected, migrated database.
#[derive(Debug, Clone)]
pub enum Database {
    /// Embedded SQLite.
    Sqlite(SqlitePools),
    /// A PostgreSQL server.
    Postgres(PgPool),
}

impl Database {
    /// Connects as `settings` say and applies the backend's `migrations`. Fails when the
    /// database cannot be reached within the acquire timeout or a migration fails.
    pub async fn connect(
        settings: &StoreSettings,
        migrations: Migrations,
    ) -> Result<Self, StoreError> {
        let database = match &settings.target {
            Target::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        StoreError::Setup(format!("creating {}: {e}", dir.display()))
                    })?;
                }
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(settings.statement_timeout)
                    .foreign_keys(true);
                let durable = pool_options(settings).connect_with(options.clone()).await?;
                migrations.sqlite.run(&durable).await?;
                let relaxed = pool_options(settings)
                    .max_connections(1)
                    .connect_with(options.synchronous(SqliteSynchronous::Normal))
                    .await?;
                Self::Sqlite(SqlitePools { durable, relaxed })
            }
            Target::Postgres(options) => {
                let options = postgres_options(options.as_ref().clone(), settings);
                let pool = pool_options(settings).connect_with(options).await?;
                migrations.postgres.run(&pool).await?;
                Self::Postgres(pool)
            }
        };
        tracing::info!(database = %settings.describe(), "database connected and migrated");
        Ok(database)
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// Succeeds when the database answers a trivial query (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(pools) => sqlx::query("SELECT 1")
                .execute(&pools.durable)
                .await
                .map(drop)?,
            Self::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop)?,
        }
        Ok(())
    }

    /// Closes the pools (waits for connections in use to be returned).
    pub async fn close(&self) {
        match self {
            Self::Sqlite(pools) => {
                pools.relaxed.close().await;
                pools.durable.close().await;
            }
            Self::Postgres(pool) => pool.close().await,
        }
    }
}

fn pool_options<DB: sqlx::Database>(settings: &StoreSettings) -> PoolOptions<DB> {
    PoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(0)
        .acquire_timeout(settings.acquire_timeout)
        // A connection broken by a server restart is found and replaced before use.
        .test_before_acquire(true)
        .idle_timeout(Some(Duration::from_secs(300)))
}

fn postgres_options(options: PgConnectOptions, settings: &StoreSettings) -> PgConnectOptions {
    let statement_ms = settings.statement_timeout.as_millis().to_string();
    options
        .application_name(&settings.application_name)
        .options([
            ("statement_timeout", statement_ms.as_str()),
            // A transaction left open by a stuck caller must not hold locks for ever.
            ("idle_in_transaction_session_timeout", "60000"),
        ])
}
