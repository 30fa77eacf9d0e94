//! The test kit: one home for every fixture the integration and end-to-end tests share, so a
//! test reads in a few lines (zero-to-production's `spawn_app()` + one helper per endpoint).
//!
//! | module | what it gives a test |
//! |---|---|
//! | [`kafka`] | the real broker, random names, topics, producing, reading back, counting records |
//! | [`database`] | a fresh database per test: an SQLite file, or a database on the real PostgreSQL server |
//! | [`wait`] | deadline waits: any condition, gRPC health, HTTP health |
//! | [`tokens`] | the shared test keys, user and event claims, the demo users, bearer requests |
//! | [`forge`] | tokens made the way an attacker makes them (`alg: none`, HS256, foreign keys) |
//! | [`token_service`] | the token-service stand-in: JWKS + token exchange, switchable off |
//! | [`events`] | `OrderCreated` events and records as Orders publishes them |
//! | [`storm`] | forged records by the thousand (unknown kids, oversized, garbage, spoofed headers) |
//! | [`clients`] | gRPC clients of Orders and Payments with one method per RPC, plaintext or TLS ([`clients::Dial`]) |
//! | [`pki`] | the project PKI (`scripts/pki.sh`): certificates, TLS settings, HTTPS and gRPC TLS clients |
//! | [`orders`], [`payments`], [`identity`] | each service in-process on port 0 (`TestApp` style) |
//!
//! Nothing here mocks the broker, a database or the token service of a test that claims to use
//! the real one: the stand-in is for tests of Orders and Payments alone.

// A fixture that cannot set itself up has nothing to test: it fails the test loudly with a
// message (`expect`), as zero-to-production's helpers do. Outcomes a test asserts on are
// returned as values instead.
#![allow(clippy::expect_used)]

pub mod clients;
pub mod database;
pub mod events;
pub mod forge;
pub mod identity;
pub mod kafka;
pub mod orders;
pub mod payments;
pub mod pki;
mod running;
pub mod storm;
pub mod token_service;
pub mod tokens;
pub mod wait;

use std::path::PathBuf;

pub use wait::wait_until;

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The address of a local server a test needs: the value of the environment variable `env`
/// if set, otherwise the last line `scripts/<script> start` prints (the script starts the
/// project's server, or reuses the one already answering). Panics without a server: such a
/// test cannot mean anything.
pub(crate) fn local_server(env: &str, script: &str) -> String {
    if let Some(address) = std::env::var(env).ok().filter(|a| !a.trim().is_empty()) {
        return address;
    }
    match start_local_server(script) {
        Ok(address) => address,
        Err(error) => panic!("no server from scripts/{script} (and {env} unset): {error:#}"),
    }
}

fn start_local_server(script: &str) -> anyhow::Result<String> {
    use anyhow::Context as _;
    let script = repo_root().join("scripts").join(script);
    let output = std::process::Command::new("bash")
        .arg(&script)
        .arg("start")
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !output.status.success() {
        anyhow::bail!(
            "{} start failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let address = stdout.lines().last().unwrap_or_default().trim().to_owned();
    if address.is_empty() {
        anyhow::bail!("{} start printed no address", script.display());
    }
    Ok(address)
}

/// Quiet logs unless `TEST_LOG=1`.
pub fn init_test_logging() {
    if std::env::var("TEST_LOG").is_ok_and(|v| v == "1") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "debug,rdkafka=info,h2=info,hyper=info",
            ))
            .with_test_writer()
            .try_init();
    }
}

/// A loopback port with nothing listening on it (bound, then released; the OS does not hand it
/// out again soon): for a service that is down, or one to start on a known port later.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("binding an ephemeral loopback port")
}

/// Runs each named `async fn NAME(backend: Backend)` of a store suite once per backend, as the
/// tests `NAME::sqlite` and `NAME::postgres`: one suite, both implementations.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::database::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::database::Backend::Postgres).await
                }
            }
        )*
    };
}

/// A name unique to this test run, e.g. `orders-created-3f9c…` (topics, groups).
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}
