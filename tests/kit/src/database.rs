//! The database of a test: a fresh SQLite file in a temp dir, or a fresh database on the real
//! PostgreSQL server, dropped again when the value is dropped.
//!
//! The server is `POSTGRES_ADMIN_URL` (an admin URL whose role may create databases), or the
//! project's server, started (once per machine, reused afterwards) by
//! `scripts/postgres.sh start` when it does not answer: the same habit as [`crate::kafka`].
//! Store suites run once per backend ([`TestDatabase::fresh`] with each [`Backend`]).

use std::sync::OnceLock;

use sqlx::{Connection as _, PgConnection};
use tempfile::TempDir;

pub use zte_store::Backend;

/// Environment variable naming an already-running server's admin URL
/// (`postgres://USER:PASSWORD@HOST:PORT/postgres`).
pub const ADMIN_URL_ENV: &str = "POSTGRES_ADMIN_URL";

/// Admin URL of a real PostgreSQL server: `POSTGRES_ADMIN_URL` if set, otherwise the project's
/// server, started by `scripts/postgres.sh start` if it is not running.
pub fn admin_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| crate::local_server(ADMIN_URL_ENV, "postgres.sh"))
        .clone()
}

/// A database of a test's own: [`Self::url`] is what a service's `--database-url` takes.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    place: Place,
}

#[derive(Debug)]
enum Place {
    /// The temp dir holding the file, removed when dropped.
    Sqlite {
        _dir: TempDir,
    },
    Postgres {
        admin_url: String,
        name: String,
    },
}

impl TestDatabase {
    /// A fresh database on `backend`.
    pub async fn fresh(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres => Self::postgres().await,
        }
    }

    /// A fresh SQLite file in a temp dir.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("creating a temp dir");
        let url = format!("sqlite://{}", dir.path().join("test.sqlite3").display());
        Self {
            url,
            place: Place::Sqlite { _dir: dir },
        }
    }

    /// A fresh database on the test server (`CREATE DATABASE t_<random>`).
    pub async fn postgres() -> Self {
        let admin_url = admin_url();
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .expect("connecting to PostgreSQL as the test admin");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("creating a test database");
        let _ = admin.close().await;
        let url = database_url(&admin_url, &name);
        Self {
            url,
            place: Place::Postgres { admin_url, name },
        }
    }

    /// The URL services and stores connect to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        match self.place {
            Place::Sqlite { .. } => Backend::Sqlite,
            Place::Postgres { .. } => Backend::Postgres,
        }
    }
}

/// `admin_url` with its database replaced by `name`.
fn database_url(admin_url: &str, name: &str) -> String {
    let mut url = url::Url::parse(admin_url).expect("the admin URL is a URL");
    url.set_path(name);
    url.to_string()
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Place::Postgres { admin_url, name } = &self.place else {
            return;
        };
        // Best effort, on a thread of its own (Drop cannot await, and may run inside a
        // runtime): a shared server must not fill up with test databases. FORCE ends the
        // connections a test's services still hold.
        let (admin_url, name) = (admin_url.clone(), name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .ok()?;
                admin.close().await.ok()
            })
        });
        let _ = dropped.join();
    }
}
