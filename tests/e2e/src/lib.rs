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
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use zte_testkit::{unique_name, wait_until};

/// Demo users provisioned by the identity service in demo mode.
pub const DEMO_USERS: [(&str, &str); 2] = [("demouser", "Password1"), ("demouser2", "Password2")];
/// The public client allowed the password grant in demo mode.
pub const DEMO_CLIENT: &str = "demo-cli";

/// Directory holding the workspace's built binaries (next to this test executable).
pub fn binaries_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the current executable")?;
    // target/<profile>/deps/<test> or target/<profile>/<bin>
    let mut dir = exe
        .parent()
        .map(Path::to_path_buf)
        .context("executable has no parent")?;
    if dir.ends_with("deps") {
        dir.pop();
    }
    Ok(dir)
}

/// Path of the service binary `name`, failing clearly if it was not built.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let path = binaries_dir()?.join(name);
    let built = std::fs::metadata(&path).and_then(|m| m.modified()).map_err(|_| {
        anyhow::anyhow!(
            "{} not built: run `cargo build --bins` (`cargo test --workspace` builds every binary)",
            path.display()
        )
    })?;
    // `cargo test -p zte-e2e` alone does not rebuild the service binaries: refuse to test a
    // stale one rather than report results for old code.
    let root = zte_testkit::repo_root();
    // The service's own sources and those of the shared crates it depends on (a change to a
    // shared crate it does not use does not relink it).
    let service = root.join("services").join(name);
    let manifest = std::fs::read_to_string(service.join("Cargo.toml")).unwrap_or_default();
    let mut sources = vec![service.join("src")];
    sources.extend(
        manifest
            .lines()
            .filter_map(|line| line.trim().strip_prefix("zte-"))
            .filter_map(|rest| rest.split(['.', ' ', '=']).next())
            .map(|shared| root.join("shared").join(shared).join("src")),
    );
    if let Some(newer) = sources.iter().find_map(|dir| newer_file(dir, built)) {
        bail!(
            "{} is older than {}: run `cargo build --bins` first",
            path.display(),
            newer.display()
        );
    }
    Ok(path)
}

/// A `.rs` file under `dir` modified after `than`, if any.
fn newer_file(dir: &Path, than: std::time::SystemTime) -> Option<PathBuf> {
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).ok()?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|m| m > than)
            {
                return Some(path);
            }
        }
    }
    None
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

/// Waits until the gRPC health service at `addr` reports SERVING for `service`.
pub async fn wait_grpc_serving(
    addr: SocketAddr,
    service: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    wait_grpc_status(addr, service, ServingStatus::Serving, timeout).await
}

/// Waits until the gRPC health service at `addr` reports `NOT_SERVING` for `service`.
pub async fn wait_grpc_not_serving(
    addr: SocketAddr,
    service: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    wait_grpc_status(addr, service, ServingStatus::NotServing, timeout).await
}

async fn wait_grpc_status(
    addr: SocketAddr,
    service: &str,
    status: ServingStatus,
    timeout: Duration,
) -> anyhow::Result<()> {
    let endpoint = format!("http://{addr}");
    wait_until(
        &format!("{service} at {addr} to be {status:?}"),
        timeout,
        || {
            let endpoint = endpoint.clone();
            async move {
                let channel = Channel::from_shared(endpoint).ok()?.connect().await.ok()?;
                let response = HealthClient::new(channel)
                    .check(HealthCheckRequest {
                        service: service.to_owned(),
                    })
                    .await
                    .ok()?;
                (response.into_inner().status == status as i32).then_some(())
            }
        },
    )
    .await
}

