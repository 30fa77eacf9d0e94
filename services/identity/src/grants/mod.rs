//! The token endpoint (`POST /token`), one module per grant as in oxide-auth. This module
//! holds what every grant shares: the form ([`Params`]), client authentication, the check
//! that the client may use the grant it asks for, and signing the grant's claims into the
//! response. [`password`] and [`token_exchange`] each hold one grant's own rules. HTTP
//! plumbing lives in [`crate::http`]; errors become responses in [`crate::error`].

mod params;
pub mod password;
pub(crate) mod throttle;
pub mod token_exchange;

use std::net::IpAddr;

use serde::Serialize;
use zte_auth::{
    AccessTokenClaims, Scopes,
    jws::{self, TYP_ACCESS_TOKEN},
    oauth::{CLIENT_ASSERTION_TYPE_JWT_BEARER, param},
};

pub use params::Params;

use crate::{
    AppState,
    assertion::{self, AssertionPolicy},
    error::{ErrorCode, OAuthError},
    opaque::{self, TokenRecord},
    registry::{Client, ClientAuth, GrantType},
};

/// A successful token response (RFC 6749 §5.1, RFC 8693 §2.2.1).
#[derive(Debug, Serialize)]
pub struct TokenResponseBody {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    issued_token_type: Option<&'static str>,
}

/// What every grant is given: the server state, the authenticated client (allowed to use
/// the grant), the form, and the time the request is judged at.
#[derive(Debug, Clone, Copy)]
struct Request<'a> {
    state: &'a AppState,
    client: &'a Client,
    params: &'a Params,
    now: i64,
    /// The client's IP address, when the server knows it.
    client_address: Option<IpAddr>,
}

/// Handles one token request: grant type, client authentication, then the grant itself.
pub(crate) async fn handle(
    state: &AppState,
    params: Params,
    client_address: Option<IpAddr>,
) -> Result<TokenResponseBody, OAuthError> {
    let grant_type = params.require(param::GRANT_TYPE)?;
    let grant = GrantType::parse(grant_type)
        .filter(|_| grant_type != "token-exchange")
        .ok_or_else(|| {
            OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "supported grant types: password, urn:ietf:params:oauth:grant-type:token-exchange",
            )
        })?;
    let now = zte_auth::unix_now();
    let client = authenticate_client(state, &params, now).await?;
    if !client.allows(grant) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("client may not use grant type {}", grant.as_str()),
        ));
    }
    let request = Request {
        state,
        client,
        params: &params,
        now,
        client_address,
    };
    match grant {
        GrantType::Password => password::grant(request).await,
        GrantType::TokenExchange => token_exchange::grant(request).await,
    }
}

/// Client authentication, the same for every grant: a `private_key_jwt` assertion
/// (RFC 7523, checked in [`crate::assertion`]) or, for a public client only, its bare
/// `client_id`.
pub(crate) async fn authenticate_client<'s>(
    state: &'s AppState,
    params: &Params,
    now: i64,
) -> Result<&'s Client, OAuthError> {
    let client_id = params.get(param::CLIENT_ID);
    match (
        params.get(param::CLIENT_ASSERTION_TYPE),
        params.get(param::CLIENT_ASSERTION),
    ) {
        (Some(CLIENT_ASSERTION_TYPE_JWT_BEARER), Some(assertion)) => {
            let policy = AssertionPolicy {
                audiences: [&state.issuer, &state.token_endpoint],
                leeway: i64::try_from(state.settings.leeway.as_secs()).unwrap_or(60),
            };
            assertion::authenticate(
                &state.registry,
                &state.replay,
                policy,
                assertion,
                client_id,
                now,
            )
            .await
        }
        (Some(_), Some(_)) => Err(OAuthError::invalid_client(
            "unsupported client_assertion_type",
        )),
        (Some(_), None) | (None, Some(_)) => Err(OAuthError::invalid_request(
            "client_assertion and client_assertion_type go together",
        )),
        (None, None) => {
            let id = client_id.ok_or_else(|| {
                OAuthError::invalid_client("client authentication required (client_id)")
            })?;
            let client = state
                .registry
                .client(id)
                .ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
            match client.auth {
                ClientAuth::None => Ok(client),
                ClientAuth::PrivateKeyJwt(_) => Err(OAuthError::invalid_client(
                    "confidential client must authenticate with private_key_jwt",
                )),
            }
        }
    }
}

/// Signs `claims` with the active key and builds the response every grant returns. An
/// internet client gets an opaque token standing for the JWT instead of the JWT itself.
async fn issue(
    state: &AppState,
    client: &Client,
    claims: AccessTokenClaims,
    lifetime: u64,
    issued_token_type: Option<&'static str>,
) -> Result<TokenResponseBody, OAuthError> {
    let keys = state.keys();
    let key = keys.ring.active();
    let token = jws::sign(key, TYP_ACCESS_TOKEN, &claims).map_err(|error| {
        tracing::error!(%error, "signing a token failed");
        OAuthError::server_error()
    })?;
    tracing::info!(
        client = %claims.client_id,
        sub = %claims.sub,
        jti = %claims.jti,
        scope = %claims.scope,
        kid = %key.kid(),
        order_transaction_id = claims.order_transaction_id.as_deref().unwrap_or(""),
        opaque = client.internet_client,
        "token issued"
    );
    let scope = claims.scope.clone();
    let access_token = if client.internet_client {
        let (opaque, hash) = opaque::mint();
        let record = TokenRecord { jwt: token, claims };
        state.tokens.insert(hash, record).await.map_err(|error| {
            tracing::error!(%error, "storing an opaque token failed");
            OAuthError::server_error()
        })?;
        opaque
    } else {
        token
    };
    Ok(TokenResponseBody {
        access_token,
        token_type: "Bearer",
        expires_in: lifetime,
        scope,
        issued_token_type,
    })
}

/// Parses a `scope` parameter: space-separated scope tokens of RFC 6749 §3.3 characters.
fn parse_scope(scope: &str) -> Result<Scopes, OAuthError> {
    let valid_char = |c: char| matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e');
    if !scope.chars().all(|c| c == ' ' || valid_char(c)) {
        return Err(OAuthError::invalid_scope(
            "scope contains invalid characters",
        ));
    }
    let scopes = Scopes::parse(scope);
    if scopes.is_empty() {
        return Err(OAuthError::invalid_scope("scope is empty"));
    }
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_syntax_follows_rfc6749() {
        assert!(parse_scope("orders payments").is_ok());
        assert!(parse_scope("  ").is_err());
        assert!(parse_scope("orders\"").is_err());
        assert!(parse_scope("ord\\ers").is_err());
    }
}
