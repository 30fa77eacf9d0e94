//! Database settings: one clap group ([`StoreConfig`]) that every service flattens into its
//! configuration, with its own environment prefix ([`DatabaseDefaults`]), so each service
//! reads `<PREFIX>_DATABASE_URL` and the pool settings the same way and checks them with the
//! same function.

use std::{
    fmt,
    marker::PhantomData,
    path::{Path, PathBuf},
    str::FromStr as _,
    time::Duration,
};

use clap::Args;
use sqlx::{postgres::PgConnectOptions, sqlite::SqliteConnectOptions};
use zte_runtime::{config::require_positive, parse_duration};

/// What differs between the services flattening [`StoreConfig`].
pub trait DatabaseDefaults: Clone + fmt::Debug + Send + Sync + 'static {
    /// Prefix of the environment variables, e.g. `ORDERS` for `ORDERS_DATABASE_URL`.
    const ENV_PREFIX: &'static str;
    /// File name of the embedded database inside the data directory (the default URL).
    const SQLITE_FILE: &'static str;
}

/// `<ENV_PREFIX>_<suffix>` of `D` (clap `env` attributes).
fn env_name<D: DatabaseDefaults>(suffix: &str) -> String {
    format!("{}_{suffix}", D::ENV_PREFIX)
}

/// The database settings, read once at start from flags and environment variables (flags win).
#[derive(Clone, Args)]
pub struct StoreConfig<D: DatabaseDefaults> {
    /// Database: `sqlite://PATH` (embedded, one replica) or
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (shared by several replicas; one database
    /// per service). Default: `sqlite://<data-dir>/<service>.sqlite3`.
    #[arg(long, env = env_name::<D>("DATABASE_URL"), hide_env_values = true)]
    pub database_url: Option<String>,
    /// Most connections the pool opens (PostgreSQL; SQLite has one writer whatever this says).
    #[arg(long, env = env_name::<D>("DATABASE_MAX_CONNECTIONS"), default_value_t = 10)]
    pub database_max_connections: u32,
    /// Upper bound on waiting for a pooled connection (connecting included).
    #[arg(long, env = env_name::<D>("DATABASE_ACQUIRE_TIMEOUT"), default_value = "5s", value_parser = parse_duration)]
    pub database_acquire_timeout: Duration,
    /// Upper bound on one statement (PostgreSQL `statement_timeout`; SQLite: on waiting for
    /// the write lock).
    #[arg(long, env = env_name::<D>("DATABASE_STATEMENT_TIMEOUT"), default_value = "5s", value_parser = parse_duration)]
    pub database_statement_timeout: Duration,
    #[arg(skip)]
    service: PhantomData<D>,
}

impl<D: DatabaseDefaults> fmt::Debug for StoreConfig<D> {
    // The URL may carry a password: only its redacted form is ever printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("database_max_connections", &self.database_max_connections)
            .field("database_acquire_timeout", &self.database_acquire_timeout)
            .field(
                "database_statement_timeout",
                &self.database_statement_timeout,
            )
            .finish()
    }
}

impl<D: DatabaseDefaults> StoreConfig<D> {
    /// Checks the values clap cannot check alone; the error is one line naming the setting.
    /// `data_dir` is where the default SQLite file lives.
    pub fn settings(&self, data_dir: &Path) -> Result<StoreSettings, String> {
        require_positive(&[
            ("--database-acquire-timeout", self.database_acquire_timeout),
            (
                "--database-statement-timeout",
                self.database_statement_timeout,
            ),
        ])?;
        if self.database_max_connections == 0 {
            return Err("--database-max-connections must be at least 1".into());
        }
        let target = match self.database_url.as_deref() {
            None => Target::Sqlite(data_dir.join(D::SQLITE_FILE)),
            Some(url) => Target::parse(url)?,
        };
        Ok(StoreSettings {
            target,
            application_name: D::ENV_PREFIX.to_ascii_lowercase(),
            max_connections: self.database_max_connections,
            acquire_timeout: self.database_acquire_timeout,
            statement_timeout: self.database_statement_timeout,
        })
    }

    /// Checks the settings (see [`Self::settings`]).
    pub fn validate(&self, data_dir: &Path) -> Result<(), String> {
        self.settings(data_dir).map(drop)
    }
}

/// Which kind of database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite: one replica.
    Sqlite,
    /// A PostgreSQL server: several replicas.
    Postgres,
}

/// Where the database is.
#[derive(Clone)]
pub(crate) enum Target {
    /// An SQLite file (created with its directory if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL server; the URL is kept for its options (and never printed whole).
    Postgres(Box<PgConnectOptions>),
}

