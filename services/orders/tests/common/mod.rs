//! Shared test harness: the Orders service in-process (port 0, fresh data dir, random topic,
//! real Kafka) and a small in-test authorization server (JWKS + RFC 8693 token exchange)
//! signing with a test key, so tokens with any claims can be minted.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::{collections::HashMap, net::SocketAddr, path::PathBuf, sync::LazyLock, time::Duration};

use axum::{Form, Json, Router, extract::State, http::StatusCode, routing::get, routing::post};
use orders::{Application, OrdersConfig};
use rdkafka::{Message as _, consumer::StreamConsumer, message::OwnedMessage};
use tokio::{sync::oneshot, task::JoinHandle};
use tonic::{Request, transport::Channel};
use zte_auth::{
    AccessTokenClaims, Actor, ClientAssertionClaims, JwkSet, JwksCache, SigningKey, TokenValidator,
    ValidatorConfig, claims::Audience,
};
use zte_proto::orders::v1::{
    CreateOrderRequest, OrderItem, orders_service_client::OrdersServiceClient,
};

/// The test authorization server's signing key (generated once per test binary).
pub static AS_KEY: LazyLock<SigningKey> =
    LazyLock::new(|| SigningKey::generate(2048).expect("key"));
/// The Orders client key registered at the test authorization server.
pub static CLIENT_KEY: LazyLock<SigningKey> =
    LazyLock::new(|| SigningKey::generate(2048).expect("key"));

/// An in-test authorization server.
pub struct TestAuthServer {
    pub addr: SocketAddr,
    pub issuer: String,
    task: JoinHandle<()>,
}

impl Drop for TestAuthServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct AsState {
    issuer: String,
    validator: TokenValidator,
}

impl TestAuthServer {
    /// Starts on a free port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(listener).await
    }

    /// Starts on `listener`.
    pub async fn start_on(listener: tokio::net::TcpListener) -> Self {
        let addr = listener.local_addr().unwrap();
        let issuer = format!("http://{addr}");
        let validator = TokenValidator::new(
            ValidatorConfig {
                issuer: issuer.clone(),
                audience: "orders-service".into(),
                leeway: Duration::from_secs(5),
            },
            JwksCache::fixed(JwkSet {
                keys: vec![AS_KEY.public_jwk()],
            }),
        );
        let state = AsState {
            issuer: issuer.clone(),
            validator,
        };
        let app = Router::new()
            .route(
                "/jwks",
                get(|| async {
                    Json(JwkSet {
                        keys: vec![AS_KEY.public_jwk()],
                    })
                }),
            )
            .route("/token", post(token_exchange))
            .with_state(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, issuer, task }
    }

    /// A user token with `scope`, for `sub`, valid for a minute.
    pub fn user_token(&self, sub: &str) -> String {
        self.sign(user_claims(&self.issuer, sub))
    }

    /// Signs arbitrary claims with the server's key.
    pub fn sign(&self, claims: AccessTokenClaims) -> String {
        zte_auth::jws::sign(&AS_KEY, "at+jwt", &claims).unwrap()
    }

    /// Claims of a normal user token from this issuer.
    pub fn claims(&self, sub: &str) -> AccessTokenClaims {
        user_claims(&self.issuer, sub)
    }

    /// A validator for event tokens (audience payments-service).
    pub fn event_validator(&self) -> TokenValidator {
        TokenValidator::new(
            ValidatorConfig {
                issuer: self.issuer.clone(),
                audience: "payments-service".into(),
                leeway: Duration::from_secs(5),
            },
            JwksCache::fixed(JwkSet {
                keys: vec![AS_KEY.public_jwk()],
            }),
        )
    }
}

pub fn user_claims(issuer: &str, sub: &str) -> AccessTokenClaims {
    AccessTokenClaims::issued(
        issuer,
        sub,
        &["orders-service", "payments-service"],
        "orders payments",
        "demo-cli",
        zte_auth::unix_now(),
        Duration::from_secs(60),
    )
}

type Reply = (StatusCode, Json<serde_json::Value>);

fn oauth_error(status: StatusCode, error: &str) -> Reply {
    (status, Json(serde_json::json!({ "error": error })))
}

