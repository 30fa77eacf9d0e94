//! The identity service: a small OAuth 2.0 authorization server for the system.
//!
//! - `POST /token` ([`grants`], one module per grant): the password grant for demo users
//!   (public clients allowed by configuration) and RFC 8693 token exchange for confidential
//!   clients authenticated with RFC 7523 `private_key_jwt` ([`assertion`]), issuing RFC 9068
//!   `at+jwt` tokens signed with the active key (ES256 by default, PS256 configurable);
//! - opaque access tokens for internet clients ([`opaque`], the phantom-token pattern):
//!   `POST /introspect` (RFC 7662, with RFC 9701 JWT responses) for the gateway, which swaps
//!   them for the JWT, and `POST /revoke` (RFC 7009) ([`introspection`]);
//! - `GET /jwks`, `GET /.well-known/oauth-authorization-server`, `GET /healthz`.
//!
//! Signing keys live in the data directory ([`keyring`]); the server re-reads it
//! periodically, so `identity rotate-key` takes effect without a restart.
//!
//! [`Application::build`] binds and loads everything; [`Application::run_until`] serves until
//! the shutdown future resolves, then drains within `--shutdown-timeout` (the same
//! `zte_runtime::Shutdown` as the other services). Every request runs in a request span
//! (`TraceLayer::new_for_http`). Tests use port 0 and their own shutdown future.
//!
//! Transport ([`server`]): HTTPS (TLS 1.3, mutual TLS with `--tls-client-ca`, certificates
//! reloaded from disk) by default, plaintext only on a loopback address; the shared listener's
//! connection limit, handshake and idle timeouts, hyper's header-read timeout and a request
//! timeout, so no client can hold the server (slowloris).

pub mod assertion;
pub mod config;
pub mod error;
pub mod grants;
pub mod http;
pub mod introspection;
pub mod keyring;
pub mod opaque;
pub mod registry;
mod server;

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, RwLock, atomic::AtomicBool, atomic::Ordering},
    time::Duration,
};

use zte_auth::{
    Algorithm, JwkSet, JwksCache, KeySpec, TokenValidator, ValidatorConfig, keys::MIN_RSA_BITS,
};
use zte_runtime::{
    Shutdown,
    config::{require_positive, secure_url},
};
use zte_tls::{ALPN_HTTP, ConnectionLimits, Listener, ServerTls};

pub use config::{Cli, Command, IdentityConfig, RevokeKeyArgs, RotateKeyArgs};
pub use error::{ErrorCode, IdentityError, OAuthError};
pub use keyring::{KeyRing, KeyRingError, Revoked, revoke, rotate};
pub use opaque::{MemoryTokenStore, TokenStore};
pub use registry::{DemoClientKeys, Registry};

/// Password verifications allowed at once (argon2 costs ~19 MiB and real CPU each).
const PASSWORD_VERIFY_SLOTS: usize = 4;

/// Token lifetimes and clock skew.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) user_token_lifetime: Duration,
    pub(crate) event_token_lifetime: Duration,
    pub(crate) leeway: Duration,
    /// `Cache-Control` of the JWKS and metadata (from `--jwks-max-age`).
    pub(crate) public_cache_control: axum::http::HeaderValue,
}

/// The current keys and a validator over exactly the published ones (for subject tokens).
#[derive(Debug)]
pub(crate) struct KeyState {
    pub(crate) ring: KeyRing,
    pub(crate) validator: TokenValidator,
}

/// Shared by every request.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) issuer: String,
    pub(crate) token_endpoint: String,
    pub(crate) settings: Settings,
    pub(crate) registry: Arc<Registry>,
    pub(crate) replay: assertion::ReplayCache,
    /// Opaque tokens of internet clients, by hash.
    pub(crate) tokens: Arc<dyn TokenStore>,
    pub(crate) password_throttle: grants::throttle::PasswordThrottle,
    pub(crate) ready: AtomicBool,
    keys: RwLock<Arc<KeyState>>,
    data_dir: PathBuf,
    key_spec: KeySpec,
}

