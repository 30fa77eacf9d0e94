//! The three services running as real binaries against one broker: names, ports and data
//! directories of one stack, starting it, waiting until it is healthy, and reaching it.
//!
//! With `tls` (what the tests run), every hop is TLS with the project PKI (`scripts/pki.sh`,
//! via `zte_testkit::pki`): identity serves HTTPS, Orders and Payments serve gRPC over TLS,
//! each verifies client certificates against the CA (`optional`: users without one are let
//! in, a certificate of another CA is refused), and Orders and Payments present their own
//! client certificates to identity (mutual TLS between the services). Without it every
//! service serves plaintext, which they allow on loopback only.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, bail};
use tokio::process::Command;
use tonic_health::pb::health_check_response::ServingStatus;
use zte_auth::Algorithm;
use zte_testkit::{
    clients::{Dial, OrdersClient, PaymentsClient, channel},
    free_port, kafka,
    pki::{self, Pki},
    unique_name, wait,
};

use crate::{binaries::binary, process::ServiceProcess};

/// How long a service may take to report healthy.
pub const START_TIMEOUT: Duration = Duration::from_secs(90);

/// Names and addresses of one stack.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// Kafka bootstrap.
    pub kafka: String,
    /// Event topic.
    pub topic: String,
    /// Dead-letter topic.
    pub dlq_topic: String,
    /// Retry topic (records whose check could not finish wait there).
    pub retry_topic: String,
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
    /// How long Orders waits for Kafka's delivery report.
    pub publish_timeout: Duration,
    /// TLS (and mutual TLS between the services) on every hop, or plaintext on loopback.
    pub tls: bool,
    /// Algorithm of Identity's signing key and of the Orders client key (ES256 by default).
    pub signing_alg: Algorithm,
}

impl StackConfig {
    /// Free ports, random topic/group names, data under `root`.
    pub fn random(kafka: String, root: PathBuf) -> Self {
        let topic = unique_name("orders.order-created");
        let loopback = |port| SocketAddr::from(([127, 0, 0, 1], port));
        Self {
            kafka,
            dlq_topic: format!("{topic}.dlq"),
            retry_topic: format!("{topic}.retry"),
            topic,
            group: unique_name("payments"),
            identity_addr: loopback(free_port()),
            orders_addr: loopback(free_port()),
            payments_addr: loopback(free_port()),
            root,
            publish_timeout: Duration::from_secs(10),
            tls: true,
            signing_alg: Algorithm::Es256,
        }
    }

    /// Creates the event topic (3 partitions), the DLQ and the retry topic (1 each), unless
    /// they exist.
    pub async fn create_topics(&self) -> anyhow::Result<()> {
        kafka::create_topic(&self.kafka, &self.topic, 3).await?;
        for output in [&self.dlq_topic, &self.retry_topic] {
            kafka::create_topic(&self.kafka, output, 1).await?;
        }
        Ok(())
    }

    /// The issuer URL of the identity service.
    pub fn issuer(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.identity_addr)
    }

    /// How a client (with the `gateway` certificate) reaches Orders.
    pub fn orders_dial(&self) -> Dial {
        pki::dial(self.orders_addr, self.tls)
    }

    /// How a client (with the `gateway` certificate) reaches Payments.
    pub fn payments_dial(&self) -> Dial {
        pki::dial(self.payments_addr, self.tls)
    }

    /// The identity service's data directory (its signing keys).
    pub fn identity_dir(&self) -> PathBuf {
        self.root.join("identity")
    }
}

/// The three services running against one broker, with their processes.
#[derive(Debug)]
pub struct Stack {
    /// Names, ports and paths.
    pub config: StackConfig,
    /// The identity service.
    pub identity: ServiceProcess,
    /// The orders service.
    pub orders: ServiceProcess,
    /// The payments service.
    pub payments: ServiceProcess,
    _tempdir: Option<tempfile::TempDir>,
}

