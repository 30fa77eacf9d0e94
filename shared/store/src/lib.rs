//! The store foundation every service shares, so no service opens, configures, migrates or
//! classifies its database on its own.
//!
//! | module | what it gives a service |
//! |---|---|
//! | [`config`] | `--database-url` (`sqlite://…` default in the data directory, or `postgres://…`), pool size and timeouts: one clap group each service flattens with its own environment prefix |
//! | [`database`] | [`Database::connect`]: the bounded pool(s) for the backend the URL names, SQLite durability (WAL + `synchronous=FULL`), PostgreSQL statement timeout, the service's versioned migrations applied at start |
//! | [`error`] | [`StoreError`]: unique violation, transient (connection lost, pool timeout, serialization failure, busy) or permanent |
//! | [`group_commit`] | [`GroupCommit`]: concurrent writers share one transaction (one fsync) |
//!
//! A service keeps one store trait with two implementations (SQLite for one replica and the
//! local demo, PostgreSQL for several replicas); the uniqueness money depends on is a
//! constraint in its migrations, never an in-process lock.

pub mod config;
pub mod database;
pub mod error;
pub mod group_commit;

pub use config::{Backend, DatabaseDefaults, StoreConfig, StoreSettings};
pub use database::{Database, Migrations, SqlitePools};
pub use error::StoreError;
pub use group_commit::GroupCommit;
