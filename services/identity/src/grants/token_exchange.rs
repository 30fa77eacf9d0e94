//! RFC 8693 token exchange: a confidential client (Orders) trades the user token it was
//! presented for an event token bound to one order (`order_transaction_id`) and one payload
//! (`event_payload_hash`), with a scope narrowed to `trigger_payments`, audience
//! `payments-service`, and the client as the actor (`act.sub`).

use zte_auth::{
    AccessTokenClaims,
    names::{
        ORDERS_AUDIENCE, PARAM_EVENT_PAYLOAD_HASH, PARAM_ORDER_TRANSACTION_ID, PAYMENTS_AUDIENCE,
        SCOPE_ORDERS, SCOPE_TRIGGER_PAYMENTS,
    },
    oauth::{TOKEN_TYPE_ACCESS_TOKEN, param},
};

use super::{Request, TokenResponseBody, issue, parse_scope};
use crate::error::{ErrorCode, OAuthError};

/// Audience of event tokens.
pub const EVENT_TOKEN_AUDIENCE: &str = PAYMENTS_AUDIENCE;
/// Audience a subject token must carry to be exchanged (it was presented to Orders).
pub const EXCHANGE_SUBJECT_AUDIENCE: &str = ORDERS_AUDIENCE;

/// Scopes that may be obtained by token exchange from a subject token holding a *broader*
/// scope: `(narrow, broad)`. Holding `orders` (create orders) lets the acting client ask
/// for `trigger_payments` (pay for that one order), nothing else.
pub const NARROWED_SCOPES: [(&str, &str); 1] = [(SCOPE_TRIGGER_PAYMENTS, SCOPE_ORDERS)];

/// Checks the request and the subject token, then issues the event token.
pub(super) async fn grant(request: Request<'_>) -> Result<TokenResponseBody, OAuthError> {
    let (state, client, params) = (request.state, request.client, request.params);
    let subject_token = params.require(param::SUBJECT_TOKEN)?;
    if params.require(param::SUBJECT_TOKEN_TYPE)? != TOKEN_TYPE_ACCESS_TOKEN {
        return Err(OAuthError::invalid_request(
            "subject_token_type must be urn:ietf:params:oauth:token-type:access_token",
        ));
    }
    if params
        .get(param::REQUESTED_TOKEN_TYPE)
        .is_some_and(|t| t != TOKEN_TYPE_ACCESS_TOKEN)
    {
        return Err(OAuthError::invalid_request(
            "requested_token_type must be urn:ietf:params:oauth:token-type:access_token",
        ));
    }
    if params.get(param::ACTOR_TOKEN).is_some() || params.get(param::ACTOR_TOKEN_TYPE).is_some() {
        return Err(OAuthError::invalid_request(
            "actor_token is not supported: the authenticated client is the actor",
        ));
    }
    if params.get(param::RESOURCE).is_some()
        || params
            .get(param::AUDIENCE)
            .is_some_and(|a| a != EVENT_TOKEN_AUDIENCE)
    {
        return Err(OAuthError::new(
            ErrorCode::InvalidTarget,
            "event tokens are issued for audience payments-service only",
        ));
    }
    let requested = parse_scope(params.require(param::SCOPE)?)?;
    let order_transaction_id = params.require(PARAM_ORDER_TRANSACTION_ID)?;
    if !is_canonical_uuid(order_transaction_id) {
        return Err(OAuthError::invalid_request(
            "order_transaction_id must be a lowercase hyphenated UUID",
        ));
    }
    let event_payload_hash = params.require(PARAM_EVENT_PAYLOAD_HASH)?;
    if !is_payload_hash(event_payload_hash) {
        return Err(OAuthError::invalid_request(
            "event_payload_hash must be 64 lowercase hex digits (SHA-256)",
        ));
    }

    // The subject token: one this server issued, fully valid, presented to Orders, and a
    // user token (an event token is never exchanged again).
    let validator = state.keys().validator.clone();
    let subject = validator
        .validate_at(subject_token, request.now)
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
        request.now,
        state.settings.event_token_lifetime,
    )
    .for_event(
        EVENT_TOKEN_AUDIENCE,
        order_transaction_id,
        event_payload_hash,
    );
    issue(
        state,
        client,
        claims,
        lifetime,
        Some(TOKEN_TYPE_ACCESS_TOKEN),
    )
    .await
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
    use super::*;

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
}