/// RFC 8693 token exchange, checking what the real server checks that matters here: the
/// client assertion (signed by the registered Orders key) and the subject token.
async fn token_exchange(
    State(state): State<AsState>,
    Form(form): Form<HashMap<String, String>>,
) -> Reply {
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    if field("grant_type") != zte_auth::oauth::GRANT_TYPE_TOKEN_EXCHANGE {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let assertion: Result<ClientAssertionClaims, _> =
        zte_auth::jws::verify(&field("client_assertion"), CLIENT_KEY.verifying_key());
    match assertion {
        Ok(claims) if claims.sub == "orders-service" && claims.aud.contains(&state.issuer) => {}
        _ => return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client"),
    }
    let Ok(subject) = state.validator.validate(&field("subject_token")).await else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let now = zte_auth::unix_now();
    let claims = AccessTokenClaims {
        iss: state.issuer.clone(),
        sub: subject.sub,
        aud: Audience::One("payments-service".into()),
        exp: now + 365 * 24 * 3600,
        nbf: now,
        iat: now,
        jti: uuid::Uuid::new_v4().to_string(),
        scope: "trigger_payments".into(),
        client_id: "orders-service".into(),
        act: Some(Actor {
            sub: "orders-service".into(),
        }),
        order_transaction_id: Some(field("order_transaction_id")),
        event_payload_hash: Some(field("event_payload_hash")),
    };
    let token = zte_auth::jws::sign(&AS_KEY, "at+jwt", &claims).unwrap();
    (
        StatusCode::OK,
        Json(serde_json::json!({
            "access_token": token,
            "token_type": "Bearer",
            "issued_token_type": zte_auth::oauth::TOKEN_TYPE_ACCESS_TOKEN,
            "expires_in": 365 * 24 * 3600,
            "scope": "trigger_payments",
        })),
    )
}

/// A running Orders service.
pub struct TestApp {
    pub addr: SocketAddr,
    pub topic: String,
    pub data_dir: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), orders::OrdersError>>>,
}

impl TestApp {
    /// Stops the service gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            let result = tokio::time::timeout(Duration::from_secs(30), handle)
                .await
                .expect("shutdown within the deadline");
            result.unwrap().unwrap();
        }
    }

    pub async fn client(&self) -> OrdersServiceClient<Channel> {
        OrdersServiceClient::connect(format!("http://{}", self.addr))
            .await
            .unwrap()
    }

    pub async fn health(&self) -> tonic_health::pb::health_client::HealthClient<Channel> {
        let channel = Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
        tonic_health::pb::health_client::HealthClient::new(channel)
    }

    /// A consumer reading this app's topic from the beginning.
    pub fn consumer(&self) -> StreamConsumer {
        zte_testkit::consumer_from_start(&zte_testkit::kafka_bootstrap(), &self.topic).unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.abort();
        }
    }
}

/// A configuration for a fresh app against `issuer` (topic created on the real broker).
pub async fn config(issuer: &str, data_dir: PathBuf) -> OrdersConfig {
    let topic = zte_testkit::unique_name("orders-test");
    zte_testkit::create_topic(&zte_testkit::kafka_bootstrap(), &topic, 1)
        .await
        .unwrap();
    let mut config = OrdersConfig::with_defaults(issuer, data_dir);
    config.service.listen = "127.0.0.1:0".parse().unwrap();
    config.service.kafka_bootstrap = zte_testkit::kafka_bootstrap();
    config.service.topic = topic;
    config.service.jwks_refresh_cooldown = Duration::from_millis(200);
    config.service.shutdown_timeout = Duration::from_secs(5);
    config
}

/// Writes the shared test client key into the data dir and starts the app.
pub async fn spawn_app(config: OrdersConfig) -> TestApp {
    zte_testkit::init_test_logging();
    std::fs::create_dir_all(&config.service.data_dir).unwrap();
    let key_path = config.client_key_path();
    if !key_path.exists() {
        CLIENT_KEY.store(&key_path).unwrap();
    }
    let topic = config.service.topic.clone();
    let data_dir = config.service.data_dir.clone();
    let app = Application::build(config).await.unwrap();
    let addr = app.local_addr();
    let (tx, rx) = oneshot::channel();
    let handle = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        topic,
        data_dir,
        shutdown: Some(tx),
        handle: Some(handle),
    }
}

/// `message` with `authorization: Bearer <token>`.
pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// A valid order request with a random request id.
pub fn order_request() -> CreateOrderRequest {
    CreateOrderRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        items: vec![
            OrderItem {
                sku: "SKU-1".into(),
                quantity: 2,
                unit_price_minor: 1250,
            },
            OrderItem {
                sku: "SKU-2".into(),
                quantity: 1,
                unit_price_minor: 99,
            },
        ],
        currency: "EUR".into(),
    }
}

/// Every record arriving on the app's topic within `quiet` of the last one.
pub async fn records(consumer: &StreamConsumer, quiet: Duration) -> Vec<OwnedMessage> {
    zte_testkit::drain_records(consumer, quiet).await
}

/// The key of a record as UTF-8.
pub fn key(record: &OwnedMessage) -> String {
    String::from_utf8_lossy(record.key().unwrap_or_default()).into_owned()
}

/// A loopback port with nothing listening (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Number of records ever written to partition 0 of `topic` (test topics have one
/// partition): exact, unlike "nothing arrived within a quiet period".
pub async fn record_count(topic: &str) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer as _};
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", zte_testkit::kafka_bootstrap())
            .create()
            .unwrap();
        let (low, high) = consumer
            .fetch_watermarks(&topic, 0, Duration::from_secs(10))
            .unwrap();
        high - low
    })
    .await
    .unwrap()
}

/// The services listed by gRPC reflection (v1).
pub async fn reflection_services(app: &TestApp) -> Vec<String> {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    match stream.message().await.unwrap().unwrap().message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection response {other:?}"),
    }
}
