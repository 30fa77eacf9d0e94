//! Shared helpers for the payments integration tests: a tiny identity stand-in (JWKS over
//! HTTP on 127.0.0.1:0, signing keys), builders for valid and hand-forged events, a Kafka
//! producer, and an in-process payments app with gRPC clients.
//!
//! Nothing here mocks Kafka: every record goes through the real broker.

// Each test binary uses a different subset of the helpers.
#![allow(dead_code)]
// Helpers run outside `#[test]` functions; a broken fixture must fail the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::Path,
    sync::{
        Arc, LazyLock, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{Json, Router, http::StatusCode, response::IntoResponse, routing::get};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use payments::{Application, ConsumerStats, PaymentStore, PaymentsConfig, PaymentsError};
use prost::Message as _;
use rdkafka::{
    message::OwnedMessage,
    producer::{FutureProducer, FutureRecord},
};
use tokio::{sync::oneshot, task::JoinHandle};
use tonic::{Request, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use zte_auth::{AccessTokenClaims, JwkSet, SigningKey, jws};
use zte_event::{EncodedEvent, encode_order_created};
use zte_proto::{
    events::v1::{EventEnvelope, ORDER_CREATED_TYPE, OrderCreated, OrderItem},
    payments::v1::{SERVICE_NAME, payments_service_client::PaymentsServiceClient},
};

/// The demo user every valid event is for.
pub(crate) const USER: &str = "demouser";
/// A second user, for "other user's payment" checks.
pub(crate) const OTHER_USER: &str = "demouser2";
/// How long a test waits for the pipeline to catch up.
pub(crate) const WAIT: Duration = Duration::from_secs(60);

/// Keys are slow to generate, so each test binary makes them once.
static KEYS: LazyLock<(SigningKey, SigningKey)> = LazyLock::new(|| {
    (
        SigningKey::generate(2048).unwrap(),
        SigningKey::generate(2048).unwrap(),
    )
});

/// A stand-in for the identity service: serves a JWKS and signs tokens like it would.
#[derive(Debug)]
pub(crate) struct TestIdentity {
    /// `http://127.0.0.1:<port>`; the JWKS is at `{issuer}/jwks`.
    pub(crate) issuer: String,
    /// The published signing key.
    pub(crate) key: SigningKey,
    /// A key the JWKS never publishes.
    pub(crate) foreign: SigningKey,
    available: Arc<AtomicBool>,
    server: JoinHandle<()>,
}

impl Drop for TestIdentity {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestIdentity {
    /// Starts the JWKS server (answering 503 while unavailable).
    pub(crate) async fn start(available: bool) -> Self {
        let (key, foreign) = KEYS.clone();
        let flag = Arc::new(AtomicBool::new(available));
        let jwks = Arc::new(RwLock::new(JwkSet {
            keys: vec![key.public_jwk()],
        }));
        let router = Router::new().route(
            "/jwks",
            get({
                let flag = flag.clone();
                move || async move {
                    if flag.load(Ordering::SeqCst) {
                        Json(jwks.read().unwrap().clone()).into_response()
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE.into_response()
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            issuer,
            key,
            foreign,
            available: flag,
            server,
        }
    }

    /// Makes the JWKS endpoint answer (true) or fail with 503 (false).
    pub(crate) fn set_available(&self, available: bool) {
        self.available.store(available, Ordering::SeqCst);
    }

    /// Claims of the event token Orders would get for `order` by token exchange.
    pub(crate) fn event_claims(
        &self,
        order: &OrderCreated,
        payload_hash: &str,
    ) -> AccessTokenClaims {
        AccessTokenClaims::issued(
            &self.issuer,
            &order.user_id,
            &[],
            "trigger_payments",
            "orders-service",
            zte_auth::unix_now(),
            Duration::from_secs(365 * 24 * 3600),
        )
        .for_event(
            "payments-service",
            &order.order_transaction_id,
            payload_hash,
        )
    }

    /// A user access token (password grant shape) for `user`.
    pub(crate) fn user_token(&self, user: &str) -> String {
        self.sign(&AccessTokenClaims::issued(
            &self.issuer,
            user,
            &["orders-service", "payments-service"],
            "orders payments",
            "demo-cli",
            zte_auth::unix_now(),
            Duration::from_secs(300),
        ))
    }

    /// Signs with the published key.
    pub(crate) fn sign(&self, claims: &AccessTokenClaims) -> String {
        jws::sign(&self.key, "at+jwt", claims).unwrap()
    }

    /// Signs with the foreign key but names the published key's kid.
    pub(crate) fn sign_foreign_under_known_kid(&self, claims: &AccessTokenClaims) -> String {
        let token = jws::sign(&self.foreign, "at+jwt", claims).unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[0] = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"PS256","typ":"at+jwt","kid":"{}"}}"#,
            self.key.kid()
        ));
        parts.join(".")
    }

    /// Signs with the foreign key under its own (unpublished) kid.
    pub(crate) fn sign_with_unknown_key(&self, claims: &AccessTokenClaims) -> String {
        jws::sign(&self.foreign, "at+jwt", claims).unwrap()
    }

    /// An unsigned `alg: none` token naming the published kid.
    pub(crate) fn alg_none(&self, claims: &AccessTokenClaims) -> String {
        let header = format!(
            r#"{{"alg":"none","typ":"at+jwt","kid":"{}"}}"#,
            self.key.kid()
        );
        format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
        )
    }

    /// HS256 "signed" with the published public key (its JWK JSON) as the HMAC secret.
    pub(crate) fn hs256_with_public_key(&self, claims: &AccessTokenClaims) -> String {
        let secret = serde_json::to_vec(&self.key.public_jwk()).unwrap();
        let header = format!(
            r#"{{"alg":"HS256","typ":"at+jwt","kid":"{}"}}"#,
            self.key.kid()
        );
        let body = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
        );
        let tag = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret),
            body.as_bytes(),
        );
        format!("{body}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }
}

/// A fresh order for `user`: two items adding up to 2 * 1250 + 1 * 499 = 2999.
pub(crate) fn order(user: &str) -> OrderCreated {
    OrderCreated {
        order_transaction_id: uuid::Uuid::new_v4().to_string(),
        user_id: user.into(),
        created_at: Some(prost_types::Timestamp {
            seconds: zte_auth::unix_now(),
            nanos: 123_000_000,
        }),
        items: vec![
            OrderItem {
                sku: "SKU-1".into(),
                quantity: 2,
                unit_price_minor: 1250,
            },
            OrderItem {
                sku: "SKU-2".into(),
                quantity: 1,
                unit_price_minor: 499,
            },
        ],
        currency: "EUR".into(),
        total_minor: 2999,
    }
}

/// One Kafka record: key and value exactly as produced.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    /// Record key.
    pub(crate) key: Option<Vec<u8>>,
    /// Record value.
    pub(crate) value: Option<Vec<u8>>,
}

