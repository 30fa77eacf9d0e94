//! One service binary running as a child process: its log file, SIGKILL, SIGTERM with a grace
//! period, restart with the same command.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context as _, bail};
use tokio::process::{Child, Command};

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
        let mut process = Self {
            name: name.to_owned(),
            program,
            args,
            envs,
            log_path,
            child: None,
        };
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
            .env(
                "RUST_LOG",
                std::env::var("E2E_RUST_LOG").unwrap_or_else(|_| "info,rdkafka=warn".into()),
            )
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
            child
                .kill()
                .await
                .with_context(|| format!("killing {}", self.name))?;
        }
        Ok(())
    }

    /// Sends SIGTERM and waits up to `grace` for a clean exit (then SIGKILL). Returns the exit
    /// code if it exited by itself.
    pub async fn terminate(&mut self, grace: Duration) -> anyhow::Result<Option<i32>> {
        let Some(mut child) = self.child.take() else {
            return Ok(None);
        };
        if let Some(pid) = child.id() {
            // `kill -TERM` keeps this crate free of unsafe FFI.
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await;
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
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The last `lines` lines of the log (for failure messages).
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}
