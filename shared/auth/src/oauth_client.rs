//! OAuth 2.0 client for any standards-compliant token endpoint: the password grant (demo
//! users) and RFC 8693 token exchange authenticated with an RFC 7523 client assertion
//! (`private_key_jwt`, signed with the client key's own algorithm: ES256 or PS256). The
//! exchange is generic: what a particular server binds the issued token to travels in
//! [`TokenExchange::extra`] (Orders adds the event's order id and payload hash).
//!
//! [`TokenClient`] retries only what may succeed on a second try: connection errors,
//! timeouts and 5xx answers. A 4xx is the server's considered answer and is never retried.
//! It talks HTTP through [`OutboundHttp`]: no redirects, timeouts, the answer read with a
//! size cap while streaming.

use std::time::Duration;

use serde::Deserialize;

use crate::{
    claims::{Audience, ClientAssertionClaims},
    http::{HttpError, OutboundHttp},
    jws::{self, JwsError},
    keys::SigningKey,
    oauth::{
        CLIENT_ASSERTION_TYPE_JWT_BEARER, GRANT_TYPE_PASSWORD, GRANT_TYPE_TOKEN_EXCHANGE,
        TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_BEARER, param,
    },
};

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
    pub expires_in: Option<u64>,
    /// Granted scopes.
    pub scope: Option<String>,
    /// Token exchange: the type of the issued token.
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
/// `iat` now, `exp` now + 60 s, a random `jti`; the key's algorithm, `typ: JWT`, `kid` of
/// the key.
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

/// An RFC 8693 token-exchange request for an access token.
#[derive(Clone, Copy)]
pub struct TokenExchange<'a> {
    /// The access token to exchange (`subject_token`).
    pub subject_token: &'a str,
    /// The scope asked for.
    pub scope: &'a str,
    /// Parameters the server defines beyond RFC 8693, sent as given.
    pub extra: &'a [(&'a str, &'a str)],
}

impl std::fmt::Debug for TokenExchange<'_> {
    // The subject token is a bearer credential: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenExchange")
            .field("scope", &self.scope)
            .field("extra", &self.extra)
            .finish_non_exhaustive()
    }
}

