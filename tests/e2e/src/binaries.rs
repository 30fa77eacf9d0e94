//! The service binaries, found the Cargo way: once per process, the harness asks Cargo to
//! build them (`cargo build --workspace --bins --examples --message-format=json`, with the
//! profile of the running executable) and takes each binary's path from Cargo's answer. When
//! they are current that build is a no-op of a second or two; when a source changed, Cargo
//! rebuilds exactly what depends on it. So `cargo test -p zte-e2e` alone never runs a stale
//! binary, and nothing compares file timestamps.
//!
//! Why the whole workspace and `--examples`: Cargo resolves features over the packages it
//! builds and, when a target needs them (tests, examples), over their dev-dependencies too.
//! Building the workspace with an example gives the same resolution as `cargo test
//! --workspace`, so after a workspace test build (CI, `scripts/test.sh`) this build finds
//! every unit fresh instead of compiling the dependencies again with other features.
//! `scripts/bench.sh` and `scripts/demo.sh` run the same command for the same reason.

use std::{collections::HashMap, path::PathBuf, process::Stdio};

use anyhow::{Context as _, bail};
use tokio::{process::Command, sync::OnceCell};

/// The arguments of the harness's build (the profile is added).
pub const BUILD_ARGS: [&str; 4] = ["build", "--workspace", "--bins", "--examples"];

/// Path of the workspace binary `name`, built by Cargo if it is not current.
pub async fn binary(name: &str) -> anyhow::Result<PathBuf> {
    static BUILT: OnceCell<Result<HashMap<String, PathBuf>, String>> = OnceCell::const_new();
    let built = BUILT
        .get_or_init(|| async { build().await.map_err(|e| format!("{e:#}")) })
        .await;
    match built {
        Ok(binaries) => binaries
            .get(name)
            .cloned()
            .with_context(|| format!("cargo built no binary named {name}")),
        Err(error) => bail!("building the workspace binaries failed: {error}"),
    }
}

/// Runs the build and returns the path of every binary Cargo reports.
async fn build() -> anyhow::Result<HashMap<String, PathBuf>> {
    // The cargo running this test (`cargo test` sets CARGO), else the one that built it.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let profile = profile()?;
    let manifest = zte_testkit::repo_root().join("Cargo.toml");
    let mut command = Command::new(&cargo);
    // `cargo test` describes the test's own package in the environment (CARGO_MANIFEST_DIR,
    // CARGO_PKG_NAME, ...). Some build scripts (ring's) rerun when those change, so passing them
    // on would rebuild those crates here, and again in the next `cargo test`.
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(set_by_cargo_for_the_test) {
            command.env_remove(name);
        }
    }
    let output = command
        .args(BUILD_ARGS)
        .args([
            "--profile",
            &profile,
            "--message-format=json-render-diagnostics",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {}", cargo.to_string_lossy()))?;
    if !output.status.success() {
        bail!(
            "cargo {} --profile {profile} failed:\n{}",
            BUILD_ARGS[1..].join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let mut binaries = HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let is_bin = message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"));
        if let (true, Some(name), Some(path)) = (
            is_bin,
            message["target"]["name"].as_str(),
            message["executable"].as_str(),
        ) {
            binaries.insert(name.to_owned(), PathBuf::from(path));
        }
    }
    Ok(binaries)
}

/// True for the variables Cargo sets for the process it runs (a test), as opposed to the ones
/// a user sets to configure Cargo (CARGO_HOME, CARGO_TARGET_DIR, CARGO_PROFILE_*, ...).
fn set_by_cargo_for_the_test(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || matches!(
            name,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "CARGO_RUSTC_CURRENT_DIR"
                | "OUT_DIR"
        )
}

/// The Cargo profile the running executable was built with, from its directory:
/// `target/<dir>/deps/<test>` or `target/<dir>/<bin>`, where `<dir>` is `debug` for the `dev`
/// profile and the profile's name otherwise.
fn profile() -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("locating the current executable")?;
    let mut dir = exe.parent().context("the executable has no directory")?;
    if dir.ends_with("deps") || dir.ends_with("examples") {
        dir = dir.parent().context("deps/ has no parent")?;
    }
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .context("the profile directory has no name")?;
    Ok(if name == "debug" { "dev" } else { name }.to_owned())
}
