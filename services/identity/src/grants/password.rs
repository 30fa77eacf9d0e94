//! The resource-owner password grant (RFC 6749 §4.3), for demo users and scripted use only:
//! enabled per client by configuration, argon2 verification bounded and off the async
//! workers, and a user token for the APIs named by RFC 8707 `resource` parameters (both
//! when none is given).

use zte_auth::{
    AccessTokenClaims,
    names::{API_RESOURCES, ORDERS_AUDIENCE, PAYMENTS_AUDIENCE},
    oauth::param,
};

use super::{Params, Request, TokenResponseBody, issue, parse_scope};
use crate::error::{ErrorCode, OAuthError};

/// Audiences of user tokens asked for without a `resource`.
pub const USER_TOKEN_AUDIENCES: [&str; 2] = [ORDERS_AUDIENCE, PAYMENTS_AUDIENCE];

/// The audiences of the token: one per `resource` asked for (RFC 8707 §2, in order, without
/// repeats), or [`USER_TOKEN_AUDIENCES`] when none is. A resource that is not one of
/// [`API_RESOURCES`] is `invalid_target`.
fn audiences(params: &Params) -> Result<Vec<&'static str>, OAuthError> {
    let resources = params.all(param::RESOURCE);
    if resources.is_empty() {
        return Ok(USER_TOKEN_AUDIENCES.to_vec());
    }
    let mut audiences = Vec::with_capacity(resources.len());
    for resource in resources {
        let audience = API_RESOURCES
            .iter()
            .find(|(known, _)| known == resource)
            .map(|(_, audience)| *audience)
            .ok_or_else(|| {
                OAuthError::new(
                    ErrorCode::InvalidTarget,
                    "unknown resource (urn:zte:api:orders, urn:zte:api:payments)",
                )
            })?;
        if !audiences.contains(&audience) {
            audiences.push(audience);
        }
    }
    Ok(audiences)
}

/// Checks the user's credentials and issues a user token with the requested scope (default:
/// everything the client may ask for).
pub(super) async fn grant(request: Request<'_>) -> Result<TokenResponseBody, OAuthError> {
    let (state, client, params) = (request.state, request.client, request.params);
    let username = params.require(param::USERNAME)?.to_owned();
    let password = params.require(param::PASSWORD)?.to_owned();
    let audiences = audiences(params)?;
    let scopes = match params.get(param::SCOPE) {
        Some(scope) => parse_scope(scope)?,
        None => client.scopes.clone(),
    };
    if let Some(extra) = scopes.iter().find(|s| !client.scopes.contains(s)) {
        return Err(OAuthError::invalid_scope(format!(
            "client may not request scope {extra}"
        )));
    }
    // Brute force: a budget per user and per address, checked before any password is.
    // Argon2 is deliberately expensive: bound how many run at once (and how many may wait)
    // and keep them off the async workers.
    state
        .password_throttle
        .admit(&username, request.client_address)?;
    let _slot = state.password_throttle.slot().await?;
    let registry = state.registry.clone();
    let user = username.clone();
    let valid = tokio::task::spawn_blocking(move || registry.verify_password(&user, &password))
        .await
        .map_err(|error| {
            tracing::error!(%error, "password verification task failed");
            OAuthError::server_error()
        })?;
    if !valid {
        tracing::info!(client = %client.id, "password grant refused: bad credentials");
        return Err(OAuthError::invalid_grant("invalid username or password"));
    }
    let lifetime = state.settings.user_token_lifetime.as_secs();
    let claims = AccessTokenClaims::issued(
        &state.issuer,
        &username,
        &audiences,
        &scopes.to_string(),
        &client.id,
        request.now,
        state.settings.user_token_lifetime,
    );
    issue(state, client, claims, lifetime, None).await
}
