//! The real identity service in-process: a free loopback port, a fresh data directory, the
//! demo registry, and the shared `orders-service` client key registered; one method per
//! endpoint (`app.password_grant(..)`, `app.exchange(..)`), answers as [`Reply`] values.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context as _;
use identity::{Application, IdentityConfig, IdentityError};
use serde_json::Value;
use tempfile::TempDir;
use zte_auth::{
    ClientAssertionClaims, JwksCache, SigningKey, TokenValidator, ValidatorConfig,
    claims::Audience, oauth_client,
};

use crate::running::Running;
use crate::tokens::{
    DEMO_CLIENT, DEMO_INTERNET_CLIENT, DEMO_USERS, GATEWAY_CLIENT, ORDERS_SERVICE, USER_SCOPE,
    gateway_client_key, orders_client_key,
};

/// `grant_type` of the password grant.
pub const PASSWORD: &str = zte_auth::oauth::GRANT_TYPE_PASSWORD;
/// `grant_type` of RFC 8693 token exchange.
pub const EXCHANGE: &str = zte_auth::oauth::GRANT_TYPE_TOKEN_EXCHANGE;
/// `subject_token_type` / `issued_token_type` of an access token.
pub const ACCESS_TOKEN_TYPE: &str = zte_auth::oauth::TOKEN_TYPE_ACCESS_TOKEN;
/// `client_assertion_type` of `private_key_jwt`.
pub const JWT_BEARER: &str = zte_auth::oauth::CLIENT_ASSERTION_TYPE_JWT_BEARER;

/// An identity configuration for a test, before the server starts: adjust `config`, then
/// [`Self::spawn`].
#[derive(Debug)]
pub struct IdentitySetup {
    /// The configuration the server will run with.
    pub config: IdentityConfig,
    root: Option<Arc<TempDir>>,
}

impl IdentitySetup {
    /// Data in a fresh temp dir, plaintext on loopback (set `config.tls`, e.g.
    /// `pki().tls("identity")`, for HTTPS).
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("creating a temp dir");
        let mut setup = Self::in_dir(dir.path().to_path_buf());
        setup.root = Some(Arc::new(dir));
        setup
    }

    /// Data in `root/identity`, the public JWKs of the Orders and gateway clients in
    /// `root/orders.jwk.json` and `root/gateway.jwk.json` (`root` outlives the server: a
    /// restart on the same data).
    pub fn in_dir(root: PathBuf) -> Self {
        let write_jwk = |key: SigningKey, name: &str| {
            let path = root.join(name);
            key.write_public_jwk(&path)
                .expect("writing a client's public JWK");
            path
        };
        let mut config = IdentityConfig::local(root.join("identity"));
        config.demo = true;
        config.orders_client_jwk = Some(write_jwk(orders_client_key(), "orders.jwk.json"));
        config.gateway_client_jwk = Some(write_jwk(gateway_client_key(), "gateway.jwk.json"));
        Self { config, root: None }
    }

    /// Builds and starts the server.
    pub async fn spawn(self) -> IdentityApp {
        crate::init_test_logging();
        let data_dir = self.config.data_dir.clone();
        let app = Application::build(self.config)
            .await
            .expect("building the identity app");
        let addr = app.local_addr();
        let issuer = app.issuer().to_owned();
        let active_kid = app.active_kid();
        let running = Running::spawn(|stop| app.run_until(stop));
        IdentityApp {
            addr,
            http: crate::pki::http_client_for(&issuer),
            issuer,
            data_dir,
            orders_key: orders_client_key(),
            active_kid,
            running,
            _root: self.root,
        }
    }
}

impl Default for IdentitySetup {
    fn default() -> Self {
        Self::new()
    }
}

/// A running identity service. Aborted when dropped.
#[derive(Debug)]
pub struct IdentityApp {
    /// HTTP address.
    pub addr: SocketAddr,
    /// Its issuer URL.
    pub issuer: String,
    /// Its data directory (signing keys).
    pub data_dir: PathBuf,
    /// An HTTP client.
    pub http: reqwest::Client,
    /// The registered `orders-service` client key.
    pub orders_key: SigningKey,
    /// The `kid` of the signing key active at start.
    pub active_kid: String,
    running: Running<IdentityError>,
    _root: Option<Arc<TempDir>>,
}

