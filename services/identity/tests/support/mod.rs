//! Test harness: a real identity server in-process on a free loopback port, with a fresh data
//! directory, the demo registry and an `orders-service` client key made for the test.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::{path::PathBuf, time::Duration};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use identity::{Application, IdentityConfig};
use serde_json::Value;
use tokio::{sync::oneshot, task::JoinHandle};
use zte_auth::{
    AccessTokenClaims, ClientAssertionClaims, JwksCache, SigningKey, TokenValidator,
    ValidatorConfig, claims::Audience, jws, oauth_client,
};

pub const PASSWORD: &str = "password";
pub const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
pub const ORDERS: &str = "orders-service";

/// One client key for all tests: RSA generation is the slow part of a start.
pub fn orders_key() -> SigningKey {
    static KEY: std::sync::LazyLock<SigningKey> =
        std::sync::LazyLock::new(|| SigningKey::generate(2048).unwrap());
    KEY.clone()
}

pub struct TestApp {
    pub issuer: String,
    pub data_dir: PathBuf,
    pub http: reqwest::Client,
    pub orders_key: SigningKey,
    pub active_kid: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), identity::IdentityError>>>,
    _dir: Option<tempfile::TempDir>,
}

/// A fresh server with defaults (demo registry, orders client key registered).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut IdentityConfig)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut app = spawn_in(dir.path().to_path_buf(), adjust).await;
    app._dir = Some(dir);
    app
}

/// A server on `root` (data in `root/identity`, client JWK in `root/orders.jwk.json`).
pub async fn spawn_in(root: PathBuf, adjust: impl FnOnce(&mut IdentityConfig)) -> TestApp {
    zte_testkit::init_test_logging();
    let orders_key = orders_key();
    let jwk_path = root.join("orders.jwk.json");
    orders_key.write_public_jwk(&jwk_path).unwrap();
    let data_dir = root.join("identity");
    let mut config = IdentityConfig::local(&data_dir);
    config.demo = true;
    config.orders_client_jwk = Some(jwk_path);
    adjust(&mut config);
    let app = Application::build(config).await.unwrap();
    let issuer = app.issuer().to_owned();
    let active_kid = app.active_kid();
    let (tx, rx) = oneshot::channel();
    let server = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    TestApp {
        issuer,
        data_dir,
        http: reqwest::Client::new(),
        orders_key,
        active_kid,
        shutdown: Some(tx),
        server: Some(server),
        _dir: None,
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("<none>")
    }

    pub fn token(&self) -> String {
        assert_eq!(self.status, 200, "expected a token: {}", self.body);
        self.body["access_token"].as_str().unwrap().to_owned()
    }

    /// Asserts an RFC 6749 error with `status` and `code`, with a description and no-store.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.error()),
            (status, code),
            "body: {}",
            self.body
        );
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

impl TestApp {
    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.issuer)
    }

    pub async fn get(&self, path: &str) -> Reply {
        let response = self
            .http
            .get(format!("{}{path}", self.issuer))
            .send()
            .await
            .unwrap();
        reply(response).await
    }

    pub async fn post_form(&self, form: &[(&str, &str)]) -> Reply {
        let response = self
            .http
            .post(self.token_endpoint())
            .form(form)
            .send()
            .await
            .unwrap();
        reply(response).await
    }

    pub async fn post_raw(&self, content_type: &str, body: Vec<u8>) -> Reply {
        let response = self
            .http
            .post(self.token_endpoint())
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        reply(response).await
    }

    pub async fn password_grant(&self, user: &str, password: &str, scope: &str) -> Reply {
        self.post_form(&[
            ("grant_type", PASSWORD),
            ("client_id", "demo-cli"),
            ("username", user),
            ("password", password),
            ("scope", scope),
        ])
        .await
    }

    pub async fn user_token(&self) -> String {
        self.password_grant("demouser", "Password1", "orders payments")
            .await
            .token()
    }

    /// A valid assertion of the orders client.
    pub fn assertion(&self) -> String {
        oauth_client::client_assertion(&self.orders_key, ORDERS, &self.issuer).unwrap()
    }

    /// Claims of a valid assertion, to be spoiled by a test.
    pub fn assertion_claims(&self) -> ClientAssertionClaims {
        let now = zte_auth::unix_now();
        ClientAssertionClaims {
            iss: ORDERS.into(),
            sub: ORDERS.into(),
            aud: Audience::One(self.issuer.clone()),
            exp: now + 60,
            iat: Some(now),
            nbf: None,
            jti: uuid::Uuid::new_v4().to_string(),
        }
    }

    pub fn sign_assertion(&self, claims: &ClientAssertionClaims) -> String {
        jws::sign(&self.orders_key, "JWT", claims).unwrap()
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
            ("scope", "trigger_payments".into()),
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

    pub async fn exchange(&self, subject_token: &str, overrides: &[(&'static str, &str)]) -> Reply {
        let form = self.exchange_form(&self.assertion(), subject_token, overrides);
        self.post_owned(&form).await
    }

    pub async fn post_owned(&self, form: &[(&'static str, String)]) -> Reply {
        let borrowed: Vec<(&str, &str)> = form.iter().map(|(n, v)| (*n, v.as_str())).collect();
        self.post_form(&borrowed).await
    }

    /// A validator over this server's JWKS (fetched over HTTP) for `audience`.
    pub fn validator(&self, audience: &str) -> TokenValidator {
        TokenValidator::new(
            ValidatorConfig {
                issuer: self.issuer.clone(),
                audience: audience.into(),
                leeway: Duration::from_secs(5),
            },
            JwksCache::remote(
                format!("{}/jwks", self.issuer),
                reqwest::Client::new(),
                Duration::ZERO,
            ),
        )
    }

    /// The server's signing key `kid`, read from its data directory (an insider's view).
    pub fn server_key(&self, kid: &str) -> SigningKey {
        SigningKey::load(&self.data_dir.join("keys").join(format!("{kid}.pk8"))).unwrap()
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(10), server)
                .await
                .expect("server did not stop within 10 s")
                .unwrap()
                .unwrap();
        }
    }
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Reply {
        status,
        headers,
        body,
    }
}

/// The unverified claims of a compact JWS.
pub fn claims_of(token: &str) -> AccessTokenClaims {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The unverified header of a compact JWS.
pub fn header_of(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

/// A compact JWS with a raw header and signature (for `alg: none`, HS256, ...).
pub fn raw_jws(header: &str, claims: &impl serde::Serialize, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// User-token claims as this server would issue them, for forging variants.
pub fn user_claims(issuer: &str, scope: &str) -> AccessTokenClaims {
    AccessTokenClaims::issued(
        issuer,
        "demouser",
        &["orders-service", "payments-service"],
        scope,
        "demo-cli",
        zte_auth::unix_now(),
        Duration::from_secs(600),
    )
}