impl Stack {
    /// Starts a fresh stack (free ports, random topics, temp data dirs) on the test broker.
    pub async fn start_for_test() -> anyhow::Result<Self> {
        Self::start_for_test_with(kafka::bootstrap(), |_| {}).await
    }

    /// Like [`Self::start_for_test`] on broker `kafka`, with `adjust` applied to the config.
    pub async fn start_for_test_with(
        kafka: String,
        adjust: impl FnOnce(&mut StackConfig),
    ) -> anyhow::Result<Self> {
        zte_testkit::init_test_logging();
        let tempdir = tempfile::Builder::new().prefix("zte-e2e-").tempdir()?;
        let mut config = StackConfig::random(kafka, tempdir.path().to_path_buf());
        adjust(&mut config);
        config.create_topics().await?;
        let mut stack = Self::start(config).await?;
        if std::env::var_os("E2E_KEEP").is_some() {
            // Keep data dirs and logs for debugging a failed run.
            eprintln!("E2E_KEEP: stack files kept in {}", tempdir.keep().display());
        } else {
            stack._tempdir = Some(tempdir);
        }
        Ok(stack)
    }

    /// Starts identity, payments and orders as configured and waits until all are healthy.
    pub async fn start(config: StackConfig) -> anyhow::Result<Self> {
        for dir in ["identity", "orders", "payments", "logs"] {
            std::fs::create_dir_all(config.root.join(dir))?;
        }
        let logs = config.root.join("logs");
        let client_key = config.root.join("orders/client-key.pk8");
        let client_jwk = config.root.join("orders/client-jwk.json");
        keygen(&client_key, &client_jwk, config.signing_alg).await?;

        let pki = pki::pki();
        let identity = start(&logs, "identity", identity_args(&config, pki, &client_jwk)).await?;
        let payments = start(&logs, "payments", payments_args(&config, pki)).await?;
        let orders = start(&logs, "orders", orders_args(&config, pki, &client_key)).await?;
        let stack = Self {
            config,
            identity,
            orders,
            payments,
            _tempdir: None,
        };
        stack.wait_healthy().await?;
        Ok(stack)
    }

    /// Waits until identity answers `/healthz` and both gRPC services report SERVING.
    pub async fn wait_healthy(&self) -> anyhow::Result<()> {
        let context = |name: &str, process: &ServiceProcess| {
            format!(
                "{name} not healthy; log {}:\n{}",
                process.log_path().display(),
                process.log_tail(30)
            )
        };
        wait::wait_http_ok(&format!("{}/healthz", self.config.issuer()), START_TIMEOUT)
            .await
            .with_context(|| context("identity", &self.identity))?;
        for (name, dial, service, process) in [
            (
                "payments",
                self.config.payments_dial(),
                zte_proto::payments::v1::SERVICE_NAME,
                &self.payments,
            ),
            (
                "orders",
                self.config.orders_dial(),
                zte_proto::orders::v1::SERVICE_NAME,
                &self.orders,
            ),
        ] {
            wait::wait_grpc_health(dial, service, ServingStatus::Serving, START_TIMEOUT)
                .await
                .with_context(|| context(name, process))?;
        }
        Ok(())
    }

    /// A client of the orders service.
    pub async fn orders_client(&self) -> anyhow::Result<OrdersClient> {
        Ok(OrdersClient::new(channel(self.config.orders_dial()).await?))
    }

    /// A client of the payments service.
    pub async fn payments_client(&self) -> anyhow::Result<PaymentsClient> {
        Ok(PaymentsClient::new(
            channel(self.config.payments_dial()).await?,
        ))
    }

    /// A fresh user token for a demo user (password grant, `orders payments`).
    pub async fn user_token(&self, user: &str, password: &str) -> anyhow::Result<String> {
        zte_testkit::identity::user_token(&self.config.issuer(), user, password).await
    }
}

/// Starts the service binary `name` with `args`, logging to `<logs>/<name>.log`.
async fn start(logs: &Path, name: &str, args: Vec<String>) -> anyhow::Result<ServiceProcess> {
    let log = logs.join(format!("{name}.log"));
    ServiceProcess::spawn(name, binary(name).await?, args, vec![], log)
}

