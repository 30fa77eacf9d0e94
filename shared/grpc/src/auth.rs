//! gRPC authentication as a tower layer, shared by Orders and Payments.
//!
//! [`AuthLayer`] validates `authorization: Bearer <JWT>` on every call to a protected service
//! (matched by path prefix, e.g. `/orders.v1.OrdersService/`), then enforces that service's
//! scope. Health and reflection are not in the protected list and stay open. The validated
//! [`Caller`] (claims and the token itself) is put into the request extensions for handlers.
//!
//! | cause | status |
//! |---|---|
//! | no / malformed / unverifiable / expired token | `UNAUTHENTICATED` |
//! | valid token, scope missing, or an event token (`trigger_payments`) | `PERMISSION_DENIED` |
//! | JWKS unreachable for an unknown key | `UNAVAILABLE` |

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use tonic::{Status, body::Body};
use tower::{Layer, Service};

use zte_auth::{
    AccessTokenClaims, Algorithm, JwksCache, OutboundHttp, TokenError, TokenValidator,
    ValidatorConfig, names::SCOPE_TRIGGER_PAYMENTS,
};
use zte_runtime::{ServiceConfig, ServiceDefaults};

use crate::server::ServiceError;

/// Clock skew tolerated on the `exp`/`nbf` of the tokens a service accepts.
pub const TOKEN_LEEWAY: Duration = Duration::from_secs(30);

/// The validator of a service configured by `config`: tokens of exactly its issuer, naming
/// its audience, signed with an algorithm of `--token-algorithms` by a key of its JWKS URI,
/// fetched with `http` (`zte_auth`'s hardened [`OutboundHttp`], carrying the service's TLS
/// trust and client certificate), each fetch bounded by `--identity-timeout`; refreshed in the
/// background on its TTL and, for unknown key ids, at most once per
/// `--jwks-refresh-cooldown`.
pub fn token_validator<S: ServiceDefaults>(
    config: &ServiceConfig<S>,
    http: OutboundHttp,
) -> Result<TokenValidator, ServiceError> {
    let algorithms = Algorithm::parse_list(&config.token_algorithms)
        .map_err(|why| ServiceError::Config(format!("--token-algorithms: {why}")))?;
    Ok(TokenValidator::new(
        ValidatorConfig {
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            leeway: TOKEN_LEEWAY,
            algorithms,
        },
        JwksCache::remote(
            config.jwks_uri(),
            http,
            config.identity_timeout,
            config.jwks_refresh_cooldown,
        ),
    ))
}

/// The authenticated caller of a gRPC method.
#[derive(Clone)]
pub struct Caller {
    /// The validated token claims.
    pub claims: Arc<AccessTokenClaims>,
    bearer_token: Arc<str>,
}

impl std::fmt::Debug for Caller {
    // The bearer token is a credential: keep it out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

impl Caller {
    /// The user (`sub`).
    pub fn user_id(&self) -> &str {
        &self.claims.sub
    }

    /// The validated bearer token (e.g. the subject token of a token exchange).
    pub fn bearer_token(&self) -> &str {
        &self.bearer_token
    }

    /// Reads the caller that [`AuthLayer`] attached to a request.
    ///
    /// A missing caller means the service was mounted without the layer: that is a
    /// deployment bug, so it is refused rather than served anonymously.
    pub fn from_request<T>(request: &tonic::Request<T>) -> Result<Self, Status> {
        request
            .extensions()
            .get::<Self>()
            .cloned()
            .ok_or_else(|| Status::unauthenticated("missing credentials"))
    }

    /// The caller of `request` and the request message.
    pub fn split<T>(request: tonic::Request<T>) -> Result<(Self, T), Status> {
        let caller = Self::from_request(&request)?;
        Ok((caller, request.into_inner()))
    }
}

/// A gRPC service (by path prefix) and the scope its callers need.
#[derive(Debug, Clone)]
pub struct ProtectedService {
    /// Path prefix, e.g. `/orders.v1.OrdersService/`.
    pub path_prefix: String,
    /// Required scope, e.g. `orders`.
    pub scope: String,
}

impl ProtectedService {
    /// Protects the gRPC service `service_name` (e.g. `orders.v1.OrdersService`) with `scope`.
    pub fn new(service_name: &str, scope: &str) -> Self {
        Self {
            path_prefix: format!("/{service_name}/"),
            scope: scope.to_owned(),
        }
    }
}

/// Tower layer that authenticates calls to the protected services.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    validator: TokenValidator,
    protected: Arc<Vec<ProtectedService>>,
}