impl AppState {
    /// A snapshot of the current keys.
    pub(crate) fn keys(&self) -> Arc<KeyState> {
        // Poisoning only means a panic mid-swap of an Arc: the old value is intact.
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn key_state(&self, ring: KeyRing) -> KeyState {
        let validator = TokenValidator::new(
            ValidatorConfig {
                issuer: self.issuer.clone(),
                audience: grants::token_exchange::EXCHANGE_SUBJECT_AUDIENCE.to_owned(),
                leeway: self.settings.leeway,
                algorithms: Algorithm::ALL.to_vec(),
            },
            JwksCache::fixed(JwkSet {
                keys: ring.published().to_vec(),
            }),
        );
        KeyState { ring, validator }
    }

    /// Re-reads the key ring; keeps the current keys if that fails.
    async fn reload_keys(self: &Arc<Self>) {
        let state = self.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            load_ring(&state.data_dir, state.key_spec, &state.settings)
        })
        .await;
        match loaded {
            Ok(Ok(ring)) => {
                let current = self.keys();
                if current.ring.active().kid() != ring.active().kid()
                    || current.ring.published() != ring.published()
                {
                    tracing::info!(
                        active = %ring.active().kid(),
                        published = ring.published().len(),
                        "signing keys changed"
                    );
                    let next = Arc::new(self.key_state(ring));
                    *self.keys.write().unwrap_or_else(|p| p.into_inner()) = next;
                }
            }
            Ok(Err(error)) => {
                tracing::error!(%error, "reloading signing keys failed; keeping the current ones")
            }
            Err(error) => tracing::error!(%error, "key reload task failed"),
        }
    }
}

fn load_ring(
    data_dir: &std::path::Path,
    key_spec: KeySpec,
    settings: &Settings,
) -> Result<KeyRing, KeyRingError> {
    let max_lifetime = settings
        .user_token_lifetime
        .max(settings.event_token_lifetime)
        .as_secs();
    KeyRing::load_or_create(
        data_dir,
        key_spec,
        max_lifetime,
        settings.leeway.as_secs(),
        zte_auth::unix_now(),
    )
}

/// A built, bound, not yet serving identity service.
#[derive(Debug)]
pub struct Application {
    listener: Listener,
    local_addr: SocketAddr,
    state: Arc<AppState>,
    reload_interval: Duration,
    shutdown_timeout: Duration,
    header_read_timeout: Duration,
    request_timeout: Duration,
}

impl Application {
    /// Validates the configuration, binds the listener, loads (or creates) the signing keys
    /// and the client/user registry.
    pub async fn build(config: IdentityConfig) -> Result<Self, IdentityError> {
        if config.key_bits < MIN_RSA_BITS {
            return Err(IdentityError::Config(format!(
                "--key-bits {} is too small (min {MIN_RSA_BITS})",
                config.key_bits
            )));
        }
        let key_spec = config
            .key_spec()
            .map_err(|e| IdentityError::Config(format!("--signing-alg/--key-bits: {e}")))?;
        config.check_lifetimes().map_err(IdentityError::Config)?;
        if config.jwks_max_age.as_secs() == 0 {
            return Err(IdentityError::Config(
                "--jwks-max-age must be at least 1s (it is sent in whole seconds)".into(),
            ));
        }
        require_positive(&[
            ("--key-reload-interval", config.key_reload_interval),
            ("--shutdown-timeout", config.shutdown_timeout),
        ])
        .and_then(|()| config.tls.validate(config.listen))
        .and_then(|()| config.limits.validate())
        .map_err(IdentityError::Config)?;
        let issuer = config.issuer.as_deref().map(validate_issuer).transpose()?;
        let server_tls = ServerTls::from_config(&config.tls, ALPN_HTTP)?;
        let listener = Listener::bind(
            config.listen,
            server_tls,
            ConnectionLimits::from(&config.limits),
        )
        .await?;
        let local_addr = listener.local_addr();
        let issuer = issuer.unwrap_or_else(|| format!("{}://{local_addr}", config.tls.scheme()));
        let settings = Settings {
            user_token_lifetime: config.user_token_lifetime,
            event_token_lifetime: config.event_token_lifetime,
            leeway: config.leeway,
            public_cache_control: http::public_cache_control(config.jwks_max_age),
        };

        // The registry first: a bad registry must not leave a freshly generated key behind.
        let (clients_file, demo, orders_jwk, gateway_jwk) = (
            config.clients_file.clone(),
            config.demo,
            config.orders_client_jwk.clone(),
            config.gateway_client_jwk.clone(),
        );
        let registry = tokio::task::spawn_blocking(move || {
            let keys = DemoClientKeys {
                orders: orders_jwk.as_deref(),
                gateway: gateway_jwk.as_deref(),
            };
            Registry::load(clients_file.as_deref(), demo, keys)
        })
        .await
        .map_err(|e| IdentityError::Task(e.to_string()))??;
        let (data_dir, ring_settings) = (config.data_dir.clone(), settings.clone());
        let ring =
            tokio::task::spawn_blocking(move || load_ring(&data_dir, key_spec, &ring_settings))
                .await
                .map_err(|e| IdentityError::Task(e.to_string()))??;
        let (clients, users) = registry.counts();
        tracing::info!(
            %issuer, %local_addr, kid = %ring.active().kid(), alg = %ring.active().algorithm(),
            published_keys = ring.published().len(), clients, users, demo,
            tls = listener.tls().is_some(),
            client_auth = ?listener.tls().and_then(ServerTls::client_auth),
            "identity service built"
        );

        let placeholder = RwLock::new(Arc::new(KeyState {
            validator: TokenValidator::new(
                ValidatorConfig {
                    issuer: String::new(),
                    audience: String::new(),
                    leeway: Duration::ZERO,
                    algorithms: Vec::new(),
                },
                JwksCache::fixed(JwkSet::default()),
            ),
            ring: ring.clone(),
        }));
        let state = Arc::new(AppState {
            token_endpoint: format!("{issuer}/token"),
            issuer,
            settings,
            registry: Arc::new(registry),
            replay: assertion::ReplayCache::default(),
            tokens: Arc::new(MemoryTokenStore::default()),
            password_throttle: grants::throttle::PasswordThrottle::new(
                grants::throttle::PasswordLimits {
                    per_user: config.password_attempts_per_user,
                    per_address: config.password_attempts_per_address,
                    period: Duration::from_secs(60),
                    slots: PASSWORD_VERIFY_SLOTS,
                    queue: config.password_queue,
                },
            ),
            ready: AtomicBool::new(false),
            keys: placeholder,
            data_dir: config.data_dir,
            key_spec,
        });
        let keys = Arc::new(state.key_state(ring));
        *state.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
        Ok(Self {
            listener,
            local_addr,
            state,
            reload_interval: config.key_reload_interval,
            shutdown_timeout: config.shutdown_timeout,
            header_read_timeout: config.limits.handshake_timeout,
            request_timeout: config.limits.request_timeout,
        })
    }