/// An HTTP answer: status, headers and the body as JSON (a JSON string if it is not JSON).
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// Response body.
    pub body: Value,
}

impl Reply {
    async fn read(response: reqwest::Response) -> anyhow::Result<Self> {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await?;
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Ok(Self {
            status,
            headers,
            body,
        })
    }

    /// The RFC 6749 `error` code (`<none>` without one).
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("<none>")
    }

    /// The issued `access_token`; the reply must be a 200.
    #[track_caller]
    pub fn token(&self) -> String {
        assert_eq!(self.status, 200, "expected a token: {}", self.body);
        self.body["access_token"]
            .as_str()
            .expect("an access_token")
            .to_owned()
    }

    /// Asserts the status and RFC 6749 error `code` of the reply to `case`.
    #[track_caller]
    pub fn assert_refused(&self, status: u16, code: &str, case: &str) {
        assert_eq!(
            (self.status, self.error()),
            (status, code),
            "{case}: {}",
            self.body
        );
    }

    /// Asserts an RFC 6749 error with `status` and `code`, with a description and no-store.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        self.assert_refused(status, code, "body");
        assert!(
            self.body["error_description"].is_string(),
            "no description: {}",
            self.body
        );
        assert_eq!(self.headers["cache-control"], "no-store");
        if code == "invalid_client" {
            assert!(self.headers.contains_key("www-authenticate"));
        }
    }
}

