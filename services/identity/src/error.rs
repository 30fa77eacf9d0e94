//! Errors: [`IdentityError`] for start-up, [`OAuthError`] for the token endpoint. The one
//! place an [`OAuthError`] becomes an HTTP response (RFC 6749 §5.2) is its `IntoResponse`.

use std::{borrow::Cow, time::Duration};

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::{keyring::KeyRingError, registry::RegistryError};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A setting is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The signing keys could not be loaded or created.
    #[error("signing keys: {0}")]
    Keys(#[from] KeyRingError),
    /// The client/user registry is invalid.
    #[error("registry: {0}")]
    Registry(#[from] RegistryError),
    /// The listen address could not be bound, or the server failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    /// A certificate, key or CA file could not be loaded.
    #[error("TLS: {0}")]
    Tls(#[from] zte_tls::TlsError),
    /// A blocking start-up task panicked or was cancelled.
    #[error("start-up task failed: {0}")]
    Task(String),
    /// A task that had to run until shutdown (the HTTP server) died.
    #[error("task {0}")]
    TaskFailed(#[from] zte_runtime::TaskFailed),
}

pub use zte_auth::oauth::ErrorCode;

/// The HTTP status of an error response with `code`, unless the error says otherwise.
fn default_status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// A token-endpoint error: code, a description safe to show the client (never secrets,
/// never internal details) and optionally a status other than the code's default.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    /// The RFC 6749 code.
    pub code: ErrorCode,
    /// `error_description`.
    pub description: Cow<'static, str>,
    status: Option<StatusCode>,
    retry_after: Option<Duration>,
}

impl OAuthError {
    /// An error with `code` and a description.
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
            status: None,
            retry_after: None,
        }
    }

    /// `invalid_request`.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_client` (401).
    pub fn invalid_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClient, description)
    }

    /// `invalid_grant`.
    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    /// `invalid_scope`.
    pub fn invalid_scope(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidScope, description)
    }

    /// `server_error` with a generic description; log the cause before calling this.
    pub fn server_error() -> Self {
        Self::new(ErrorCode::ServerError, "internal error")
    }

    /// `invalid_request` answered with 413: the body exceeds the limit.
    pub fn body_too_large(limit: usize) -> Self {
        Self {
            status: Some(StatusCode::PAYLOAD_TOO_LARGE),
            ..Self::invalid_request(format!("request body larger than {limit} bytes"))
        }
    }

    /// `temporarily_unavailable` answered with 429 and `Retry-After` (whole seconds, at least
    /// one): a rate limit or a full queue.
    pub fn too_many_requests(
        description: impl Into<Cow<'static, str>>,
        retry_after: Duration,
    ) -> Self {
        Self {
            status: Some(StatusCode::TOO_MANY_REQUESTS),
            retry_after: Some(retry_after),
            ..Self::new(ErrorCode::TemporarilyUnavailable, description)
        }
    }

    /// How long the client is told to wait, if at all.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        self.status.unwrap_or_else(|| default_status(self.code))
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'static str,
    error_description: &'a str,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status(),
            Json(ErrorBody {
                error: self.code.as_str(),
                error_description: &self.description,
            }),
        )
            .into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(wait) = self.retry_after {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        if self.code == ErrorCode::InvalidClient {
            // RFC 6749 §5.2: a 401 carries WWW-Authenticate. Clients here authenticate in the
            // body (private_key_jwt) or not at all, so name the realm only.
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="identity", charset="UTF-8""#),
            );
        }
        response
    }
}
