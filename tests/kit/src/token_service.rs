//! The token-service stand-in for tests of Orders or Payments alone: a real HTTP server on a
//! free loopback port serving a JWKS and an RFC 8693 token-exchange endpoint, signing with a
//! test key, so a test can mint tokens with any claims. It can be switched off (every
//! endpoint answers 503) to play an outage, holds a foreign key the JWKS never publishes,
//! can publish more keys later (a rotation), and counts the JWKS requests it answers.
//!
//! Tests that need the real authorization server use [`crate::identity::IdentityApp`].

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, LazyLock, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Form, Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use tokio::task::JoinHandle;
use zte_auth::{
    AccessTokenClaims, ClientAssertionClaims, JwkSet, JwksCache, SigningKey, TokenValidator,
    ValidatorConfig,
};
use zte_proto::events::v1::OrderCreated;

use crate::{
    events::{Event, order_created},
    forge::{self, AT_JWT},
    tokens::{ORDERS_SERVICE, PAYMENTS_SERVICE, USER_SCOPE, orders_client_key, test_key},
};

/// Lifetime of the event tokens the stand-in issues (Identity's default: 7 days).
const EVENT_TOKEN_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// The published and the foreign key: slow to generate, so made once per test binary.
static KEYS: LazyLock<(SigningKey, SigningKey)> = LazyLock::new(|| (test_key(), test_key()));

/// A running stand-in. Stopped when dropped.
#[derive(Debug)]
pub struct TokenService {
    /// Its address.
    pub addr: SocketAddr,
    /// `http://127.0.0.1:<port>`: the JWKS is at `{issuer}/jwks`, the token endpoint at
    /// `{issuer}/token`.
    pub issuer: String,
    /// The published signing key.
    pub key: SigningKey,
    /// A key the JWKS never publishes.
    pub foreign: SigningKey,
    available: Arc<AtomicBool>,
    published: Arc<Mutex<Vec<zte_auth::PublicJwk>>>,
    jwks_requests: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for TokenService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct ServerState {
    issuer: String,
    key: SigningKey,
    available: Arc<AtomicBool>,
    published: Arc<Mutex<Vec<zte_auth::PublicJwk>>>,
    jwks_requests: Arc<AtomicUsize>,
    subject_tokens: TokenValidator,
}

impl TokenService {
    /// Starts on a free port, answering.
    pub async fn start() -> Self {
        Self::start_with(true).await
    }

    /// Starts on a free port, answering 503 until [`Self::set_available`].
    pub async fn start_unavailable() -> Self {
        Self::start_with(false).await
    }

    async fn start_with(available: bool) -> Self {
        crate::init_test_logging();
        let (key, foreign) = KEYS.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the token service");
        let addr = listener.local_addr().expect("a bound address");
        let issuer = format!("http://{addr}");
        let available = Arc::new(AtomicBool::new(available));
        let published = Arc::new(Mutex::new(vec![key.public_jwk()]));
        let jwks_requests = Arc::new(AtomicUsize::new(0));
        let state = ServerState {
            issuer: issuer.clone(),
            key: key.clone(),
            available: available.clone(),
            published: published.clone(),
            jwks_requests: jwks_requests.clone(),
            subject_tokens: fixed_validator(&issuer, ORDERS_SERVICE, &key),
        };
        let router = Router::new()
            .route("/jwks", get(jwks))
            .route("/token", post(token_exchange))
            .with_state(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            addr,
            issuer,
            key,
            foreign,
            available,
            published,
            jwks_requests,
            task,
        }
    }

    /// Publishes `key` in the JWKS too (a rotation: tokens it signs validate once a
    /// validator has refreshed).
    pub fn publish(&self, key: &SigningKey) {
        self.published
            .lock()
            .expect("the published keys")
            .push(key.public_jwk());
    }

    /// How many JWKS requests were answered (with keys or with 503).
    pub fn jwks_requests(&self) -> usize {
        self.jwks_requests.load(Ordering::SeqCst)
    }

    /// Makes every endpoint answer (true) or fail with 503 (false).
    pub fn set_available(&self, available: bool) {
        self.available.store(available, Ordering::SeqCst);
    }

    /// Claims of a user token of this issuer for `sub` (scope `orders payments`).
    pub fn user_claims(&self, sub: &str) -> AccessTokenClaims {
        crate::tokens::user_claims(&self.issuer, sub, USER_SCOPE)
    }

    /// A user token for `sub`, signed with the published key.
    pub fn user_token(&self, sub: &str) -> String {
        self.sign(&self.user_claims(sub))
    }

    /// Signs any claims with the published key (`typ: at+jwt`).
    pub fn sign(&self, claims: &AccessTokenClaims) -> String {
        forge::sign(&self.key, AT_JWT, claims)
    }

    /// A valid event for a fresh order of `user`, as Orders would publish it.
    pub fn event(&self, user: &str) -> Event {
        self.event_for(order_created(user))
    }

    /// A valid event for `order` (whatever it contains), its token bound to its bytes.
    pub fn event_for(&self, order: OrderCreated) -> Event {
        Event::signed(order, &self.key, &self.issuer)
    }

    /// A validator for tokens of this issuer with `audience`, knowing the published key.
    pub fn validator(&self, audience: &str) -> TokenValidator {
        fixed_validator(&self.issuer, audience, &self.key)
    }
}

fn fixed_validator(issuer: &str, audience: &str, key: &SigningKey) -> TokenValidator {
    TokenValidator::new(
        ValidatorConfig {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            leeway: Duration::from_secs(5),
            algorithms: zte_auth::Algorithm::ALL.to_vec(),
        },
        JwksCache::fixed(JwkSet {
            keys: vec![key.public_jwk()],
        }),
    )
}

async fn jwks(State(state): State<ServerState>) -> Response {
    state.jwks_requests.fetch_add(1, Ordering::SeqCst);
    if !state.available.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let keys = state.published.lock().expect("the published keys").clone();
    Json(JwkSet { keys }).into_response()
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, Json(serde_json::json!({ "error": error }))).into_response()
}

/// RFC 8693 token exchange, checking what the real server checks that matters to Orders: the
/// client assertion (signed by the registered Orders key) and the subject token.
async fn token_exchange(
    State(state): State<ServerState>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !state.available.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    if field("grant_type") != zte_auth::oauth::GRANT_TYPE_TOKEN_EXCHANGE {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let assertion: Result<ClientAssertionClaims, _> = zte_auth::jws::verify(
        &field("client_assertion"),
        orders_client_key().verifying_key(),
    );
    match assertion {
        Ok(claims) if claims.sub == ORDERS_SERVICE && claims.aud.contains(&state.issuer) => {}
        _ => return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client"),
    }
    let Ok(subject) = state.subject_tokens.validate(&field("subject_token")).await else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let claims = AccessTokenClaims::issued(
        &state.issuer,
        &subject.sub,
        &[],
        zte_auth::names::SCOPE_TRIGGER_PAYMENTS,
        ORDERS_SERVICE,
        zte_auth::unix_now(),
        EVENT_TOKEN_LIFETIME,
    )
    .for_event(
        PAYMENTS_SERVICE,
        &field("order_transaction_id"),
        &field("event_payload_hash"),
    );
    Json(serde_json::json!({
        "access_token": forge::sign(&state.key, AT_JWT, &claims),
        "token_type": "Bearer",
        "issued_token_type": zte_auth::oauth::TOKEN_TYPE_ACCESS_TOKEN,
        "expires_in": EVENT_TOKEN_LIFETIME.as_secs(),
        "scope": zte_auth::names::SCOPE_TRIGGER_PAYMENTS,
    }))
    .into_response()
}