/// A user token from the identity service at `issuer` by the password grant of the demo
/// client (scope `orders payments`).
pub async fn user_token(issuer: &str, user: &str, password: &str) -> anyhow::Result<String> {
    let response = crate::pki::http_client_for(issuer)
        .post(format!("{issuer}/token"))
        .form(&[
            ("grant_type", PASSWORD),
            ("client_id", DEMO_CLIENT),
            ("username", user),
            ("password", password),
            ("scope", USER_SCOPE),
        ])
        .send()
        .await?;
    let reply = Reply::read(response).await?;
    anyhow::ensure!(
        reply.status == 200,
        "password grant for {user} failed: {} {}",
        reply.status,
        reply.body
    );
    reply.body["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("token response without access_token")
}

impl IdentityApp {
    /// A fresh server with every default of [`IdentitySetup::new`].
    pub async fn spawn() -> Self {
        IdentitySetup::new().spawn().await
    }

    /// The token endpoint URL.
    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.issuer)
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.http.get(format!("{}{path}", self.issuer)))
            .await
    }

    /// POST `form` to the token endpoint.
    pub async fn post_form(&self, form: &[(&str, &str)]) -> Reply {
        self.post_form_to("/token", form).await
    }

    /// POST `form` to `path` (`/introspect`, `/revoke`).
    pub async fn post_form_to(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        self.send(self.http.post(format!("{}{path}", self.issuer)).form(form))
            .await
    }

    /// An opaque token of the first demo user, by the password grant of the internet client
    /// `demo-web` (scope `orders payments`).
    pub async fn opaque_token(&self) -> String {
        let (user, password) = DEMO_USERS[0];
        self.post_form(&[
            ("grant_type", PASSWORD),
            ("client_id", DEMO_INTERNET_CLIENT),
            ("username", user),
            ("password", password),
            ("scope", USER_SCOPE),
        ])
        .await
        .token()
    }

    /// A valid client assertion of the gateway client.
    pub fn gateway_assertion(&self) -> String {
        oauth_client::client_assertion(&gateway_client_key(), GATEWAY_CLIENT, &self.issuer)
            .expect("signing a client assertion")
    }

    /// Introspects `token` as the gateway (authenticated with `private_key_jwt`), asking for
    /// the media type `accept` if given.
    pub async fn introspect(&self, token: &str, accept: Option<&str>) -> Reply {
        let form = [
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &self.gateway_assertion()),
            ("token", token),
        ];
        let mut request = self.http.post(format!("{}/introspect", self.issuer));
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        self.send(request.form(&form)).await
    }

    /// POST `form` (owned values) to the token endpoint.
    pub async fn post_owned(&self, form: &[(&'static str, String)]) -> Reply {
        let borrowed: Vec<(&str, &str)> = form.iter().map(|(n, v)| (*n, v.as_str())).collect();
        self.post_form(&borrowed).await
    }

    /// POST a raw body with `content_type` to the token endpoint.
    pub async fn post_raw(&self, content_type: &str, body: Vec<u8>) -> Reply {
        let request = self.http.post(self.token_endpoint());
        self.send(request.header("content-type", content_type).body(body))
            .await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("an HTTP answer");
        Reply::read(response).await.expect("reading a reply")
    }

    /// The password grant of the demo client.
    pub async fn password_grant(&self, user: &str, password: &str, scope: &str) -> Reply {
        self.post_form(&[
            ("grant_type", PASSWORD),
            ("client_id", DEMO_CLIENT),
            ("username", user),
            ("password", password),
            ("scope", scope),
        ])
        .await
    }

    /// A user token of the first demo user (scope `orders payments`).
    pub async fn user_token(&self) -> String {
        let (user, password) = DEMO_USERS[0];
        user_token(&self.issuer, user, password)
            .await
            .expect("a user token")
    }

    /// A valid client assertion of the Orders client.
    pub fn assertion(&self) -> String {
        oauth_client::client_assertion(&self.orders_key, ORDERS_SERVICE, &self.issuer)
            .expect("signing a client assertion")
    }

    /// Claims of a valid assertion, to be spoiled by a test.
    pub fn assertion_claims(&self) -> ClientAssertionClaims {
        let now = zte_auth::unix_now();
        ClientAssertionClaims {
            iss: ORDERS_SERVICE.into(),
            sub: ORDERS_SERVICE.into(),
            aud: Audience::One(self.issuer.clone()),
            exp: now + 60,
            iat: Some(now),
            nbf: None,
            jti: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// Signs assertion claims with the Orders client key (`typ: JWT`).
    pub fn sign_assertion(&self, claims: &ClientAssertionClaims) -> String {
        crate::forge::sign(&self.orders_key, "JWT", claims)
    }

    /// A token-exchange form with every parameter valid except what `overrides` replaces
    /// (an empty value removes the parameter).
    pub fn exchange_form(
        &self,
        assertion: &str,
        subject_token: &str,
        overrides: &[(&'static str, &str)],
    ) -> Vec<(&'static str, String)> {
        let mut form: Vec<(&'static str, String)> = vec![
            ("grant_type", EXCHANGE.into()),
            ("client_assertion_type", JWT_BEARER.into()),
            ("client_assertion", assertion.into()),
            ("subject_token", subject_token.into()),
            ("subject_token_type", ACCESS_TOKEN_TYPE.into()),
            ("scope", zte_auth::names::SCOPE_TRIGGER_PAYMENTS.into()),
            ("order_transaction_id", uuid::Uuid::new_v4().to_string()),
            ("event_payload_hash", "ab".repeat(32)),
        ];
        for (name, value) in overrides {
            form.retain(|(n, _)| n != name);
            if !value.is_empty() {
                form.push((name, (*value).to_owned()));
            }
        }
        form
    }

    /// A token exchange of `subject_token` by the Orders client, with `overrides`.
    pub async fn exchange(&self, subject_token: &str, overrides: &[(&'static str, &str)]) -> Reply {
        let form = self.exchange_form(&self.assertion(), subject_token, overrides);
        self.post_owned(&form).await
    }

    /// A validator over this server's JWKS (fetched over HTTP) for `audience`.
    pub fn validator(&self, audience: &str) -> TokenValidator {
        TokenValidator::new(
            ValidatorConfig {
                issuer: self.issuer.clone(),
                audience: audience.into(),
                leeway: Duration::from_secs(5),
                algorithms: zte_auth::Algorithm::ALL.to_vec(),
            },
            JwksCache::remote(
                format!("{}/jwks", self.issuer),
                zte_auth::OutboundHttp::from_builder(
                    crate::pki::http_builder_for(&self.issuer),
                    Duration::from_secs(5),
                )
                .expect("an HTTP client"),
                Duration::from_secs(5),
                Duration::ZERO,
            ),
        )
    }

    /// The server's signing key `kid`, read from its data directory (an insider's view).
    pub fn server_key(&self, kid: &str) -> SigningKey {
        crate::forge::find_signing_key(&self.data_dir, kid)
    }

    /// Stops the server gracefully and waits for it (within 10 s).
    pub async fn stop(self) {
        self.running
            .stop(Duration::from_secs(10))
            .await
            .expect("a clean shutdown");
    }
}
