//! HTTP routes: RFC 8414 metadata, the JWKS, health and the token endpoint.

use std::sync::{Arc, atomic::Ordering};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State, rejection::BytesRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::json;
use tower_http::trace::TraceLayer;
use zte_auth::{
    JwkSet,
    keys::ALG_PS256,
    names::SCOPES,
    oauth::{
        AUTH_METHOD_NONE, AUTH_METHOD_PRIVATE_KEY_JWT, GRANT_TYPE_PASSWORD,
        GRANT_TYPE_TOKEN_EXCHANGE,
    },
};

use crate::{
    AppState,
    error::{ErrorCode, OAuthError},
    grants,
};

/// Largest accepted token-request body.
pub const MAX_TOKEN_REQUEST_BYTES: usize = 16 * 1024;
/// Path of the RFC 8414 metadata document.
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
/// Cache lifetime of metadata and JWKS. Short enough that a rotated key is seen quickly;
/// validators also refetch on an unknown `kid`.
const PUBLIC_CACHE_CONTROL: &str = "public, max-age=300";

/// The service's routes.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(METADATA_PATH, get(metadata))
        .route("/jwks", get(jwks))
        .route("/healthz", get(healthz))
        .route("/token", post(token_endpoint))
        .layer(DefaultBodyLimit::max(MAX_TOKEN_REQUEST_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

fn cacheable(body: serde_json::Value) -> Response {
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(PUBLIC_CACHE_CONTROL),
    );
    response
}

async fn metadata(State(state): State<Arc<AppState>>) -> Response {
    cacheable(json!({
        "issuer": state.issuer,
        "token_endpoint": state.token_endpoint,
        "jwks_uri": format!("{}/jwks", state.issuer),
        "grant_types_supported": [GRANT_TYPE_PASSWORD, GRANT_TYPE_TOKEN_EXCHANGE],
        "token_endpoint_auth_methods_supported": [AUTH_METHOD_PRIVATE_KEY_JWT, AUTH_METHOD_NONE],
        "token_endpoint_auth_signing_alg_values_supported": [ALG_PS256],
        "scopes_supported": SCOPES,
        // No authorization endpoint: no response types (RFC 8414 §2 lists the member).
        "response_types_supported": [],
    }))
}

async fn jwks(State(state): State<Arc<AppState>>) -> Response {
    let set = JwkSet {
        keys: state.keys().ring.published().to_vec(),
    };
    match serde_json::to_value(&set) {
        Ok(value) => cacheable(value),
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

async fn token_endpoint(
    State(state): State<Arc<AppState>>,
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
        grants::handle(&state, params).await
    }
    .await;
    match result {
        Ok(body) => {
            let mut response = Json(body).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            response
        }
        Err(error) => {
            tracing::info!(error = error.code.as_str(), description = %error.description, "token request refused");
            error.into_response()
        }
    }
}