impl Target {
    fn parse(url: &str) -> Result<Self, String> {
        let refused = |why: String| format!("--database-url {}: {why}", redact_url(url));
        if let Some(rest) = url.strip_prefix("sqlite:") {
            // `sqlite://relative/path`, `sqlite:///absolute/path`, `sqlite:path`; query
            // options (mode, cache) are not ours to set: durability is fixed by the store.
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() || path.contains('?') || path == ":memory:" {
                return Err(refused(
                    "an SQLite URL names a file, e.g. sqlite://data/orders.sqlite3".into(),
                ));
            }
            // Validate the form the driver accepts too.
            SqliteConnectOptions::from_str(url).map_err(|e| refused(e.to_string()))?;
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url).map_err(|e| refused(e.to_string()))?;
            return Ok(Self::Postgres(Box::new(options)));
        }
        Err(refused(
            "must start with sqlite:// or postgres://".to_owned(),
        ))
    }
}

/// The checked database settings [`crate::Database::connect`] takes.
#[derive(Clone)]
pub struct StoreSettings {
    pub(crate) target: Target,
    pub(crate) application_name: String,
    pub(crate) max_connections: u32,
    pub(crate) acquire_timeout: Duration,
    pub(crate) statement_timeout: Duration,
}

impl StoreSettings {
    /// The backend the URL names.
    pub fn backend(&self) -> Backend {
        match self.target {
            Target::Sqlite(_) => Backend::Sqlite,
            Target::Postgres(_) => Backend::Postgres,
        }
    }

    /// Where the database is, safe to log: the SQLite path, or PostgreSQL's
    /// `host:port/database` (never the password).
    pub fn describe(&self) -> String {
        match &self.target {
            Target::Sqlite(path) => format!("sqlite:{}", path.display()),
            Target::Postgres(options) => format!(
                "postgres://{}:{}/{}",
                options.get_host(),
                options.get_port(),
                options.get_database().unwrap_or_default()
            ),
        }
    }
}

impl fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreSettings")
            .field("database", &self.describe())
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

/// `url` with its password replaced by `***` (anything unparsable is replaced whole).
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                // Only fails for URLs that cannot have a password, which this one has.
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "<unparsable URL>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Clone)]
    struct Test;
    impl DatabaseDefaults for Test {
        const ENV_PREFIX: &'static str = "TEST";
        const SQLITE_FILE: &'static str = "test.sqlite3";
    }

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        store: StoreConfig<Test>,
    }

    fn parse(args: &[&str]) -> StoreConfig<Test> {
        Cli::try_parse_from(std::iter::once("test").chain(args.iter().copied()))
            .unwrap()
            .store
    }

    #[test]
    fn the_default_is_an_sqlite_file_in_the_data_directory() {
        let settings = parse(&[]).settings(Path::new("d")).unwrap();
        assert_eq!(settings.backend(), Backend::Sqlite);
        assert_eq!(settings.describe(), "sqlite:d/test.sqlite3");
        assert_eq!(settings.max_connections, 10);
        assert_eq!(settings.acquire_timeout, Duration::from_secs(5));
        assert_eq!(settings.application_name, "test");
    }

    #[test]
    fn urls_name_the_backend_and_never_print_the_password() {
        let config = parse(&["--database-url", "postgres://u:secret@127.0.0.1:5/orders"]);
        let settings = config.settings(Path::new("d")).unwrap();
        assert_eq!(settings.backend(), Backend::Postgres);
        assert_eq!(settings.describe(), "postgres://127.0.0.1:5/orders");
        assert!(!format!("{config:?}{settings:?}").contains("secret"));
        let sqlite = parse(&["--database-url", "sqlite:///tmp/x.db"]);
        assert_eq!(
            sqlite.settings(Path::new("d")).unwrap().describe(),
            "sqlite:/tmp/x.db"
        );
    }

    #[test]
    fn bad_values_are_refused_with_the_setting_named() {
        let refused = |args: &[&str]| parse(args).validate(Path::new("d")).unwrap_err();
        assert!(refused(&["--database-url", "mysql://x"]).contains("--database-url"));
        assert!(refused(&["--database-url", "sqlite::memory:"]).contains("names a file"));
        assert!(
            !refused(&["--database-url", "mysql://u:pw@h/x"]).contains("pw"),
            "the password is not echoed"
        );
        assert!(
            refused(&["--database-max-connections", "0"]).contains("--database-max-connections")
        );
        assert!(
            refused(&["--database-acquire-timeout", "0"]).contains("--database-acquire-timeout")
        );
    }

    #[test]
    fn every_setting_reads_a_prefixed_environment_variable() {
        let names = zte_runtime::env_vars(&<Cli as clap::CommandFactory>::command()).join(" ");
        assert_eq!(
            names,
            "LOG_FORMAT RUST_LOG TEST_DATABASE_ACQUIRE_TIMEOUT TEST_DATABASE_MAX_CONNECTIONS \
             TEST_DATABASE_STATEMENT_TIMEOUT TEST_DATABASE_URL"
        );
    }
}
