//! OAuth 2.0 client helpers for talking to any standards-compliant token endpoint: the
//! password grant (demo users), RFC 8693 token exchange authenticated with an RFC 7523
//! client assertion (`private_key_jwt`, PS256), and the public-JWK file a confidential
//! client hands to its authorization server (the private key never leaves the client).
//!
//! [`TokenClient`] retries only what may succeed on a second try: connection errors,
//! timeouts and 5xx answers. A 4xx is the server's considered answer and is never retried.

use std::{fs, io::Write, path::Path, time::Duration};

use serde::Deserialize;

use crate::{
    claims::{Audience, ClientAssertionClaims},
    jws::{self, JwsError},
    keys::{KeyError, PublicJwk, SigningKey},
};

/// `client_assertion_type` of an RFC 7523 JWT client assertion.
pub const CLIENT_ASSERTION_TYPE_JWT_BEARER: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// `grant_type` of RFC 8693 token exchange.
pub const GRANT_TYPE_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// `grant_type` of the resource-owner password grant (RFC 6749 §4.3).
pub const GRANT_TYPE_PASSWORD: &str = "password";
/// RFC 8693 token type of an access token.
pub const TOKEN_TYPE_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
/// Lifetime of the client assertions built by [`client_assertion`].
pub const CLIENT_ASSERTION_LIFETIME_SECS: i64 = 60;

/// Largest token-endpoint response read, in bytes.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Why a token request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthClientError {
    /// The token endpoint could not be reached, timed out or answered 5xx. Retryable.
    #[error("token endpoint unavailable: {0}")]
    Unavailable(String),
    /// The token endpoint refused the request with an RFC 6749 §5.2 error.
    #[error("token request rejected (HTTP {status}): {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The `error` code, e.g. `invalid_grant`.
        error: String,
        /// The `error_description`, if any.
        description: Option<String>,
    },
    /// The answer was not a valid token response (or the request could not be built).
    #[error("invalid token response: {0}")]
    InvalidResponse(String),
}

impl OAuthClientError {
    /// True when a later retry may succeed (network trouble, timeout, 5xx).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// A successful token response (RFC 6749 §5.1, RFC 8693 §2.2.1).
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct TokenResponse {
    /// The issued token.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// Lifetime in seconds.
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// Granted scopes.
    #[serde(default)]
    pub scope: Option<String>,
    /// Token exchange: the type of the issued token.
    #[serde(default)]
    pub issued_token_type: Option<String>,
}

impl std::fmt::Debug for TokenResponse {
    // Tokens are credentials: keep them out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("issued_token_type", &self.issued_token_type)
            .finish()
    }
}

/// A confidential client's identity: its id, its private key and the `aud` its assertions
/// name (the authorization server's issuer or token endpoint URL).
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    /// The registered client id (also `iss` and `sub` of the assertion).
    pub client_id: String,
    /// The client's private key; its public JWK is registered at the server.
    pub key: SigningKey,
    /// `aud` of the assertion.
    pub assertion_audience: String,
}

/// Builds an RFC 7523 client assertion: `iss` = `sub` = `client_id`, `aud` = `audience`,
/// `iat` now, `exp` now + 60 s, a random `jti`; PS256, `typ: JWT`, `kid` of the key.
pub fn client_assertion(
    key: &SigningKey,
    client_id: &str,
    audience: &str,
) -> Result<String, JwsError> {
    let now = crate::unix_now();
    let claims = ClientAssertionClaims {
        iss: client_id.to_owned(),
        sub: client_id.to_owned(),
        aud: Audience::One(audience.to_owned()),
        exp: now + CLIENT_ASSERTION_LIFETIME_SECS,
        iat: Some(now),
        nbf: None,
        jti: uuid::Uuid::new_v4().to_string(),
    };
    jws::sign(key, "JWT", &claims)
}

/// Writes `key`'s public JWK (never the private part) as JSON to `path`, replacing the file
/// atomically (write to a temporary file, then rename).
pub fn write_public_jwk(key: &SigningKey, path: &Path) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    };
    let json = serde_json::to_vec_pretty(&key.public_jwk())
        .map_err(|e| KeyError::Invalid(e.to_string()))?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let tmp = path.with_file_name(tmp_name);
    let mut file = fs::File::create(&tmp).map_err(io)?;
    file.write_all(&json).map_err(io)?;
    file.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)
}

