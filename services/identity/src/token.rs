//! The token endpoint's logic: parse the form, authenticate the client, run the grant, sign
//! the token. HTTP plumbing lives in [`crate::http`]; errors become responses in
//! [`crate::error`].

use std::collections::HashMap;

use axum::http::{HeaderMap, header};
use serde::Serialize;
use zte_auth::{
    AccessTokenClaims, Scopes,
    claims::{SCOPE_ORDERS, SCOPE_TRIGGER_PAYMENTS},
    jws::{self, TYP_ACCESS_TOKEN},
    oauth_client::{CLIENT_ASSERTION_TYPE_JWT_BEARER, TOKEN_TYPE_ACCESS_TOKEN},
};

use crate::{
    AppState,
    assertion::{self, AssertionPolicy},
    error::{ErrorCode, OAuthError},
    registry::{Client, ClientAuth, GrantType},
};

/// Audiences of user tokens.
pub const USER_TOKEN_AUDIENCES: [&str; 2] = ["orders-service", "payments-service"];
/// Audience of event tokens.
pub const EVENT_TOKEN_AUDIENCE: &str = "payments-service";
/// Audience a subject token must carry to be exchanged (it was presented to Orders).
pub const EXCHANGE_SUBJECT_AUDIENCE: &str = "orders-service";

/// Scopes that may be obtained by token exchange from a subject token holding a *broader*
/// scope: `(narrow, broad)`. Holding `orders` (create orders) lets the acting client ask
/// for `trigger_payments` (pay for that one order), nothing else.
pub const NARROWED_SCOPES: [(&str, &str); 1] = [(SCOPE_TRIGGER_PAYMENTS, SCOPE_ORDERS)];

/// The form parameters, each present at most once; empty values count as absent
/// (RFC 6749 §3.1).
#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Parses an `application/x-www-form-urlencoded` body.
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(OAuthError::invalid_request(
                "content type must be application/x-www-form-urlencoded",
            ));
        }
        if std::str::from_utf8(body).is_err() {
            return Err(OAuthError::invalid_request("body is not UTF-8"));
        }
        let mut params = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(body) {
            if value.contains('\u{FFFD}') || name.contains('\u{FFFD}') {
                return Err(OAuthError::invalid_request(
                    "a parameter is not valid UTF-8",
                ));
            }
            if value.is_empty() {
                continue;
            }
            if params
                .insert(name.to_string(), value.into_owned())
                .is_some()
            {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {} is repeated",
                    safe_name(&name)
                )));
            }
        }
        Ok(Self(params))
    }

    /// The parameter `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The parameter `name`, or `invalid_request` naming it.
    pub fn require(&self, name: &'static str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter {name}")))
    }
}

/// A parameter name fit for an error description (bounded, printable).
fn safe_name(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect()
}

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

/// Handles one token request.
pub(crate) async fn handle(
    state: &AppState,
    params: Params,
) -> Result<TokenResponseBody, OAuthError> {
    let grant_type = params.require("grant_type")?;
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
    match grant {
        GrantType::Password => password_grant(state, client, &params, now).await,
        GrantType::TokenExchange => token_exchange(state, client, &params, now).await,
    }
}

async fn authenticate_client<'s>(
    state: &'s AppState,
    params: &Params,
    now: i64,
) -> Result<&'s Client, OAuthError> {
    let client_id = params.get("client_id");
    match (
        params.get("client_assertion_type"),
        params.get("client_assertion"),
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

async fn password_grant(
    state: &AppState,
    client: &Client,
    params: &Params,
    now: i64,
) -> Result<TokenResponseBody, OAuthError> {
    let username = params.require("username")?.to_owned();
    let password = params.require("password")?.to_owned();
    let scopes = match params.get("scope") {
        Some(scope) => parse_scope(scope)?,
        None => client.scopes.clone(),
    };
    if let Some(extra) = scopes.iter().find(|s| !client.scopes.contains(s)) {
        return Err(OAuthError::invalid_scope(format!(
            "client may not request scope {extra}"
        )));
    }
    // Argon2 is deliberately expensive: bound how many run at once and keep them off the
    // async workers.
    let _slot = state
        .password_slots
        .acquire()
        .await
        .map_err(|_| OAuthError::server_error())?;
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
        &USER_TOKEN_AUDIENCES,
        &scopes.to_string(),
        &client.id,
        now,
        state.settings.user_token_lifetime,
    );
    issue(state, claims, lifetime, None)
}