/// Waits until `url` answers 200.
pub async fn wait_http_ok(url: &str, timeout: Duration) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    wait_until(&format!("{url} to answer 200"), timeout, || {
        let request = http.get(url);
        async move {
            request
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(|_| ())
        }
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
    /// How long Orders waits for Kafka's delivery report.
    pub publish_timeout: Duration,
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
            publish_timeout: Duration::from_secs(10),
        })
    }

    /// The issuer URL of the identity service.
    pub fn issuer(&self) -> String {
        format!("http://{}", self.identity_addr)
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

/// How long a service may take to report healthy.
pub const START_TIMEOUT: Duration = Duration::from_secs(90);

impl Stack {
    /// Starts a fresh stack (free ports, random topics, temp data dirs) on the test broker.
    pub async fn start_for_test() -> anyhow::Result<Self> {
        Self::start_for_test_with(zte_testkit::kafka_bootstrap(), |_| {}).await
    }

    /// Like [`Self::start_for_test`] on broker `kafka`, with `adjust` applied to the config.
    pub async fn start_for_test_with(
        kafka: String,
        adjust: impl FnOnce(&mut StackConfig),
    ) -> anyhow::Result<Self> {
        zte_testkit::init_test_logging();
        let tempdir = tempfile::Builder::new().prefix("zte-e2e-").tempdir()?;
        let mut config = StackConfig::random(kafka, tempdir.path().to_path_buf())?;
        adjust(&mut config);
        zte_testkit::create_topic(&config.kafka, &config.topic, 3).await?;
        zte_testkit::create_topic(&config.kafka, &config.dlq_topic, 1).await?;
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
        keygen(&client_key, &client_jwk).await?;

        let identity = ServiceProcess::spawn(
            "identity",
            binary("identity")?,
            identity_args(&config, &client_jwk),
            vec![],
            logs.join("identity.log"),
        )?;
        let payments = ServiceProcess::spawn(
            "payments",
            binary("payments")?,
            payments_args(&config),
            vec![],
            logs.join("payments.log"),
        )?;
        let orders = ServiceProcess::spawn(
            "orders",
            binary("orders")?,
            orders_args(&config, &client_key),
            vec![],
            logs.join("orders.log"),
        )?;
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
        wait_http_ok(&format!("{}/healthz", self.config.issuer()), START_TIMEOUT)
            .await
            .with_context(|| context("identity", &self.identity))?;
        wait_grpc_serving(
            self.config.payments_addr,
            zte_proto::payments::v1::SERVICE_NAME,
            START_TIMEOUT,
        )
        .await
        .with_context(|| context("payments", &self.payments))?;
        wait_grpc_serving(
            self.config.orders_addr,
            zte_proto::orders::v1::SERVICE_NAME,
            START_TIMEOUT,
        )
        .await
        .with_context(|| context("orders", &self.orders))?;
        Ok(())
    }

    /// A gRPC channel to the orders service.
    pub async fn orders_channel(&self) -> anyhow::Result<Channel> {
        channel(self.config.orders_addr).await
    }

    /// A gRPC channel to the payments service.
    pub async fn payments_channel(&self) -> anyhow::Result<Channel> {
        channel(self.config.payments_addr).await
    }

    /// A fresh user token for a demo user (password grant, `orders payments`).
    pub async fn user_token(&self, user: &str, password: &str) -> anyhow::Result<String> {
        user_token(&self.config.issuer(), user, password).await
    }
}

/// Connects a gRPC channel to `addr`.
pub async fn channel(addr: SocketAddr) -> anyhow::Result<Channel> {
    Ok(Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?)
}

/// Gets a user token from the identity service at `issuer` with the password grant.
pub async fn user_token(issuer: &str, user: &str, password: &str) -> anyhow::Result<String> {
    let response = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", DEMO_CLIENT),
            ("username", user),
            ("password", password),
            ("scope", "orders payments"),
        ])
        .send()
        .await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    if !status.is_success() {
        bail!("password grant for {user} failed: {status} {body}");
    }
    body.get("access_token")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .context("token response without access_token")
}