impl AuthLayer {
    /// A layer validating with `validator` and protecting `protected`.
    pub fn new(validator: TokenValidator, protected: Vec<ProtectedService>) -> Self {
        Self {
            validator,
            protected: Arc::new(protected),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service produced by [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    layer: AuthLayer,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S> Service<http::Request<Body>> for AuthService<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        // Take the service that was polled ready and leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let path = request.uri().path();
            let Some(protected) = layer
                .protected
                .iter()
                .find(|p| path.starts_with(&p.path_prefix))
            else {
                return inner.call(request).await;
            };
            match authenticate(&layer.validator, request.headers(), &protected.scope).await {
                Ok(caller) => {
                    request.extensions_mut().insert(caller);
                    inner.call(request).await
                }
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}

/// Validates the bearer token in `headers` and checks `scope`.
pub async fn authenticate(
    validator: &TokenValidator,
    headers: &http::HeaderMap,
    scope: &str,
) -> Result<Caller, Status> {
    let token = bearer_token(headers)?;
    let reject = |error: TokenError| {
        tracing::info!(reason = error.reason(), %error, "rejected token");
        token_error_status(&error)
    };
    let claims = validator
        .verify_at(token, zte_auth::unix_now())
        .await
        .map_err(reject)?;
    // A genuine event token is refused for what it is, whichever audience it names.
    if claims.is_event_token() {
        return Err(authorize(&claims, scope)
            .err()
            .unwrap_or_else(|| Status::permission_denied("event token")));
    }
    validator.check_audience(&claims).map_err(reject)?;
    authorize(&claims, scope)?;
    Ok(Caller {
        claims: Arc::new(claims),
        bearer_token: token.into(),
    })
}

/// Scope check for gRPC endpoints. Event tokens are refused everywhere here: they exist to
/// trigger one payment through Kafka and nothing else.
pub fn authorize(claims: &AccessTokenClaims, scope: &str) -> Result<(), Status> {
    if claims.is_event_token() {
        return Err(Status::permission_denied(format!(
            "event tokens ({SCOPE_TRIGGER_PAYMENTS}) are not accepted by gRPC endpoints"
        )));
    }
    if !claims.scopes().contains(scope) {
        return Err(Status::permission_denied(format!(
            "token lacks the {scope:?} scope"
        )));
    }
    Ok(())
}

fn bearer_token(headers: &http::HeaderMap) -> Result<&str, Status> {
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or_else(|| Status::unauthenticated("missing authorization metadata (Bearer token)"))?;
    let value = value
        .to_str()
        .map_err(|_| Status::unauthenticated("authorization metadata is not ASCII"))?;
    let (scheme, token) = value.split_once(' ').ok_or_else(|| {
        Status::unauthenticated("authorization metadata must be 'Bearer <token>'")
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(Status::unauthenticated(
            "authorization metadata must be 'Bearer <token>'",
        ));
    }
    Ok(token.trim())
}

fn token_error_status(error: &TokenError) -> Status {
    if error.is_transient() {
        Status::unavailable("token signing keys are temporarily unavailable")
    } else {
        // The reason is safe to reveal (it names the failed check, not any secret) and makes
        // client-side debugging possible.
        Status::unauthenticated(format!("invalid token: {}", error.reason()))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn claims(scope: &str) -> AccessTokenClaims {
        AccessTokenClaims::issued("i", "alice", &["orders"], scope, "c", 0, Duration::ZERO)
    }

    #[test]
    fn scope_rules() {
        assert!(authorize(&claims("orders payments"), "orders").is_ok());
        assert_eq!(
            authorize(&claims("payments"), "orders").unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
        assert_eq!(
            authorize(&claims("trigger_payments"), "orders")
                .unwrap_err()
                .code(),
            tonic::Code::PermissionDenied
        );
        let mut event = claims("orders");
        event.event_payload_hash = Some("00".into());
        assert_eq!(
            authorize(&event, "orders").unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
    }

    #[test]
    fn bearer_parsing() {
        let mut h = http::HeaderMap::new();
        assert_eq!(
            bearer_token(&h).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        h.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(
            bearer_token(&h).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        h.insert("authorization", "Bearer  ".parse().unwrap());
        assert_eq!(
            bearer_token(&h).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        h.insert("authorization", "bearer abc".parse().unwrap());
        assert_eq!(bearer_token(&h).unwrap(), "abc");
    }
}
