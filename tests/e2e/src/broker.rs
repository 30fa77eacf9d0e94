//! A Kafka broker of a test's own, for fault tests that stop and restart it.

use anyhow::bail;
use tokio::process::Command;

/// A broker of a test's own (for fault tests that stop and restart Kafka), started with the
/// project script on a free port and a private run directory. Stopped when dropped.
#[derive(Debug)]
pub struct PrivateBroker {
    port: u16,
    controller_port: u16,
    run_dir: tempfile::TempDir,
}

impl PrivateBroker {
    /// Starts a broker on a free loopback port.
    pub async fn start() -> anyhow::Result<Self> {
        let run_dir = tempfile::Builder::new().prefix("zte-kafka-").tempdir()?;
        let broker = Self {
            port: zte_testkit::free_port(),
            controller_port: zte_testkit::free_port(),
            run_dir,
        };
        broker.script("start").await?;
        Ok(broker)
    }

    /// `host:port` of this broker.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the broker (clean shutdown), keeping its data.
    pub async fn stop(&self) -> anyhow::Result<()> {
        self.script("stop").await
    }

    /// Starts it again on the same port with the same data.
    pub async fn restart(&self) -> anyhow::Result<()> {
        self.script("start").await
    }

    /// Freezes the broker process (`SIGSTOP`): connections stay open and requests already
    /// sent get no answer, as with a broker that stalls acknowledgements.
    pub async fn pause(&self) -> anyhow::Result<()> {
        self.signal("-STOP").await
    }

    /// Lets a paused broker run again (`SIGCONT`); it answers what it received meanwhile.
    pub async fn resume(&self) -> anyhow::Result<()> {
        self.signal("-CONT").await
    }

    async fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let pid = std::fs::read_to_string(self.run_dir.path().join("kafka.pid"))?;
        let status = Command::new("kill")
            .arg(signal)
            .arg(pid.trim())
            .status()
            .await?;
        if !status.success() {
            bail!("kill {signal} {} failed: {status}", pid.trim());
        }
        Ok(())
    }

    async fn script(&self, command: &str) -> anyhow::Result<()> {
        let mut cmd = Command::new("bash");
        cmd.arg(zte_testkit::repo_root().join("scripts/kafka.sh"))
            .arg(command)
            .env("KAFKA_PORT", self.port.to_string())
            .env("KAFKA_CONTROLLER_PORT", self.controller_port.to_string())
            .env("KAFKA_RUN_DIR", self.run_dir.path());
        let output = cmd.output().await?;
        if !output.status.success() {
            bail!(
                "kafka.sh {command} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        // Best effort, synchronous: the broker is a separate JVM that would outlive the test.
        // A paused broker must run again to stop cleanly.
        if let Ok(pid) = std::fs::read_to_string(self.run_dir.path().join("kafka.pid")) {
            let _ = std::process::Command::new("kill")
                .args(["-CONT", pid.trim()])
                .status();
        }
        let _ = std::process::Command::new("bash")
            .arg(zte_testkit::repo_root().join("scripts/kafka.sh"))
            .arg("stop")
            .env("KAFKA_PORT", self.port.to_string())
            .env("KAFKA_RUN_DIR", self.run_dir.path())
            .output();
    }
}
