//! Introspection (RFC 7662) and revocation (RFC 7009) of opaque tokens.
//!
//! `POST /introspect` answers only a confidential client registered for it (the gateway),
//! authenticated like at the token endpoint (`private_key_jwt`). An active token's answer
//! carries its claims and, in the [`INTROSPECTION_JWT_HEADER`] header, the JWT it stands for;
//! with `Accept: application/token-introspection+jwt` the answer is an RFC 9701 signed JWT.
//! Unknown, expired and revoked tokens (and JWTs, which are never stored) are
//! `{"active": false}` with no JWT anywhere.
//!
//! `POST /revoke` lets the client a token was issued to revoke it; unknown tokens are
//! answered 200 as RFC 7009 §2.2 asks.

use axum::{
    Json,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use zte_auth::{
    IntrospectionJwtClaims, jws,
    names::INTROSPECTION_JWT_HEADER,
    oauth::{MEDIA_TYPE_INTROSPECTION_JWT, TOKEN_TYPE_BEARER, TYP_INTROSPECTION_JWT, param},
};

use crate::{
    AppState,
    error::{ErrorCode, OAuthError},
    grants::{Params, authenticate_client},
    opaque::{TokenHash, TokenRecord, TokenStoreError},
    registry::ClientAuth,
};

fn store_failed(error: TokenStoreError) -> OAuthError {
    tracing::error!(%error, "the token store failed");
    OAuthError::server_error()
}

/// The record of `token` if it is a known, unrevoked opaque token inside its lifetime.
async fn active_record(
    state: &AppState,
    token: &str,
    now: i64,
) -> Result<Option<TokenRecord>, OAuthError> {
    let record = state
        .tokens
        .find(&TokenHash::of(token))
        .await
        .map_err(store_failed)?;
    Ok(record.filter(|r| r.is_active_at(now)))
}

/// The RFC 7662 §2.2 answer: `active` and, for an active token, its claims.
fn introspection_body(record: Option<&TokenRecord>) -> Result<Value, OAuthError> {
    let Some(record) = record else {
        return Ok(json!({ "active": false }));
    };
    let mut body = serde_json::to_value(&record.claims).map_err(|error| {
        tracing::error!(%error, "serializing token claims failed");
        OAuthError::server_error()
    })?;
    if let Value::Object(members) = &mut body {
        members.insert("active".into(), Value::Bool(true));
        members.insert("token_type".into(), TOKEN_TYPE_BEARER.into());
    }
    Ok(body)
}

fn wants_jwt(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| {
            let essence = media.split(';').next().unwrap_or_default().trim();
            essence.eq_ignore_ascii_case(MEDIA_TYPE_INTROSPECTION_JWT)
        })
}

/// Handles `POST /introspect`.
pub(crate) async fn introspect(
    state: &AppState,
    headers: &HeaderMap,
    params: Params,
) -> Result<Response, OAuthError> {
    let now = zte_auth::unix_now();
    let client = authenticate_client(state, &params, now).await?;
    if !client.introspection || !matches!(client.auth, ClientAuth::PrivateKeyJwt(_)) {
        tracing::info!(client = %client.id, "introspection refused: client not allowed");
        return Err(OAuthError::invalid_client(
            "client is not allowed to introspect tokens",
        ));
    }
    let token = params.require(param::TOKEN)?;
    let record = active_record(state, token, now).await?;
    let body = introspection_body(record.as_ref())?;
    tracing::info!(client = %client.id, active = record.is_some(), "token introspected");
    let mut response = if wants_jwt(headers) {
        let claims = IntrospectionJwtClaims {
            iss: state.issuer.clone(),
            aud: client.id.clone(),
            iat: now,
            token_introspection: body,
        };
        let signed = jws::sign(state.keys().ring.active(), TYP_INTROSPECTION_JWT, &claims)
            .map_err(|error| {
                tracing::error!(%error, "signing an introspection response failed");
                OAuthError::server_error()
            })?;
        (
            [(header::CONTENT_TYPE, MEDIA_TYPE_INTROSPECTION_JWT)],
            signed,
        )
            .into_response()
    } else {
        Json(body).into_response()
    };
    if let Some(record) = record {
        let jwt = HeaderValue::from_str(&record.jwt).map_err(|error| {
            tracing::error!(%error, "a stored JWT is not a header value");
            OAuthError::server_error()
        })?;
        response.headers_mut().insert(INTROSPECTION_JWT_HEADER, jwt);
    }
    Ok(response)
}

/// Handles `POST /revoke`: the client the token was issued to (authenticated as at the token
/// endpoint; a public client by its `client_id`) revokes it.
pub(crate) async fn revoke(state: &AppState, params: Params) -> Result<Response, OAuthError> {
    let now = zte_auth::unix_now();
    let client = authenticate_client(state, &params, now).await?;
    let token = params.require(param::TOKEN)?;
    let hash = TokenHash::of(token);
    let Some(record) = state.tokens.find(&hash).await.map_err(store_failed)? else {
        // Unknown, already revoked, or a JWT (never stored, so not revocable here): §2.2.
        return Ok(Json(json!({})).into_response());
    };
    if record.claims.client_id != client.id {
        tracing::info!(client = %client.id, "revocation refused: token of another client");
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "the token was not issued to this client",
        ));
    }
    state.tokens.revoke(&hash).await.map_err(store_failed)?;
    tracing::info!(client = %client.id, jti = %record.claims.jti, "opaque token revoked");
    Ok(Json(json!({})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jwt_response_is_chosen_by_its_media_type_only() {
        let mut headers = HeaderMap::new();
        assert!(!wants_jwt(&headers));
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert!(!wants_jwt(&headers));
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, application/token-introspection+jwt;q=0.9"),
        );
        assert!(wants_jwt(&headers));
    }

    #[test]
    fn an_inactive_answer_says_only_that() {
        assert_eq!(introspection_body(None).unwrap(), json!({"active": false}));
    }
}
