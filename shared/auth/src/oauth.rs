//! OAuth 2.0 wire constants, as the RFCs spell them, for both sides of the token endpoint:
//! the authorization server (Identity) and its clients ([`crate::oauth_client`]).
//!
//! The names this system gives its own clients, audiences and scopes are in
//! [`crate::names`].

/// `grant_type` of the resource-owner password grant (RFC 6749 §4.3).
pub const GRANT_TYPE_PASSWORD: &str = "password";
/// `grant_type` of RFC 8693 token exchange.
pub const GRANT_TYPE_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// RFC 8693 token type of an access token.
pub const TOKEN_TYPE_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
/// `token_type` of every token issued here (RFC 6750).
pub const TOKEN_TYPE_BEARER: &str = "Bearer";

/// `client_assertion_type` of an RFC 7523 JWT client assertion.
pub const CLIENT_ASSERTION_TYPE_JWT_BEARER: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// `token_endpoint_auth_method` of a client authenticating with a JWT signed by its own key
/// (RFC 7523, OpenID Connect Core §9).
pub const AUTH_METHOD_PRIVATE_KEY_JWT: &str = "private_key_jwt";
/// `token_endpoint_auth_method` of a public client (no authentication).
pub const AUTH_METHOD_NONE: &str = "none";

/// Media type of an RFC 9701 JWT introspection response (asked for with `Accept`).
pub const MEDIA_TYPE_INTROSPECTION_JWT: &str = "application/token-introspection+jwt";
/// JOSE `typ` of an RFC 9701 JWT introspection response.
pub const TYP_INTROSPECTION_JWT: &str = "token-introspection+jwt";

/// Token request parameters, spelled as RFC 6749 (§4.3, §3.3), RFC 7521 (§4.2) and
/// RFC 8693 (§2.1) define them.
pub mod param {
    pub const GRANT_TYPE: &str = "grant_type";
    /// The token to introspect (RFC 7662 §2.1) or revoke (RFC 7009 §2.1).
    pub const TOKEN: &str = "token";
    pub const CLIENT_ID: &str = "client_id";
    pub const CLIENT_ASSERTION_TYPE: &str = "client_assertion_type";
    pub const CLIENT_ASSERTION: &str = "client_assertion";
    pub const USERNAME: &str = "username";
    pub const PASSWORD: &str = "password";
    pub const SCOPE: &str = "scope";
    pub const SUBJECT_TOKEN: &str = "subject_token";
    pub const SUBJECT_TOKEN_TYPE: &str = "subject_token_type";
    pub const REQUESTED_TOKEN_TYPE: &str = "requested_token_type";
    pub const ACTOR_TOKEN: &str = "actor_token";
    pub const ACTOR_TOKEN_TYPE: &str = "actor_token_type";
    pub const RESOURCE: &str = "resource";
    pub const AUDIENCE: &str = "audience";
}

/// Token endpoint error codes: RFC 6749 §5.2, RFC 8693 §2.2.2, and the §4.1.2.1 codes a
/// token endpoint may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Missing, repeated or malformed parameter.
    InvalidRequest,
    /// Client authentication failed.
    InvalidClient,
    /// Bad credentials or subject token.
    InvalidGrant,
    /// The authenticated client may not use this grant.
    UnauthorizedClient,
    /// Grant type not supported.
    UnsupportedGrantType,
    /// Scope invalid, unknown or exceeding what is held.
    InvalidScope,
    /// RFC 8693: the requested audience is not one the server issues for.
    InvalidTarget,
    /// The resource owner or the server denied the request.
    AccessDenied,
    /// The server failed; details only in its logs.
    ServerError,
    /// The server is not ready.
    TemporarilyUnavailable,
}

impl ErrorCode {
    const ALL: [Self; 10] = [
        Self::InvalidRequest,
        Self::InvalidClient,
        Self::InvalidGrant,
        Self::UnauthorizedClient,
        Self::UnsupportedGrantType,
        Self::InvalidScope,
        Self::InvalidTarget,
        Self::AccessDenied,
        Self::ServerError,
        Self::TemporarilyUnavailable,
    ];

    /// The wire name (`error` member of the error response).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::AccessDenied => "access_denied",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }

    /// The code named `value`, if it is one of these.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|code| code.as_str() == value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_round_trip_through_their_wire_names() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(
            ErrorCode::parse("invalid_grant"),
            Some(ErrorCode::InvalidGrant)
        );
        assert_eq!(ErrorCode::parse("nope"), None);
    }
}
