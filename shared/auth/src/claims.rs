//! Claim sets: access tokens (user and event tokens share RFC 9068's shape) and RFC 7523
//! client assertions, plus scope handling. The scope names are in [`crate::names`].

use std::{collections::BTreeSet, time::Duration};

use biscuit::CompactJson;
use serde::{Deserialize, Serialize};

use crate::names::SCOPE_TRIGGER_PAYMENTS;

/// `aud` as a single string or an array (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// One audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// True when `aud` names `audience`.
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(a) => a == audience,
            Self::Many(all) => all.iter().any(|a| a == audience),
        }
    }
}

/// The acting party of a delegated token (RFC 8693 §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The client that acted on the subject's behalf.
    pub sub: String,
}

/// Claims of every access token this system issues (RFC 9068), including event tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user.
    pub sub: String,
    /// Audience(s).
    pub aud: Audience,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Not before (Unix seconds).
    pub nbf: i64,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Unique token id.
    pub jti: String,
    /// Space-separated scopes.
    pub scope: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Event tokens: the client that exchanged the user's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
    /// Event tokens: the order (event) the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_transaction_id: Option<String>,
    /// Event tokens: lowercase hex SHA-256 of the event payload bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_payload_hash: Option<String>,
}

impl CompactJson for AccessTokenClaims {}

impl AccessTokenClaims {
    /// Claims of a token issued at `now` (Unix seconds) and valid for `lifetime`, with a fresh
    /// random `jti` and no event binding (a user token as the password grant issues it).
    pub fn issued(
        issuer: &str,
        sub: &str,
        audiences: &[&str],
        scope: &str,
        client_id: &str,
        now: i64,
        lifetime: Duration,
    ) -> Self {
        Self {
            iss: issuer.to_owned(),
            sub: sub.to_owned(),
            aud: Audience::Many(audiences.iter().map(|a| (*a).to_owned()).collect()),
            exp: now.saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX)),
            nbf: now,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            scope: scope.to_owned(),
            client_id: client_id.to_owned(),
            act: None,
            order_transaction_id: None,
            event_payload_hash: None,
        }
    }

    /// Binds the token to one event, as RFC 8693 token exchange does here: `aud` becomes the
    /// single consumer `audience`, the client becomes the actor (`act.sub`), and the order id
    /// and payload hash are added.
    pub fn for_event(
        mut self,
        audience: &str,
        order_transaction_id: &str,
        event_payload_hash: &str,
    ) -> Self {
        self.aud = Audience::One(audience.to_owned());
        self.act = Some(Actor {
            sub: self.client_id.clone(),
        });
        self.order_transaction_id = Some(order_transaction_id.to_owned());
        self.event_payload_hash = Some(event_payload_hash.to_owned());
        self
    }

    /// The token's scopes.
    pub fn scopes(&self) -> Scopes {
        Scopes::parse(&self.scope)
    }

    /// True for a token bound to one event (token exchange result). Such a token is only
    /// ever accepted by the event consumer.
    pub fn is_event_token(&self) -> bool {
        self.event_payload_hash.is_some()
            || self.order_transaction_id.is_some()
            || self.scopes().contains(SCOPE_TRIGGER_PAYMENTS)
    }
}

/// Claims of an RFC 7523 client assertion (`private_key_jwt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientAssertionClaims {
    /// The client id.
    pub iss: String,
    /// The client id again.
    pub sub: String,
    /// The authorization server (issuer or token endpoint).
    pub aud: Audience,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Issued at (Unix seconds).
    pub iat: Option<i64>,
    /// Not before (Unix seconds).
    pub nbf: Option<i64>,
    /// Unique id; never accepted twice.
    pub jti: String,
}

impl CompactJson for ClientAssertionClaims {}

/// Claims of an RFC 9701 JWT introspection response: who answered, for which client, when,
/// and the RFC 7662 answer itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntrospectionJwtClaims {
    /// The authorization server (issuer).
    pub iss: String,
    /// The client that asked.
    pub aud: String,
    /// When the answer was made (Unix seconds).
    pub iat: i64,
    /// The RFC 7662 introspection response (`active` and, when active, the claims).
    pub token_introspection: serde_json::Value,
}

impl CompactJson for IntrospectionJwtClaims {}

/// A set of OAuth scopes (space-delimited, RFC 6749 §3.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<String>);

impl Scopes {
    /// Parses a space-delimited scope string; empty tokens are ignored.
    pub fn parse(scope: &str) -> Self {
        Self(
            scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    /// True when `scope` is included.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    /// True when every scope of `self` is in `other`.
    pub fn is_subset(&self, other: &Self) -> bool {
        self.0.is_subset(&other.0)
    }

    /// True when no scope is present.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates the scopes in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl std::fmt::Display for Scopes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let joined: Vec<&str> = self.iter().collect();
        f.write_str(&joined.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_compare() {
        let held = Scopes::parse("orders  payments");
        assert!(Scopes::parse("orders").is_subset(&held));
        assert!(!Scopes::parse("orders admin").is_subset(&held));
        assert_eq!(held.to_string(), "orders payments");
        assert!(Scopes::parse("").is_empty());
    }

    #[test]
    fn issued_then_bound_to_an_event_has_the_exchange_shape() {
        let user = AccessTokenClaims::issued(
            "iss",
            "alice",
            &["a", "b"],
            "orders",
            "cli",
            100,
            Duration::from_secs(60),
        );
        assert_eq!((user.nbf, user.iat, user.exp), (100, 100, 160));
        assert!(!user.is_event_token() && user.aud.contains("b"));
        let event = AccessTokenClaims::issued(
            "iss",
            "alice",
            &[],
            SCOPE_TRIGGER_PAYMENTS,
            "orders-service",
            100,
            Duration::from_secs(60),
        )
        .for_event("payments-service", "id-1", "ab");
        assert_eq!(event.aud, Audience::One("payments-service".into()));
        assert_eq!(
            event.act,
            Some(Actor {
                sub: "orders-service".into()
            })
        );
        assert_eq!(event.order_transaction_id.as_deref(), Some("id-1"));
        assert_eq!(event.event_payload_hash.as_deref(), Some("ab"));
        assert!(event.is_event_token());
        assert_ne!(user.jti, event.jti);
    }

    #[test]
    fn audience_accepts_string_or_array() {
        let one: Audience = serde_json::from_str(r#""orders""#).unwrap();
        let many: Audience = serde_json::from_str(r#"["a","orders"]"#).unwrap();
        assert!(one.contains("orders") && many.contains("orders") && !many.contains("x"));
    }
}