/// A valid event as Orders would publish it.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    /// The order.
    pub(crate) order: OrderCreated,
    /// Its encoded payload and hash.
    pub(crate) encoded: EncodedEvent,
    /// The event token.
    pub(crate) token: String,
}

impl Event {
    /// A valid event for a fresh order of `user`.
    pub(crate) fn valid(identity: &TestIdentity, user: &str) -> Self {
        Self::for_order(identity, order(user))
    }

    /// A valid event for `order` (whatever it contains), token bound to its bytes.
    pub(crate) fn for_order(identity: &TestIdentity, order: OrderCreated) -> Self {
        let encoded = encode_order_created(&order);
        let token = identity.sign(&identity.event_claims(&order, &encoded.payload_hash));
        Self {
            order,
            encoded,
            token,
        }
    }

    /// The order id.
    pub(crate) fn id(&self) -> &str {
        &self.order.order_transaction_id
    }

    /// The record: key = order id, value = envelope(payload, token).
    pub(crate) fn record(&self) -> Record {
        self.record_with(&self.encoded.payload, &self.token)
    }

    /// The record with this event's key and a custom payload and token.
    pub(crate) fn record_with(&self, payload: &[u8], token: &str) -> Record {
        Record {
            key: Some(self.id().as_bytes().to_vec()),
            value: Some(envelope(ORDER_CREATED_TYPE, payload, token)),
        }
    }
}

/// An encoded `EventEnvelope`.
pub(crate) fn envelope(event_type: &str, payload: &[u8], token: &str) -> Vec<u8> {
    EventEnvelope {
        event_type: event_type.into(),
        payload: payload.to_vec(),
        access_token: token.into(),
    }
    .encode_to_vec()
}

/// The source and dead-letter topics of one test (one partition each, so order is total).
#[derive(Debug, Clone)]
pub(crate) struct Topics {
    /// Source topic.
    pub(crate) topic: String,
    /// Dead-letter topic.
    pub(crate) dlq: String,
    /// Consumer group.
    pub(crate) group: String,
}

impl Topics {
    /// Creates fresh topics with `partitions` source partitions.
    pub(crate) async fn create(partitions: i32) -> Self {
        let bootstrap = zte_testkit::kafka_bootstrap();
        let topic = zte_testkit::unique_name("payments-test");
        let dlq = format!("{topic}.dlq");
        zte_testkit::create_topic(&bootstrap, &topic, partitions)
            .await
            .unwrap();
        zte_testkit::create_topic(&bootstrap, &dlq, 1)
            .await
            .unwrap();
        Self {
            topic,
            dlq,
            group: zte_testkit::unique_name("payments-group"),
        }
    }
}

