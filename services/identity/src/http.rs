//! HTTP routes: RFC 8414 metadata, the JWKS, health, and the form endpoints: token,
//! introspection and revocation (each answered `no-store`, errors as RFC 6749 §5.2).

use std::{
    net::SocketAddr,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use axum::{
    Extension, Json, Router,
    body::Bytes,
    extract::{ConnectInfo, DefaultBodyLimit, State, rejection::BytesRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::json;
use tower_http::{timeout::TimeoutLayer, trace::TraceLayer};
use zte_auth::{
    Algorithm, JwkSet,
    names::SCOPES,
    oauth::{
        AUTH_METHOD_NONE, AUTH_METHOD_PRIVATE_KEY_JWT, GRANT_TYPE_PASSWORD,
        GRANT_TYPE_TOKEN_EXCHANGE,
    },
};

use crate::{
    AppState,
    error::{ErrorCode, OAuthError},
    grants, introspection,
};

/// Largest accepted token-request body.
pub const MAX_TOKEN_REQUEST_BYTES: usize = 16 * 1024;
/// Path of the token endpoint.
pub const TOKEN_PATH: &str = "/token";
/// Path of the RFC 7662 introspection endpoint.
pub const INTROSPECTION_PATH: &str = "/introspect";
/// Path of the RFC 7009 revocation endpoint.
pub const REVOCATION_PATH: &str = "/revoke";
/// Path of the RFC 8414 metadata document.
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
/// `Cache-Control` of metadata and the JWKS: `public, max-age=<--jwks-max-age>`. Validators
/// refresh on it, so it bounds how long a revoked key is still accepted; they also refetch on
/// an unknown `kid`, so a rotated key is seen at once.
pub(crate) fn public_cache_control(max_age: std::time::Duration) -> HeaderValue {
    HeaderValue::from_str(&format!("public, max-age={}", max_age.as_secs()))
        .unwrap_or_else(|_| HeaderValue::from_static("public, max-age=300"))
}

/// The service's routes; a request (body included) not answered within `request_timeout`
/// gets 408.
pub(crate) fn router(state: Arc<AppState>, request_timeout: Duration) -> Router {
    Router::new()
        .route(METADATA_PATH, get(metadata))
        .route("/jwks", get(jwks))
        .route("/healthz", get(healthz))
        .route(TOKEN_PATH, post(form_endpoint::<TOKEN>))
        .route(INTROSPECTION_PATH, post(form_endpoint::<INTROSPECTION>))
        .route(REVOCATION_PATH, post(form_endpoint::<REVOCATION>))
        .layer(DefaultBodyLimit::max(MAX_TOKEN_REQUEST_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

fn cacheable(state: &AppState, body: serde_json::Value) -> Response {
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        state.settings.public_cache_control.clone(),
    );
    response
}

async fn metadata(State(state): State<Arc<AppState>>) -> Response {
    cacheable(
        &state,
        json!({
            "issuer": state.issuer,
            "token_endpoint": state.token_endpoint,
            "jwks_uri": format!("{}/jwks", state.issuer),
            "grant_types_supported": [GRANT_TYPE_PASSWORD, GRANT_TYPE_TOKEN_EXCHANGE],
            "token_endpoint_auth_methods_supported": [AUTH_METHOD_PRIVATE_KEY_JWT, AUTH_METHOD_NONE],
            "token_endpoint_auth_signing_alg_values_supported": Algorithm::ALL.map(Algorithm::as_str),
            "introspection_endpoint": format!("{}{INTROSPECTION_PATH}", state.issuer),
            "introspection_endpoint_auth_methods_supported": [AUTH_METHOD_PRIVATE_KEY_JWT],
            "introspection_endpoint_auth_signing_alg_values_supported": Algorithm::ALL.map(Algorithm::as_str),
            "introspection_signing_alg_values_supported": Algorithm::ALL.map(Algorithm::as_str),
            "revocation_endpoint": format!("{}{REVOCATION_PATH}", state.issuer),
            "revocation_endpoint_auth_methods_supported": [AUTH_METHOD_PRIVATE_KEY_JWT, AUTH_METHOD_NONE],
            "revocation_endpoint_auth_signing_alg_values_supported": Algorithm::ALL.map(Algorithm::as_str),
            "scopes_supported": SCOPES,
            // No authorization endpoint: no response types (RFC 8414 §2 lists the member).
            "response_types_supported": [],
        }),
    )
}

async fn jwks(State(state): State<Arc<AppState>>) -> Response {
    let set = JwkSet {
        keys: state.keys().ring.published().to_vec(),
    };
    match serde_json::to_value(&set) {
        Ok(value) => cacheable(&state, value),
        Err(error) => {
            tracing::error!(%error, "serializing the JWKS failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, Json(json!({"status": "ok"}))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable"})),
        )
            .into_response()
    }
}

/// The form endpoints, as a const parameter of [`form_endpoint`] (one handler for all three).
const TOKEN: u8 = 0;
const INTROSPECTION: u8 = 1;
const REVOCATION: u8 = 2;

/// What every form endpoint shares: readiness, the body (size-limited), the form, and the
/// answer: `no-store`, errors logged and turned into RFC 6749 §5.2 responses.
async fn form_endpoint<const ENDPOINT: u8>(
    State(state): State<Arc<AppState>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        if !state.ready.load(Ordering::Acquire) {
            return Err(OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "not ready",
            ));
        }
        let body = body.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                OAuthError::body_too_large(MAX_TOKEN_REQUEST_BYTES)
            } else {
                OAuthError::invalid_request("cannot read the request body")
            }
        })?;
        let params = grants::Params::parse(&headers, &body)?;
        // The TCP peer (behind a proxy: the proxy; the server has no trusted proxy list).
        let client_address = peer.map(|Extension(ConnectInfo(addr))| addr.ip().to_canonical());
        match ENDPOINT {
            TOKEN => grants::handle(&state, params, client_address)
                .await
                .map(|body| Json(body).into_response()),
            INTROSPECTION => introspection::introspect(&state, &headers, params).await,
            _ => introspection::revoke(&state, params).await,
        }
    }
    .await;
    match result {
        Ok(mut response) => {
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            response
        }
        Err(error) => {
            let endpoint = match ENDPOINT {
                TOKEN => "token",
                INTROSPECTION => "introspection",
                _ => "revocation",
            };
            tracing::info!(endpoint, error = error.code.as_str(), description = %error.description, "request refused");
            error.into_response()
        }
    }
}
