//! Runs the real system for end-to-end tests and the demo: the three service binaries as
//! child processes on free loopback ports, each with its own data directory and log file,
//! against a real Kafka broker, with random topic and group names.
//!
//! Everything started here is stopped when the [`Stack`] (or a [`ServiceProcess`]) is
//! dropped, also when a test fails.

use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context as _, bail};
use tokio::process::{Child, Command};
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
use zte_testkit::{unique_name, wait_until};

/// Demo users provisioned by the identity service in demo mode.
pub const DEMO_USERS: [(&str, &str); 2] = [("demouser", "Password1"), ("demouser2", "Password2")];
/// The public client allowed the password grant in demo mode.
pub const DEMO_CLIENT: &str = "demo-cli";

/// Directory holding the workspace's built binaries (next to this test executable).
pub fn binaries_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the current executable")?;
    // target/<profile>/deps/<test> or target/<profile>/<bin>
    let mut dir = exe.parent().map(Path::to_path_buf).context("executable has no parent")?;
    if dir.ends_with("deps") {
        dir.pop();
    }
    Ok(dir)
}

/// Path of the service binary `name`, failing clearly if it was not built.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let path = binaries_dir()?.join(name);
    if !path.exists() {
        bail!(
            "{} not built: run `cargo build -p {name}` (or `cargo test --workspace`, which builds every binary)",
            path.display()
        );
    }
    Ok(path)
}

/// A free TCP port on 127.0.0.1 (bound and released; the OS does not hand it out again soon).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding an ephemeral port")?;
    Ok(listener.local_addr()?.port())
}

/// One running service binary. Killed when dropped.
#[derive(Debug)]
pub struct ServiceProcess {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    log_path: PathBuf,
    child: Option<Child>,
}

impl ServiceProcess {
    /// Starts `program args…` with `envs`, appending stdout and stderr to `log_path`.
    pub fn spawn(
        name: &str,
        program: PathBuf,
        args: Vec<String>,
        envs: Vec<(String, String)>,
        log_path: PathBuf,
    ) -> anyhow::Result<Self> {
        let mut process = Self { name: name.to_owned(), program, args, envs, log_path, child: None };
        process.start()?;
        Ok(process)
    }

    fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .with_context(|| format!("opening {}", self.log_path.display()))?;
        let child = Command::new(&self.program)
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", std::env::var("E2E_RUST_LOG").unwrap_or_else(|_| "info,rdkafka=warn".into()))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.program.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// The log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The OS process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Sends SIGKILL and waits for the process to be gone.
    pub async fn kill9(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await.with_context(|| format!("killing {}", self.name))?;
        }
        Ok(())
    }

    /// Sends SIGTERM and waits up to `grace` for a clean exit (then SIGKILL). Returns the exit
    /// code if it exited by itself.
    pub async fn terminate(&mut self, grace: Duration) -> anyhow::Result<Option<i32>> {
        let Some(mut child) = self.child.take() else { return Ok(None) };
        if let Some(pid) = child.id() {
            // `kill -TERM` keeps this crate free of unsafe FFI.
            let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status().await;
        }
        match tokio::time::timeout(grace, child.wait()).await {
            Ok(status) => Ok(status?.code()),
            Err(_) => {
                child.kill().await?;
                bail!("{} did not exit within {grace:?} of SIGTERM", self.name)
            }
        }
    }

    /// Starts the same command again (after [`Self::kill9`] or [`Self::terminate`]).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            bail!("{} is still running", self.name);
        }
        self.start()
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The last `lines` lines of the log (for failure messages).
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// Waits until the gRPC health service at `addr` reports SERVING for `service`.
pub async fn wait_grpc_serving(addr: SocketAddr, service: &str, timeout: Duration) -> anyhow::Result<()> {
    let endpoint = format!("http://{addr}");
    wait_until(&format!("{service} at {addr} to be SERVING"), timeout, || {
        let endpoint = endpoint.clone();
        async move {
            let channel = Channel::from_shared(endpoint).ok()?.connect().await.ok()?;
            let response = HealthClient::new(channel)
                .check(HealthCheckRequest { service: service.to_owned() })
                .await
                .ok()?;
            (response.into_inner().status == ServingStatus::Serving as i32).then_some(())
        }
    })
    .await
}

/// Waits until `url` answers 200.
pub async fn wait_http_ok(url: &str, timeout: Duration) -> anyhow::Result<()> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    wait_until(&format!("{url} to answer 200"), timeout, || {
        let request = http.get(url);
        async move { request.send().await.ok().filter(|r| r.status().is_success()).map(|_| ()) }
    })
    .await
}

/// Names and addresses of one stack.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// Kafka bootstrap.
    pub kafka: String,
    /// Event topic.
    pub topic: String,
    /// Dead-letter topic.
    pub dlq_topic: String,
    /// Payments consumer group.
    pub group: String,
    /// Identity listen address.
    pub identity_addr: SocketAddr,
    /// Orders listen address.
    pub orders_addr: SocketAddr,
    /// Payments listen address.
    pub payments_addr: SocketAddr,
    /// Root of the data dirs and logs.
    pub root: PathBuf,
}

impl StackConfig {
    /// Free ports, random topic/group names, data under `root`.
    pub fn random(kafka: String, root: PathBuf) -> anyhow::Result<Self> {
        let topic = unique_name("orders.order-created");
        Ok(Self {
            kafka,
            dlq_topic: format!("{topic}.dlq"),
            topic,
            group: unique_name("payments"),
            identity_addr: SocketAddr::from(([127, 0, 0, 1], free_port()?)),
            orders_addr: SocketAddr::from(([127, 0, 0, 1], free_port()?)),
            payments_addr: SocketAddr::from(([127, 0, 0, 1], free_port()?)),
            root,
        })
    }

    /// The issuer URL of the identity service.
    pub fn issuer(&self) -> String {
        format!("http://{}", self.identity_addr)
    }
}
