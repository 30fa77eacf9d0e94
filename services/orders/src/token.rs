//! Obtaining event tokens: the seam between order creation and the authorization server.
//!
//! [`EventTokenIssuer`] is the one thing CreateOrder needs from identity: exchange the
//! caller's token for a token bound to one event. The production implementation does an
//! RFC 8693 token exchange at the configured token endpoint, authenticating this service with
//! `private_key_jwt` ([`OAuthEventTokenIssuer`]), asking for `trigger_payments` and binding
//! the token with this system's two extra parameters (the order id and the payload hash);
//! unit tests may substitute a fake.

use std::{fmt, future::Future, pin::Pin, sync::Arc};

use zte_auth::{
    SigningKey,
    names::{PARAM_EVENT_PAYLOAD_HASH, PARAM_ORDER_TRANSACTION_ID, SCOPE_TRIGGER_PAYMENTS},
    oauth::ErrorCode,
    oauth_client::{ClientCredentials, OAuthClientError, TokenClient, TokenExchange},
};

use zte_tls::ClientTls;

use crate::{config::OrdersConfig, error::OrdersError};

/// A boxed, sendable future (keeps the trait object-safe without extra crates).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the event token must be bound to.
#[derive(Clone, Copy)]
pub struct EventTokenRequest<'a> {
    /// The caller's access token (the RFC 8693 subject token).
    pub subject_token: &'a str,
    /// The order id the token is bound to.
    pub order_transaction_id: &'a str,
    /// Lowercase hex SHA-256 of the encoded event payload.
    pub event_payload_hash: &'a str,
}

impl fmt::Debug for EventTokenRequest<'_> {
    // The subject token is a bearer credential: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventTokenRequest")
            .field("order_transaction_id", &self.order_transaction_id)
            .field("event_payload_hash", &self.event_payload_hash)
            .finish_non_exhaustive()
    }
}

/// Why no event token was issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenIssueError {
    /// The authorization server could not be reached or answered with a server error or
    /// timeout. Retrying later may succeed.
    #[error("authorization server unavailable: {0}")]
    Unavailable(String),
    /// The authorization server refused to exchange this caller's token (e.g. `invalid_grant`,
    /// `invalid_scope`): the caller is not allowed to trigger a payment.
    #[error("token exchange refused for the caller: {0}")]
    Denied(String),
    /// Anything else: our client is misconfigured or the answer was unusable.
    #[error("token exchange failed: {0}")]
    Failed(String),
}

/// Exchanges a user's token for an event token.
pub trait EventTokenIssuer: Send + Sync + fmt::Debug {
    /// Returns the event token (compact JWS) for `request`.
    fn issue<'a>(
        &'a self,
        request: EventTokenRequest<'a>,
    ) -> BoxFuture<'a, Result<String, TokenIssueError>>;
}

/// The production issuer: RFC 8693 token exchange at the configured token endpoint, client
/// authentication by `private_key_jwt` with this service's own key.
#[derive(Debug, Clone)]
pub struct OAuthEventTokenIssuer {
    client: TokenClient,
    credentials: ClientCredentials,
}

impl OAuthEventTokenIssuer {
    /// An issuer using `client` and authenticating as `credentials`.
    pub fn new(client: TokenClient, credentials: ClientCredentials) -> Self {
        Self {
            client,
            credentials,
        }
    }
}

impl EventTokenIssuer for OAuthEventTokenIssuer {
    fn issue<'a>(
        &'a self,
        request: EventTokenRequest<'a>,
    ) -> BoxFuture<'a, Result<String, TokenIssueError>> {
        Box::pin(async move {
            let exchange = TokenExchange {
                subject_token: request.subject_token,
                scope: SCOPE_TRIGGER_PAYMENTS,
                extra: &[
                    (PARAM_ORDER_TRANSACTION_ID, request.order_transaction_id),
                    (PARAM_EVENT_PAYLOAD_HASH, request.event_payload_hash),
                ],
            };
            let response = self
                .client
                .token_exchange(&self.credentials, exchange)
                .await
                .map_err(classify)?;
            Ok(response.access_token)
        })
    }
}

/// Sorts a token-endpoint failure into what the caller should be told.
fn classify(error: OAuthClientError) -> TokenIssueError {
    match &error {
        _ if error.is_transient() => TokenIssueError::Unavailable(error.to_string()),
        // The server judged the *caller's* token or request: not allowed for this user.
        OAuthClientError::Rejected { error: code, .. }
            if matches!(
                ErrorCode::parse(code),
                Some(ErrorCode::InvalidGrant | ErrorCode::InvalidScope | ErrorCode::AccessDenied)
            ) =>
        {
            TokenIssueError::Denied(error.to_string())
        }
        // invalid_client, unauthorized_client, invalid_request, ...: our side is wrong.
        _ => TokenIssueError::Failed(error.to_string()),
    }
}

/// Builds the production issuer from the configuration: loads the client key (created by
/// `orders keygen`) and points the token client at the token endpoint, over `tls`.
pub fn oauth_issuer(
    config: &OrdersConfig,
    tls: &ClientTls,
) -> Result<Arc<dyn EventTokenIssuer>, OrdersError> {
    let service = &config.service;
    let path = service.client_key_path();
    if !path.exists() {
        return Err(OrdersError::Config(format!(
            "--client-key {} does not exist; create it with `orders keygen`",
            path.display()
        )));
    }
    let key = SigningKey::load(&path)?;
    let client = TokenClient::with_http(
        service.token_endpoint(),
        tls.http_client(),
        service.identity_timeout,
    )
    .map_err(|e| OrdersError::TokenClient(e.to_string()))?;
    let credentials = ClientCredentials {
        client_id: service.client_id.clone(),
        key,
        // RFC 7523 lets `aud` be the issuer; DESIGN.md fixes it to the issuer.
        assertion_audience: service.issuer.clone(),
    };
    Ok(Arc::new(OAuthEventTokenIssuer::new(client, credentials)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_endpoint_failures_are_classified_for_the_caller() {
        let rejected = |code: &str| OAuthClientError::Rejected {
            status: 400,
            error: code.into(),
            description: None,
        };
        assert!(matches!(
            classify(OAuthClientError::Unavailable("x".into())),
            TokenIssueError::Unavailable(_)
        ));
        assert!(matches!(
            classify(rejected("invalid_grant")),
            TokenIssueError::Denied(_)
        ));
        assert!(matches!(
            classify(rejected("invalid_scope")),
            TokenIssueError::Denied(_)
        ));
        assert!(matches!(
            classify(rejected("invalid_client")),
            TokenIssueError::Failed(_)
        ));
        assert!(matches!(
            classify(OAuthClientError::InvalidResponse("x".into())),
            TokenIssueError::Failed(_)
        ));
    }
}