/// The app's config for a test: port 0, the test's topics and data dir, fast JWKS cooldown.
pub(crate) fn config(identity: &TestIdentity, topics: &Topics, data_dir: &Path) -> PaymentsConfig {
    let mut config = PaymentsConfig::with_defaults(&identity.issuer);
    config.service.listen = "127.0.0.1:0".parse().unwrap();
    config.service.kafka_bootstrap = zte_testkit::kafka_bootstrap();
    config.service.topic = topics.topic.clone();
    config.dlq_topic = Some(topics.dlq.clone());
    config.group_id = topics.group.clone();
    config.service.data_dir = data_dir.to_path_buf();
    config.service.jwks_refresh_cooldown = Duration::from_secs(1);
    config.max_record_bytes = 16 * 1024;
    config.stats_interval = Duration::from_secs(5);
    config
}

/// A payments app running in-process.
#[derive(Debug)]
pub(crate) struct TestApp {
    /// gRPC address.
    pub(crate) addr: std::net::SocketAddr,
    /// Live counters.
    pub(crate) stats: Arc<ConsumerStats>,
    /// The app's database.
    pub(crate) store: PaymentStore,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), PaymentsError>>,
}

impl TestApp {
    /// Builds and starts the app.
    pub(crate) async fn spawn(config: PaymentsConfig) -> Self {
        zte_testkit::init_test_logging();
        let app = Application::build(config).await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let addr = app.local_addr();
        let stats = app.stats();
        let store = app.store();
        let task = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stats,
            store,
            stop: Some(stop),
            task,
        }
    }

    /// Triggers a graceful shutdown and waits for it.
    pub(crate) async fn stop(mut self) -> Result<(), PaymentsError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap()
    }

    /// Waits until `stats` satisfies `done`.
    pub(crate) async fn wait_stats(
        &self,
        what: &str,
        done: impl Fn(payments::StatsSnapshot) -> bool,
    ) {
        let stats = self.stats.clone();
        zte_testkit::wait_until(what, WAIT, || {
            let snapshot = stats.snapshot();
            let ok = done(snapshot);
            async move { ok.then_some(()) }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}; stats: {:?}", self.stats.snapshot()));
    }

    /// A gRPC channel to the app.
    pub(crate) async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// A PaymentsService client.
    pub(crate) async fn client(&self) -> PaymentsServiceClient<Channel> {
        PaymentsServiceClient::new(self.channel().await)
    }

    /// The health status of `payments.v1.PaymentsService`.
    pub(crate) async fn health(&self) -> ServingStatus {
        let mut client = HealthClient::new(self.channel().await);
        let response = client
            .check(HealthCheckRequest {
                service: SERVICE_NAME.into(),
            })
            .await
            .unwrap();
        ServingStatus::try_from(response.into_inner().status).unwrap()
    }

    /// Waits until health reports `status`.
    pub(crate) async fn wait_health(&self, status: ServingStatus) {
        zte_testkit::wait_until(&format!("health {status:?}"), WAIT, || async move {
            (self.health().await == status).then_some(())
        })
        .await
        .unwrap();
    }
}

/// A request carrying `token` as its bearer token.
pub(crate) fn with_token<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// A producer for hand-crafted records.
pub(crate) fn producer() -> FutureProducer {
    zte_kafka::idempotent_producer_config(
        &zte_testkit::kafka_bootstrap(),
        "payments-test-producer",
        Duration::from_secs(30),
    )
    .create()
    .unwrap()
}

/// Produces `record` to `topic` (partition 0 when `partition0`) and waits for the broker's ack.
pub(crate) async fn produce(producer: &FutureProducer, topic: &str, record: &Record) -> (i32, i64) {
    let mut future: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic);
    if let Some(key) = &record.key {
        future = future.key(key.as_slice());
    }
    if let Some(value) = &record.value {
        future = future.payload(value.as_slice());
    }
    let delivery = producer
        .send(future, Duration::from_secs(30))
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    (delivery.partition, delivery.offset)
}

/// Reads the first `count` records of `topic` (fewer if they do not arrive in time).
pub(crate) async fn read_topic(topic: &str, count: usize) -> Vec<OwnedMessage> {
    let consumer =
        zte_testkit::consumer_from_start(&zte_testkit::kafka_bootstrap(), topic).unwrap();
    zte_testkit::collect_records(&consumer, count, WAIT).await
}

/// Number of records ever written to partition 0 of `topic` (its high watermark).
pub(crate) fn record_count(topic: &str) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer as _};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", zte_testkit::kafka_bootstrap())
        .create()
        .unwrap();
    let (_low, high) = consumer
        .fetch_watermarks(topic, 0, Duration::from_secs(10))
        .unwrap();
    high
}