/// Reads a public JWK file as written by [`write_public_jwk`] and checks that it is a usable
/// PS256 key; a missing `kid` is filled in with the RFC 7638 thumbprint.
pub fn read_public_jwk(path: &Path) -> Result<PublicJwk, KeyError> {
    let bytes = fs::read(path).map_err(|source| KeyError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let jwk: PublicJwk = serde_json::from_slice(&bytes)
        .map_err(|e| KeyError::Invalid(format!("{}: not a JWK: {e}", path.display())))?;
    if jwk.kid.is_some() {
        jwk.to_verifying_key()?;
        return Ok(jwk);
    }
    Ok(jwk.to_verifying_key()?.to_jwk())
}

/// A client for one token endpoint, with timeouts and bounded retries on transient failures.
#[derive(Debug, Clone)]
pub struct TokenClient {
    endpoint: String,
    http: reqwest::Client,
    attempts: u32,
    backoff: Duration,
}

impl TokenClient {
    /// A client for `token_endpoint`; `timeout` bounds each attempt (connect included).
    /// Transient failures are retried up to 3 attempts in all, with exponential backoff
    /// from 100 ms.
    pub fn new(
        token_endpoint: impl Into<String>,
        timeout: Duration,
    ) -> Result<Self, OAuthClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()
            .map_err(|e| OAuthClientError::InvalidResponse(format!("HTTP client: {e}")))?;
        Ok(Self {
            endpoint: token_endpoint.into(),
            http,
            attempts: 3,
            backoff: Duration::from_millis(100),
        })
    }

    /// Sets the number of attempts (at least 1) and the first backoff delay.
    pub fn with_retries(mut self, attempts: u32, backoff: Duration) -> Self {
        self.attempts = attempts.max(1);
        self.backoff = backoff;
        self
    }

    /// The token endpoint URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Password grant for a public client (`client_id` only, no secret).
    pub async fn password_grant(
        &self,
        client_id: &str,
        username: &str,
        password: &str,
        scope: &str,
    ) -> Result<TokenResponse, OAuthClientError> {
        self.with_retry(|| {
            Ok(vec![
                ("grant_type", GRANT_TYPE_PASSWORD.to_owned()),
                ("client_id", client_id.to_owned()),
                ("username", username.to_owned()),
                ("password", password.to_owned()),
                ("scope", scope.to_owned()),
            ])
        })
        .await
    }

    /// RFC 8693 token exchange of `subject_token` for an event token (`trigger_payments`)
    /// bound to one order and payload hash, authenticated with a fresh client assertion per
    /// attempt (a retry never reuses a `jti`).
    pub async fn exchange_for_event_token(
        &self,
        client: &ClientCredentials,
        subject_token: &str,
        order_transaction_id: &str,
        event_payload_hash: &str,
    ) -> Result<TokenResponse, OAuthClientError> {
        self.with_retry(|| {
            let assertion =
                client_assertion(&client.key, &client.client_id, &client.assertion_audience)
                    .map_err(|e| {
                        OAuthClientError::InvalidResponse(format!(
                            "signing the client assertion: {e}"
                        ))
                    })?;
            Ok(vec![
                ("grant_type", GRANT_TYPE_TOKEN_EXCHANGE.to_owned()),
                ("client_id", client.client_id.clone()),
                (
                    "client_assertion_type",
                    CLIENT_ASSERTION_TYPE_JWT_BEARER.to_owned(),
                ),
                ("client_assertion", assertion),
                ("subject_token", subject_token.to_owned()),
                ("subject_token_type", TOKEN_TYPE_ACCESS_TOKEN.to_owned()),
                ("requested_token_type", TOKEN_TYPE_ACCESS_TOKEN.to_owned()),
                ("scope", crate::claims::SCOPE_TRIGGER_PAYMENTS.to_owned()),
                ("order_transaction_id", order_transaction_id.to_owned()),
                ("event_payload_hash", event_payload_hash.to_owned()),
            ])
        })
        .await
    }

    async fn with_retry<F>(&self, mut form: F) -> Result<TokenResponse, OAuthClientError>
    where
        F: FnMut() -> Result<Vec<(&'static str, String)>, OAuthClientError>,
    {
        let mut delay = self.backoff;
        let mut attempt = 1;
        loop {
            let result = self.post(&form()?).await;
            match result {
                Err(error) if error.is_transient() && attempt < self.attempts => {
                    tracing::debug!(%error, attempt, "token request failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn post(&self, form: &[(&str, String)]) -> Result<TokenResponse, OAuthClientError> {
        let response = self
            .http
            .post(&self.endpoint)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(form)
            .send()
            .await
            // reqwest errors name the URL, never the form body: no secret leaks here.
            .map_err(|e| OAuthClientError::Unavailable(format!("POST {}: {e}", self.endpoint)))?;
        let status = response.status();
        let body = read_limited(response)
            .await
            .map_err(|e| OAuthClientError::Unavailable(format!("POST {}: {e}", self.endpoint)))?;
        if status.is_server_error() {
            return Err(OAuthClientError::Unavailable(format!(
                "POST {}: HTTP {status}",
                self.endpoint
            )));
        }
        if !status.is_success() {
            #[derive(Deserialize)]
            struct ErrorBody {
                error: String,
                #[serde(default)]
                error_description: Option<String>,
            }
            return Err(match serde_json::from_slice::<ErrorBody>(&body) {
                Ok(e) => OAuthClientError::Rejected {
                    status: status.as_u16(),
                    error: e.error,
                    description: e.error_description,
                },
                Err(_) => OAuthClientError::Rejected {
                    status: status.as_u16(),
                    error: format!("http_{}", status.as_u16()),
                    description: None,
                },
            });
        }
        let token: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| OAuthClientError::InvalidResponse(format!("not a token response: {e}")))?;
        if token.access_token.is_empty() || !token.token_type.eq_ignore_ascii_case("bearer") {
            return Err(OAuthClientError::InvalidResponse(
                "empty access_token or token_type is not Bearer".into(),
            ));
        }
        Ok(token)
    }
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(format!("response larger than {MAX_RESPONSE_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpListener,
    };

    use super::*;
    use crate::jws::UntrustedHeader;

    /// A loopback HTTP server answering every request with `status` and `body`, counting
    /// requests. Enough HTTP/1.1 for reqwest; the identity service's own tests use the real
    /// server.
    async fn canned_server(status: u16, body: &'static str) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let _ = socket.read(&mut buf).await;
                    let response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        (format!("http://{addr}/token"), hits)
    }

    #[test]
    fn client_assertion_has_rfc7523_shape() {
        let key = SigningKey::generate(2048).unwrap();
        let a = client_assertion(&key, "orders-service", "http://as.test").unwrap();
        let header = UntrustedHeader::parse(&a).unwrap();
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert_eq!(header.kid.as_deref(), Some(key.kid()));
        let claims: ClientAssertionClaims = jws::verify(&a, key.verifying_key()).unwrap();
        assert_eq!(claims.iss, "orders-service");
        assert_eq!(claims.sub, "orders-service");
        assert!(claims.aud.contains("http://as.test"));
        let now = crate::unix_now();
        assert!(claims.exp > now && claims.exp <= now + CLIENT_ASSERTION_LIFETIME_SECS);
        let b = client_assertion(&key, "orders-service", "http://as.test").unwrap();
        let other: ClientAssertionClaims = jws::verify(&b, key.verifying_key()).unwrap();
        assert_ne!(claims.jti, other.jti, "jti must be fresh per assertion");
    }

    #[test]
    fn public_jwk_file_round_trips_without_private_material() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.jwk.json");
        let key = SigningKey::generate(2048).unwrap();
        write_public_jwk(&key, &path).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains("\"d\""), "private exponent written: {text}");
        let jwk = read_public_jwk(&path).unwrap();
        assert_eq!(jwk.to_verifying_key().unwrap(), *key.verifying_key());
        // Overwriting (key regenerated) replaces the file.
        let other = SigningKey::generate(2048).unwrap();
        write_public_jwk(&other, &path).unwrap();
        assert_eq!(
            read_public_jwk(&path).unwrap().kid.as_deref(),
            Some(other.kid())
        );
    }

    #[tokio::test]
    async fn server_errors_are_retried_and_reported_as_transient() {
        let (url, hits) = canned_server(503, r#"{"error":"temporarily_unavailable"}"#).await;
        let client = TokenClient::new(url, Duration::from_secs(2))
            .unwrap()
            .with_retries(3, Duration::from_millis(10));
        let error = client
            .password_grant("demo-cli", "u", "p", "orders")
            .await
            .unwrap_err();
        assert!(error.is_transient(), "{error}");
        assert_eq!(hits.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn client_errors_are_not_retried_and_carry_the_rfc6749_error() {
        let (url, hits) = canned_server(
            400,
            r#"{"error":"invalid_grant","error_description":"nope"}"#,
        )
        .await;
        let client = TokenClient::new(url, Duration::from_secs(2))
            .unwrap()
            .with_retries(3, Duration::from_millis(10));
        let error = client
            .password_grant("demo-cli", "u", "p", "orders")
            .await
            .unwrap_err();
        assert_eq!(
            error,
            OAuthClientError::Rejected {
                status: 400,
                error: "invalid_grant".into(),
                description: Some("nope".into()),
            }
        );
        assert!(!error.is_transient());
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn connection_refused_is_transient() {
        // Bind then drop to get a closed port.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = TokenClient::new(format!("http://{addr}/token"), Duration::from_secs(1))
            .unwrap()
            .with_retries(2, Duration::from_millis(5));
        let error = client
            .password_grant("demo-cli", "u", "p", "orders")
            .await
            .unwrap_err();
        assert!(error.is_transient(), "{error}");
    }

    #[tokio::test]
    async fn a_success_without_bearer_type_is_an_invalid_response() {
        let (url, _) = canned_server(200, r#"{"access_token":"x","token_type":"MAC"}"#).await;
        let client = TokenClient::new(url, Duration::from_secs(2)).unwrap();
        let error = client
            .password_grant("demo-cli", "u", "p", "orders")
            .await
            .unwrap_err();
        assert!(
            matches!(error, OAuthClientError::InvalidResponse(_)),
            "{error}"
        );
    }
}