/// Runs `orders keygen` to create the Orders client key (of `alg`) and its public JWK.
pub async fn keygen(client_key: &Path, public_jwk: &Path, alg: Algorithm) -> anyhow::Result<()> {
    let output = Command::new(binary("orders").await?)
        .arg("keygen")
        .arg("--client-key")
        .arg(client_key)
        .arg("--public-jwk")
        .arg(public_jwk)
        .arg("--alg")
        .arg(alg.as_str())
        .output()
        .await?;
    if !output.status.success() {
        bail!(
            "orders keygen failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// `--name value` pairs as arguments.
fn flags(pairs: Vec<(&str, String)>) -> Vec<String> {
    pairs
        .into_iter()
        .flat_map(|(name, value)| [name.to_owned(), value])
        .collect()
}

/// The transport flags of the service `name`: with TLS, its PKI certificates (serve TLS,
/// verify client certificates against the CA when presented, trust the CA, present its client
/// certificate); otherwise `--plaintext`.
fn transport_args(config: &StackConfig, pki: &Pki, name: &str) -> Vec<String> {
    if !config.tls {
        return vec!["--plaintext".into()];
    }
    let path = |p: PathBuf| p.display().to_string();
    let (server, client) = (pki.server(name), pki.client(name));
    flags(vec![
        ("--tls-cert", path(server.cert)),
        ("--tls-key", path(server.key)),
        ("--tls-client-ca", path(pki.ca())),
        ("--tls-client-auth", "optional".into()),
        ("--tls-ca", path(pki.ca())),
        ("--tls-client-cert", path(client.cert)),
        ("--tls-client-key", path(client.key)),
    ])
}

fn identity_args(config: &StackConfig, pki: &Pki, client_jwk: &Path) -> Vec<String> {
    let mut args = flags(vec![
        ("--listen", config.identity_addr.to_string()),
        ("--issuer", config.issuer()),
        ("--data-dir", config.identity_dir().display().to_string()),
        ("--orders-client-jwk", client_jwk.display().to_string()),
        ("--signing-alg", config.signing_alg.to_string()),
    ]);
    args.extend(transport_args(config, pki, "identity"));
    args.push("--demo".into());
    args
}

/// The flags Orders and Payments share: address, broker, topic, data directory, issuer.
fn kafka_service_flags<'a>(
    config: &StackConfig,
    name: &str,
    listen: SocketAddr,
) -> Vec<(&'a str, String)> {
    vec![
        ("--listen", listen.to_string()),
        ("--kafka-bootstrap", config.kafka.clone()),
        ("--topic", config.topic.clone()),
        ("--data-dir", config.root.join(name).display().to_string()),
        ("--issuer", config.issuer()),
    ]
}

fn payments_args(config: &StackConfig, pki: &Pki) -> Vec<String> {
    let mut pairs = kafka_service_flags(config, "payments", config.payments_addr);
    pairs.extend([
        ("--dlq-topic", config.dlq_topic.clone()),
        ("--retry-topic", config.retry_topic.clone()),
        ("--group-id", config.group.clone()),
        ("--jwks-refresh-cooldown", "1s".to_owned()),
        // A record set aside during an outage is checked again within 5 s of its end.
        ("--retry-backoff-max", "5s".to_owned()),
    ]);
    let mut args = flags(pairs);
    args.extend(transport_args(config, pki, "payments"));
    args
}

fn orders_args(config: &StackConfig, pki: &Pki, client_key: &Path) -> Vec<String> {
    let mut pairs = kafka_service_flags(config, "orders", config.orders_addr);
    pairs.extend([
        ("--client-key", client_key.display().to_string()),
        (
            "--publish-timeout",
            format!("{}ms", config.publish_timeout.as_millis()),
        ),
    ]);
    let mut args = flags(pairs);
    args.extend(transport_args(config, pki, "orders"));
    args
}