/// A client for one token endpoint, with timeouts and bounded retries on transient failures.
#[derive(Debug, Clone)]
pub struct TokenClient {
    endpoint: String,
    http: OutboundHttp,
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
        Self::with_http(token_endpoint, reqwest::Client::builder(), timeout)
    }

    /// Like [`TokenClient::new`], with the HTTP client built from `http` (e.g. one carrying the
    /// service's TLS trust and client certificate); the hardening of [`OutboundHttp`] applies.
    pub fn with_http(
        token_endpoint: impl Into<String>,
        http: reqwest::ClientBuilder,
        timeout: Duration,
    ) -> Result<Self, OAuthClientError> {
        let http = OutboundHttp::from_builder(http, timeout)
            .map_err(|e| OAuthClientError::InvalidResponse(e.to_string()))?;
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
                (param::GRANT_TYPE, GRANT_TYPE_PASSWORD.to_owned()),
                (param::CLIENT_ID, client_id.to_owned()),
                (param::USERNAME, username.to_owned()),
                (param::PASSWORD, password.to_owned()),
                (param::SCOPE, scope.to_owned()),
            ])
        })
        .await
    }

    /// RFC 8693 token exchange of `request.subject_token` for an access token with
    /// `request.scope`, authenticated as `client` with a fresh client assertion per attempt
    /// (a retry never reuses a `jti`).
    pub async fn token_exchange(
        &self,
        client: &ClientCredentials,
        request: TokenExchange<'_>,
    ) -> Result<TokenResponse, OAuthClientError> {
        self.with_retry(|| {
            let assertion =
                client_assertion(&client.key, &client.client_id, &client.assertion_audience)
                    .map_err(|e| {
                        OAuthClientError::InvalidResponse(format!(
                            "signing the client assertion: {e}"
                        ))
                    })?;
            let mut form = vec![
                (param::GRANT_TYPE, GRANT_TYPE_TOKEN_EXCHANGE.to_owned()),
                (param::CLIENT_ID, client.client_id.clone()),
                (
                    param::CLIENT_ASSERTION_TYPE,
                    CLIENT_ASSERTION_TYPE_JWT_BEARER.to_owned(),
                ),
                (param::CLIENT_ASSERTION, assertion),
                (param::SUBJECT_TOKEN, request.subject_token.to_owned()),
                (
                    param::SUBJECT_TOKEN_TYPE,
                    TOKEN_TYPE_ACCESS_TOKEN.to_owned(),
                ),
                (
                    param::REQUESTED_TOKEN_TYPE,
                    TOKEN_TYPE_ACCESS_TOKEN.to_owned(),
                ),
                (param::SCOPE, request.scope.to_owned()),
            ];
            form.extend(
                request
                    .extra
                    .iter()
                    .map(|(name, value)| (*name, (*value).to_owned())),
            );
            Ok(form)
        })
        .await
    }

    async fn with_retry<'a, F>(&self, mut form: F) -> Result<TokenResponse, OAuthClientError>
    where
        F: FnMut() -> Result<Vec<(&'a str, String)>, OAuthClientError>,
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
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::ACCEPT,
            reqwest::header::HeaderValue::from_static("application/json"),
        );
        let response = self
            .http
            .post_form(&self.endpoint, headers, form, MAX_RESPONSE_BYTES)
            .await
            .map_err(|error| match error {
                HttpError::Transport { .. } => OAuthClientError::Unavailable(error.to_string()),
                HttpError::TooLarge { .. } | HttpError::Client(_) => {
                    OAuthClientError::InvalidResponse(error.to_string())
                }
            })?;
        let (status, body) = (response.status, response.body);
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
        if token.access_token.is_empty()
            || !token.token_type.eq_ignore_ascii_case(TOKEN_TYPE_BEARER)
        {
            return Err(OAuthClientError::InvalidResponse(
                "empty access_token or token_type is not Bearer".into(),
            ));
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;
    use crate::{
        algorithm::Algorithm, http::tests::raw_server, jws::UntrustedHeader, keys::KeySpec,
    };

    /// A loopback token endpoint answering every request with `status` and the JSON `body`,
    /// counting requests; the identity service's own tests use the real server.
    async fn canned_server(status: u16, body: &'static str) -> (String, Arc<AtomicUsize>) {
        let head = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}",
            body.len()
        );
        let (addr, hits) = raw_server(head, body.as_bytes().to_vec()).await;
        (format!("http://{addr}/token"), hits)
    }

    #[test]
    fn client_assertion_has_rfc7523_shape() {
        let key = SigningKey::generate(KeySpec::Es256).unwrap();
        let a = client_assertion(&key, "orders-service", "http://as.test").unwrap();
        let header = UntrustedHeader::parse(&a, &Algorithm::ALL).unwrap();
        assert_eq!(header.alg, Algorithm::Es256);
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

    /// The error of a password grant at `url`, with up to `attempts` attempts.
    async fn password_grant_error(url: String, attempts: u32) -> OAuthClientError {
        TokenClient::new(url, Duration::from_secs(2))
            .unwrap()
            .with_retries(attempts, Duration::from_millis(10))
            .password_grant("demo-cli", "u", "p", "orders")
            .await
            .unwrap_err()
    }

    #[tokio::test]
    async fn server_errors_are_retried_and_reported_as_transient() {
        let (url, hits) = canned_server(503, r#"{"error":"temporarily_unavailable"}"#).await;
        let error = password_grant_error(url, 3).await;
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
        let error = password_grant_error(url, 3).await;
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
        let error = password_grant_error(format!("http://{addr}/token"), 2).await;
        assert!(error.is_transient(), "{error}");
    }

    #[tokio::test]
    async fn a_success_without_bearer_type_is_an_invalid_response() {
        let (url, _) = canned_server(200, r#"{"access_token":"x","token_type":"MAC"}"#).await;
        let error = password_grant_error(url, 3).await;
        assert!(
            matches!(error, OAuthClientError::InvalidResponse(_)),
            "{error}"
        );
    }
}