/// Runs `orders keygen` to create the Orders client key and its public JWK.
pub async fn keygen(client_key: &Path, public_jwk: &Path) -> anyhow::Result<()> {
    let output = Command::new(binary("orders")?)
        .arg("keygen")
        .arg("--client-key")
        .arg(client_key)
        .arg("--public-jwk")
        .arg(public_jwk)
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

fn s(value: impl ToString) -> String {
    value.to_string()
}

fn identity_args(config: &StackConfig, client_jwk: &Path) -> Vec<String> {
    vec![
        s("--listen"),
        s(config.identity_addr),
        s("--issuer"),
        config.issuer(),
        s("--data-dir"),
        s(config.root.join("identity").display()),
        s("--demo"),
        s("--orders-client-jwk"),
        s(client_jwk.display()),
    ]
}

fn payments_args(config: &StackConfig) -> Vec<String> {
    vec![
        s("--listen"),
        s(config.payments_addr),
        s("--kafka-bootstrap"),
        config.kafka.clone(),
        s("--topic"),
        config.topic.clone(),
        s("--dlq-topic"),
        config.dlq_topic.clone(),
        s("--group-id"),
        config.group.clone(),
        s("--data-dir"),
        s(config.root.join("payments").display()),
        s("--issuer"),
        config.issuer(),
        s("--jwks-refresh-cooldown"),
        s("1s"),
    ]
}

fn orders_args(config: &StackConfig, client_key: &Path) -> Vec<String> {
    vec![
        s("--listen"),
        s(config.orders_addr),
        s("--kafka-bootstrap"),
        config.kafka.clone(),
        s("--topic"),
        config.topic.clone(),
        s("--data-dir"),
        s(config.root.join("orders").display()),
        s("--issuer"),
        config.issuer(),
        s("--client-key"),
        s(client_key.display()),
        s("--publish-timeout"),
        format!("{}ms", config.publish_timeout.as_millis()),
    ]
}

/// Small gRPC and Kafka helpers for the tests and the demo.
pub mod client {
    use std::time::Duration;

    use anyhow::Context as _;
    use rdkafka::{
        ClientConfig,
        producer::{FutureProducer, FutureRecord},
    };
    use tonic::{Request, Status, transport::Channel};
    use zte_proto::{
        orders::v1::{
            CreateOrderRequest, GetOrderRequest, ListOrdersRequest, Order, OrderItem,
            orders_service_client::OrdersServiceClient,
        },
        payments::v1::{
            GetPaymentRequest, ListPaymentsRequest, Payment,
            payments_service_client::PaymentsServiceClient,
        },
    };

    /// Wraps `message` in a request with `authorization: Bearer <token>` (if any).
    pub fn authed<T>(message: T, token: Option<&str>) -> Request<T> {
        let mut request = Request::new(message);
        if let Some(Ok(value)) = token.map(|t| format!("Bearer {t}").parse()) {
            request.metadata_mut().insert("authorization", value);
        }
        request
    }

    /// A simple valid order request with a random request id.
    pub fn order_request(items: &[(&str, u32, i64)]) -> CreateOrderRequest {
        CreateOrderRequest {
            request_id: uuid::Uuid::new_v4().to_string(),
            items: items
                .iter()
                .map(|(sku, quantity, price)| OrderItem {
                    sku: (*sku).to_owned(),
                    quantity: *quantity,
                    unit_price_minor: *price,
                })
                .collect(),
            currency: "EUR".into(),
        }
    }

    /// Creates an order as the holder of `token`.
    pub async fn create_order(
        channel: &Channel,
        token: &str,
        request: CreateOrderRequest,
    ) -> Result<Order, Status> {
        let response = OrdersServiceClient::new(channel.clone())
            .create_order(authed(request, Some(token)))
            .await?;
        response
            .into_inner()
            .order
            .ok_or_else(|| Status::internal("no order in response"))
    }

    /// Reads an order.
    pub async fn get_order(
        channel: &Channel,
        token: Option<&str>,
        id: &str,
    ) -> Result<Order, Status> {
        let request = GetOrderRequest {
            order_transaction_id: id.to_owned(),
        };
        let response = OrdersServiceClient::new(channel.clone())
            .get_order(authed(request, token))
            .await?;
        response
            .into_inner()
            .order
            .ok_or_else(|| Status::internal("no order in response"))
    }

    /// Lists all of the caller's orders (following pages).
    pub async fn list_orders(channel: &Channel, token: &str) -> Result<Vec<Order>, Status> {
        let mut client = OrdersServiceClient::new(channel.clone());
        let mut all = Vec::new();
        let mut page_token = String::new();
        loop {
            let request = ListOrdersRequest {
                page_size: 100,
                page_token: page_token.clone(),
            };
            let page = client
                .list_orders(authed(request, Some(token)))
                .await?
                .into_inner();
            all.extend(page.orders);
            if page.next_page_token.is_empty() {
                return Ok(all);
            }
            page_token = page.next_page_token;
        }
    }

    /// Reads a payment.
    pub async fn get_payment(
        channel: &Channel,
        token: Option<&str>,
        id: &str,
    ) -> Result<Payment, Status> {
        let request = GetPaymentRequest {
            order_transaction_id: id.to_owned(),
        };
        let response = PaymentsServiceClient::new(channel.clone())
            .get_payment(authed(request, token))
            .await?;
        response
            .into_inner()
            .payment
            .ok_or_else(|| Status::internal("no payment in response"))
    }

    /// Lists all of the caller's payments (following pages).
    pub async fn list_payments(channel: &Channel, token: &str) -> Result<Vec<Payment>, Status> {
        let mut client = PaymentsServiceClient::new(channel.clone());
        let mut all = Vec::new();
        let mut page_token = String::new();
        loop {
            let request = ListPaymentsRequest {
                page_size: 100,
                page_token: page_token.clone(),
            };
            let page = client
                .list_payments(authed(request, Some(token)))
                .await?
                .into_inner();
            all.extend(page.payments);
            if page.next_page_token.is_empty() {
                return Ok(all);
            }
            page_token = page.next_page_token;
        }
    }

    /// Waits until the payment for `id` is visible.
    pub async fn wait_payment(
        channel: &Channel,
        token: &str,
        id: &str,
        timeout: Duration,
    ) -> anyhow::Result<Payment> {
        zte_testkit::wait_until(&format!("payment for {id}"), timeout, || async {
            get_payment(channel, Some(token), id).await.ok()
        })
        .await
    }

    /// A plain producer, as an insider with broker access would use to inject records.
    pub fn raw_producer(bootstrap: &str) -> anyhow::Result<FutureProducer> {
        ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("message.max.bytes", "1000000")
            .create()
            .context("creating producer")
    }

    /// Produces `value` under `key` to `topic` and waits for the delivery report.
    pub async fn inject(
        producer: &FutureProducer,
        topic: &str,
        key: &[u8],
        value: &[u8],
    ) -> anyhow::Result<()> {
        producer
            .send(
                FutureRecord::to(topic).key(key).payload(value),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(error, _)| anyhow::anyhow!("inject failed: {error}"))?;
        Ok(())
    }
}

/// Forging and inspecting tokens and events the way an insider would.
pub mod forge {
    use std::path::Path;

    use anyhow::Context as _;
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
    use prost::Message as _;
    use std::time::Duration;

    use zte_auth::{AccessTokenClaims, SigningKey, jws};
    use zte_proto::events::v1::{EventEnvelope, OrderCreated, OrderItem};

    /// The `kid` in a compact JWS header.
    pub fn kid_of(token: &str) -> anyhow::Result<String> {
        let header = zte_auth::jws::UntrustedHeader::parse(token)?;
        header.kid.context("token has no kid")
    }

    /// The (unverified) claims of a compact JWS.
    pub fn claims_of(token: &str) -> anyhow::Result<AccessTokenClaims> {
        let payload = token.split('.').nth(1).context("not a compact JWS")?;
        Ok(serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload)?)?)
    }

    /// Every PKCS#8 signing key under `dir` (the identity service's data directory): the test
    /// plays an insider who stole the key files.
    pub fn signing_keys(dir: &Path) -> anyhow::Result<Vec<SigningKey>> {
        let mut keys = Vec::new();
        let mut dirs = vec![dir.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let path = entry?.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if let Ok(key) = SigningKey::load(&path) {
                    keys.push(key);
                }
            }
        }
        Ok(keys)
    }

    /// The signing key with `kid` under `dir`.
    pub fn find_signing_key(dir: &Path, kid: &str) -> anyhow::Result<SigningKey> {
        signing_keys(dir)?
            .into_iter()
            .find(|k| k.kid() == kid)
            .with_context(|| format!("no key file with kid {kid} under {}", dir.display()))
    }

    /// A fresh, internally consistent `OrderCreated` for `user`.
    pub fn order_created(user: &str) -> OrderCreated {
        OrderCreated {
            order_transaction_id: uuid::Uuid::new_v4().to_string(),
            user_id: user.to_owned(),
            created_at: Some(prost_types::Timestamp {
                seconds: zte_auth::unix_now(),
                nanos: 0,
            }),
            items: vec![OrderItem {
                sku: "FORGED-1".into(),
                quantity: 3,
                unit_price_minor: 700,
            }],
            currency: "EUR".into(),
            total_minor: 2_100,
        }
    }

    /// Event-token claims binding `order` (payload hash `hash`), as identity would issue them.
    pub fn event_claims(issuer: &str, order: &OrderCreated, hash: &str) -> AccessTokenClaims {
        // Issued 5 s ago (clock skew), valid for an hour from now.
        AccessTokenClaims::issued(
            issuer,
            &order.user_id,
            &[],
            "trigger_payments",
            "orders-service",
            zte_auth::unix_now() - 5,
            Duration::from_secs(3_605),
        )
        .for_event("payments-service", &order.order_transaction_id, hash)
    }

    /// Signs `claims` with `key` (PS256, `at+jwt`).
    pub fn sign(key: &SigningKey, claims: &AccessTokenClaims) -> anyhow::Result<String> {
        Ok(jws::sign(key, "at+jwt", claims)?)
    }

    /// A token with an arbitrary raw header and signature (for `alg: none`, HS256, …).
    pub fn raw_token(
        header_json: &str,
        claims: &AccessTokenClaims,
        signature: &[u8],
    ) -> anyhow::Result<String> {
        Ok(format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header_json),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?),
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// An HS256 token whose HMAC secret is the public JWK (the classic key-confusion attack).
    pub fn hs256_with_public_key(
        kid: &str,
        public_jwk_json: &[u8],
        claims: &AccessTokenClaims,
    ) -> anyhow::Result<String> {
        let header = format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"{kid}"}}"#);
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
        );
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, public_jwk_json);
        let tag = ring::hmac::sign(&key, input.as_bytes());
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref())))
    }

    /// The record value for `payload` with `token`.
    pub fn envelope(payload: &[u8], token: &str) -> Vec<u8> {
        EventEnvelope {
            event_type: zte_proto::events::v1::ORDER_CREATED_TYPE.into(),
            payload: payload.to_vec(),
            access_token: token.to_owned(),
        }
        .encode_to_vec()
    }

    /// Decodes a record value as an envelope.
    pub fn decode_envelope(value: &[u8]) -> anyhow::Result<EventEnvelope> {
        Ok(EventEnvelope::decode(value)?)
    }
}

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
            port: free_port()?,
            controller_port: free_port()?,
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
        let _ = std::process::Command::new("bash")
            .arg(zte_testkit::repo_root().join("scripts/kafka.sh"))
            .arg("stop")
            .env("KAFKA_PORT", self.port.to_string())
            .env("KAFKA_RUN_DIR", self.run_dir.path())
            .output();
    }
}