async fn token_exchange(
    state: &AppState,
    client: &Client,
    params: &Params,
    now: i64,
) -> Result<TokenResponseBody, OAuthError> {
    let subject_token = params.require("subject_token")?;
    if params.require("subject_token_type")? != TOKEN_TYPE_ACCESS_TOKEN {
        return Err(OAuthError::invalid_request(
            "subject_token_type must be urn:ietf:params:oauth:token-type:access_token",
        ));
    }
    if params
        .get("requested_token_type")
        .is_some_and(|t| t != TOKEN_TYPE_ACCESS_TOKEN)
    {
        return Err(OAuthError::invalid_request(
            "requested_token_type must be urn:ietf:params:oauth:token-type:access_token",
        ));
    }
    if params.get("actor_token").is_some() || params.get("actor_token_type").is_some() {
        return Err(OAuthError::invalid_request(
            "actor_token is not supported: the authenticated client is the actor",
        ));
    }
    if params.get("resource").is_some()
        || params
            .get("audience")
            .is_some_and(|a| a != EVENT_TOKEN_AUDIENCE)
    {
        return Err(OAuthError::new(
            ErrorCode::InvalidTarget,
            "event tokens are issued for audience payments-service only",
        ));
    }
    let requested = parse_scope(params.require("scope")?)?;
    let order_transaction_id = params.require("order_transaction_id")?;
    if !is_canonical_uuid(order_transaction_id) {
        return Err(OAuthError::invalid_request(
            "order_transaction_id must be a lowercase hyphenated UUID",
        ));
    }
    let event_payload_hash = params.require("event_payload_hash")?;
    if !is_payload_hash(event_payload_hash) {
        return Err(OAuthError::invalid_request(
            "event_payload_hash must be 64 lowercase hex digits (SHA-256)",
        ));
    }

    // The subject token: one this server issued, fully valid, presented to Orders, and a
    // user token (an event token is never exchanged again).
    let validator = state.keys().validator.clone();
    let subject = validator
        .validate_at(subject_token, now)
        .await
        .map_err(|e| {
            tracing::info!(client = %client.id, reason = e.reason(), "subject token refused");
            OAuthError::invalid_grant(format!("subject_token is not valid: {}", e.reason()))
        })?;
    if subject.is_event_token() || subject.act.is_some() {
        return Err(OAuthError::invalid_grant(
            "subject_token is an event token; only user tokens can be exchanged",
        ));
    }

    let held = subject.scopes();
    for scope in requested.iter() {
        if !client.scopes.contains(scope) {
            return Err(OAuthError::invalid_scope(format!(
                "client may not request scope {scope}"
            )));
        }
        let derivable = NARROWED_SCOPES
            .iter()
            .any(|(narrow, broad)| *narrow == scope && held.contains(broad));
        if !held.contains(scope) && !derivable {
            return Err(OAuthError::invalid_scope(format!(
                "subject_token does not hold scope {scope} (or a scope it narrows)"
            )));
        }
    }

    let lifetime = state.settings.event_token_lifetime.as_secs();
    let claims = AccessTokenClaims::issued(
        &state.issuer,
        &subject.sub,
        &[],
        &requested.to_string(),
        &client.id,
        now,
        state.settings.event_token_lifetime,
    )
    .for_event(
        EVENT_TOKEN_AUDIENCE,
        order_transaction_id,
        event_payload_hash,
    );
    issue(state, claims, lifetime, Some(TOKEN_TYPE_ACCESS_TOKEN))
}

fn issue(
    state: &AppState,
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
        "token issued"
    );
    Ok(TokenResponseBody {
        access_token: token,
        token_type: "Bearer",
        expires_in: lifetime,
        scope: claims.scope,
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

/// True for a UUID in canonical form (lowercase, hyphenated, 36 characters).
pub fn is_canonical_uuid(value: &str) -> bool {
    uuid::Uuid::try_parse(value).is_ok_and(|u| u.hyphenated().to_string() == value)
}

/// True for a lowercase hex SHA-256 (the same rule as `zte_event::is_payload_hash`, which
/// identity does not depend on).
pub fn is_payload_hash(value: &str) -> bool {
    value.len() == 64
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn form_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=UTF-8"),
        );
        headers
    }

    #[test]
    fn form_parsing_refuses_repeats_wrong_content_type_and_bad_utf8() {
        let ok = Params::parse(&form_headers(), b"a=1&b=&c=x%20y").unwrap();
        assert_eq!(ok.get("a"), Some("1"));
        assert_eq!(ok.get("b"), None, "empty means absent");
        assert_eq!(ok.get("c"), Some("x y"));
        assert!(Params::parse(&form_headers(), b"a=1&a=2").is_err());
        assert!(Params::parse(&form_headers(), b"a=%FF").is_err());
        assert!(Params::parse(&HeaderMap::new(), b"a=1").is_err());
    }

    #[test]
    fn custom_parameter_formats_are_strict() {
        assert!(is_canonical_uuid("6f1c2b1e-2f7a-4a53-9d3c-0a6f1e2d3c4b"));
        assert!(!is_canonical_uuid("6F1C2B1E-2F7A-4A53-9D3C-0A6F1E2D3C4B"));
        assert!(!is_canonical_uuid("6f1c2b1e2f7a4a539d3c0a6f1e2d3c4b"));
        assert!(!is_canonical_uuid(
            "urn:uuid:6f1c2b1e-2f7a-4a53-9d3c-0a6f1e2d3c4b"
        ));
        assert!(is_payload_hash(&"ab".repeat(32)));
        assert!(!is_payload_hash(&"AB".repeat(32)));
        assert!(!is_payload_hash(&"ab".repeat(31)));
        assert!(!is_payload_hash(&"zz".repeat(32)));
    }

    #[test]
    fn scope_syntax_follows_rfc6749() {
        assert!(parse_scope("orders payments").is_ok());
        assert!(parse_scope("  ").is_err());
        assert!(parse_scope("orders\"").is_err());
        assert!(parse_scope("ord\\ers").is_err());
    }
}
