//! The names the parties of this system know each other by: OAuth client ids, token
//! audiences, scopes and the token-exchange parameters that bind an event token to its
//! event. Defined once, next to each other, so the server that issues a token and the
//! service that checks it cannot disagree. (Each service can still be configured with other
//! values; these are the defaults and the demo registry.)

/// The Orders service's OAuth client id: the confidential client that exchanges a user's
/// token for an event token, and so the trusted producer (`act.sub`) of payment events.
pub const ORDERS_CLIENT_ID: &str = "orders-service";
/// The Payments service's OAuth client id (its `--client-id` default).
pub const PAYMENTS_CLIENT_ID: &str = "payments-service";
/// The demo public client (password grant, development only).
pub const DEMO_CLIENT_ID: &str = "demo-cli";
/// The demo internet client (password grant, development only): its access tokens are
/// opaque, usable only through the gateway, which swaps them for the JWT (phantom tokens).
pub const DEMO_INTERNET_CLIENT_ID: &str = "demo-web";
/// The gateway's OAuth client id: the confidential client allowed to introspect opaque
/// tokens (and so to receive the JWT each one stands for).
pub const GATEWAY_CLIENT_ID: &str = "gateway";

/// Response header of a successful introspection of an opaque token (`POST /introspect`):
/// the JWT the token stands for, for the gateway to pass on (nginx `auth_request` reads
/// headers, not bodies).
pub const INTROSPECTION_JWT_HEADER: &str = "x-access-jwt";

/// Audience of tokens for the Orders API (user tokens; the subject token of an exchange).
pub const ORDERS_AUDIENCE: &str = "orders-service";
/// Audience of tokens for the Payments API and of event tokens.
pub const PAYMENTS_AUDIENCE: &str = "payments-service";

/// RFC 8707 resource indicator of the Orders API: a password grant with
/// `resource=urn:zte:api:orders` gets a token whose only audience is [`ORDERS_AUDIENCE`].
pub const ORDERS_RESOURCE: &str = "urn:zte:api:orders";
/// RFC 8707 resource indicator of the Payments API (audience [`PAYMENTS_AUDIENCE`]).
pub const PAYMENTS_RESOURCE: &str = "urn:zte:api:payments";
/// Every API a user token can be issued for: `(resource indicator, audience)`.
pub const API_RESOURCES: [(&str, &str); 2] = [
    (ORDERS_RESOURCE, ORDERS_AUDIENCE),
    (PAYMENTS_RESOURCE, PAYMENTS_AUDIENCE),
];

/// Scope that lets a token read and create orders.
pub const SCOPE_ORDERS: &str = "orders";
/// Scope that lets a token read payments.
pub const SCOPE_PAYMENTS: &str = "payments";
/// The only scope of an event token: trigger one payment for one event.
pub const SCOPE_TRIGGER_PAYMENTS: &str = "trigger_payments";
/// Every scope this system defines.
pub const SCOPES: [&str; 3] = [SCOPE_ORDERS, SCOPE_PAYMENTS, SCOPE_TRIGGER_PAYMENTS];

/// Token-exchange parameter (and event-token claim): the order the event token is bound to.
pub const PARAM_ORDER_TRANSACTION_ID: &str = "order_transaction_id";
/// Token-exchange parameter (and event-token claim): lowercase hex SHA-256 of the event
/// payload bytes.
pub const PARAM_EVENT_PAYLOAD_HASH: &str = "event_payload_hash";
