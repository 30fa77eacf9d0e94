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

/// Token request parameters (RFC 6749 §4.3 and §3.3, RFC 7521 §4.2, RFC 8693 §2.1).
pub mod param {
    /// The grant type.
    pub const GRANT_TYPE: &str = "grant_type";
    /// The client's id.
    pub const CLIENT_ID: &str = "client_id";
    /// The type of `client_assertion`.
    pub const CLIENT_ASSERTION_TYPE: &str = "client_assertion_type";
    /// The client's authentication assertion.
    pub const CLIENT_ASSERTION: &str = "client_assertion";
    /// Password grant: the resource owner.
    pub const USERNAME: &str = "username";
    /// Password grant: the resource owner's password.
    pub const PASSWORD: &str = "password";
    /// The scopes asked for, space-separated.
    pub const SCOPE: &str = "scope";
    /// Token exchange: the token to exchange.
    pub const SUBJECT_TOKEN: &str = "subject_token";
    /// Token exchange: the type of `subject_token`.
    pub const SUBJECT_TOKEN_TYPE: &str = "subject_token_type";
    /// Token exchange: the type of token wanted.
    pub const REQUESTED_TOKEN_TYPE: &str = "requested_token_type";
    /// Token exchange: a token of the acting party.
    pub const ACTOR_TOKEN: &str = "actor_token";
    /// Token exchange: the type of `actor_token`.
    pub const ACTOR_TOKEN_TYPE: &str = "actor_token_type";
    /// RFC 8707: the resource the token is for.
    pub const RESOURCE: &str = "resource";
    /// Token exchange: the audience the token is for.
    pub const AUDIENCE: &str = "audience";
}

/// Token endpoint error codes (RFC 6749 §5.2, RFC 8693 §2.2.2, RFC 6749 §4.1.2.1).
pub mod error {
    /// Missing, repeated or malformed parameter.
    pub const INVALID_REQUEST: &str = "invalid_request";
    /// Client authentication failed.
    pub const INVALID_CLIENT: &str = "invalid_client";
    /// Bad credentials or subject token.
    pub const INVALID_GRANT: &str = "invalid_grant";
    /// The authenticated client may not use this grant.
    pub const UNAUTHORIZED_CLIENT: &str = "unauthorized_client";
    /// Grant type not supported.
    pub const UNSUPPORTED_GRANT_TYPE: &str = "unsupported_grant_type";
    /// Scope invalid, unknown or exceeding what is held.
    pub const INVALID_SCOPE: &str = "invalid_scope";
    /// The requested audience is not one the server issues for.
    pub const INVALID_TARGET: &str = "invalid_target";
    /// The resource owner or server denied the request.
    pub const ACCESS_DENIED: &str = "access_denied";
    /// The server failed.
    pub const SERVER_ERROR: &str = "server_error";
    /// The server is not ready.
    pub const TEMPORARILY_UNAVAILABLE: &str = "temporarily_unavailable";
}