    /// The bound address (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The issuer URL (`iss` of every token).
    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    /// The `kid` of the key new tokens are signed with.
    pub fn active_kid(&self) -> String {
        self.state.keys().ring.active().kid().to_owned()
    }

    /// Serves until `shutdown` resolves (or the server dies), then stops accepting and
    /// finishes in-flight requests within the shutdown deadline.
    pub async fn run_until<F>(self, shutdown: F) -> Result<(), IdentityError>
    where
        F: Future<Output = ()> + Send,
    {
        let tasks = Shutdown::new();
        let state = self.state.clone();
        tasks.spawn_task("key reloader", {
            let state = state.clone();
            let period = self.reload_interval;
            async move {
                let mut ticks = tokio::time::interval(period);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ticks.tick().await; // the first tick is immediate; keys were just loaded
                loop {
                    ticks.tick().await;
                    state.reload_keys().await;
                    state.password_throttle.forget_idle();
                }
            }
        });
        if let Some(tls) = self.listener.tls() {
            tasks.spawn_task("server certificate reloader", tls.reloader());
        }
        state.ready.store(true, Ordering::Release);
        tracing::info!(addr = %self.local_addr, issuer = %state.issuer, "identity service listening");
        let (token, ready_flag) = (tasks.token(), state.clone());
        let stop = async move {
            token.cancelled().await;
            ready_flag.ready.store(false, Ordering::Release);
            tracing::info!("identity service draining");
        };
        let router = http::router(state, self.request_timeout);
        let server = server::serve(
            self.listener.incoming(),
            router,
            self.header_read_timeout,
            stop,
        );
        tasks.spawn_service("HTTP server", async move {
            server.await;
            Ok::<(), std::convert::Infallible>(())
        });
        let drained = tasks.drain_after(shutdown, self.shutdown_timeout).await;
        tracing::info!("identity service stopped");
        Ok(drained?)
    }
}

/// An issuer must be an absolute https URL (http only on loopback) without query or fragment
/// (RFC 8414 §2); a trailing slash is dropped so `{issuer}/token` is well-formed.
fn validate_issuer(issuer: &str) -> Result<String, IdentityError> {
    let url = secure_url("--issuer", issuer).map_err(IdentityError::Config)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(IdentityError::Config(format!(
            "--issuer {issuer:?} must not have a query or fragment"
        )));
    }
    Ok(issuer.trim_end_matches('/').to_owned())
}
