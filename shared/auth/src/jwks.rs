//! A JWKS cache: keys by `kid`, fetched from the issuer's `jwks_uri`.
//!
//! - An unknown `kid` triggers one refetch, rate-limited by a cooldown so a flood of forged
//!   kids cannot turn into a flood of requests to the authorization server.
//! - A failed refresh keeps the cached keys: a JWKS outage does not stop validation of tokens
//!   signed by known keys.
//! - An unknown `kid` after a *successful* refresh is [`JwksError::UnknownKey`] (permanent);
//!   one that could not be checked because the JWKS is unreachable is
//!   [`JwksError::Unavailable`] (transient: retry later).

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use crate::keys::{JwkSet, VerifyingKey};

/// Why a key could not be provided.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// The JWKS was fetched and does not contain this `kid`.
    #[error("no key with kid {0:?} in the JWKS")]
    UnknownKey(String),
    /// The JWKS could not be fetched, so the `kid` could not be checked.
    #[error("JWKS unavailable: {0}")]
    Unavailable(String),
}

/// Where keys come from.
#[derive(Debug, Clone)]
enum Source {
    /// An HTTP(S) `jwks_uri`.
    Remote { url: String, http: reqwest::Client },
    /// A fixed set (tests, or a deployment that pins keys).
    Static(JwkSet),
}

#[derive(Debug, Default)]
struct State {
    keys: HashMap<String, Arc<VerifyingKey>>,
    loaded: bool,
    /// When the last refresh was attempted and whether it succeeded.
    last_attempt: Option<(Instant, bool)>,
    last_error: Option<String>,
}

/// Cached verification keys by `kid`. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct JwksCache {
    source: Source,
    cooldown: Duration,
    state: Arc<RwLock<State>>,
    refresh_lock: Arc<tokio::sync::Mutex<()>>,
}

impl JwksCache {
    /// A cache backed by `url`, refetching at most once per `cooldown` on unknown kids.
    pub fn remote(url: impl Into<String>, http: reqwest::Client, cooldown: Duration) -> Self {
        Self::new(
            Source::Remote {
                url: url.into(),
                http,
            },
            cooldown,
        )
    }

    /// A cache holding a fixed key set.
    pub fn fixed(keys: JwkSet) -> Self {
        Self::new(Source::Static(keys), Duration::ZERO)
    }

    fn new(source: Source, cooldown: Duration) -> Self {
        Self {
            source,
            cooldown,
            state: Arc::new(RwLock::new(State::default())),
            refresh_lock: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// True once at least one refresh has succeeded.
    pub fn is_loaded(&self) -> bool {
        self.read().loaded
    }

    /// Number of usable keys cached.
    pub fn len(&self) -> usize {
        self.read().keys.len()
    }

    /// True when no key is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key for `kid`, refetching the JWKS once (subject to the cooldown) if it is unknown.
    pub async fn key(&self, kid: &str) -> Result<Arc<VerifyingKey>, JwksError> {
        if let Some(key) = self.read().keys.get(kid) {
            return Ok(key.clone());
        }
        let _guard = self.refresh_lock.lock().await;
        // Another task may have refreshed while we waited for the lock.
        let recent = {
            let state = self.read();
            if let Some(key) = state.keys.get(kid) {
                return Ok(key.clone());
            }
            state
                .last_attempt
                .filter(|(at, _)| at.elapsed() < self.cooldown)
        };
        match recent {
            Some((_, true)) => Err(JwksError::UnknownKey(kid.to_owned())),
            Some((_, false)) => Err(JwksError::Unavailable(
                self.read()
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "refresh failed".into()),
            )),
            None => {
                self.refresh_locked().await?;
                self.read()
                    .keys
                    .get(kid)
                    .cloned()
                    .ok_or_else(|| JwksError::UnknownKey(kid.to_owned()))
            }
        }
    }

    /// Fetches the JWKS now, replacing the cached keys on success and keeping them on failure.
    pub async fn refresh(&self) -> Result<usize, JwksError> {
        let _guard = self.refresh_lock.lock().await;
        self.refresh_locked().await
    }

    async fn refresh_locked(&self) -> Result<usize, JwksError> {
        let fetched = match &self.source {
            Source::Static(set) => Ok(set.clone()),
            Source::Remote { url, http } => fetch(http, url).await,
        };
        let mut state = self.write();
        match fetched {
            Ok(set) => {
                let mut keys = HashMap::new();
                for jwk in &set.keys {
                    // Keys we cannot use (wrong kty/alg/use, too small, no kid) are skipped:
                    // a JWKS may legitimately publish keys for other purposes.
                    match jwk.to_verifying_key() {
                        Ok(key) if jwk.kid.is_some() => {
                            keys.insert(key.kid().to_owned(), Arc::new(key));
                        }
                        Ok(_) => tracing::debug!("skipping JWK without kid"),
                        Err(error) => {
                            tracing::debug!(%error, kid = ?jwk.kid, "skipping unusable JWK")
                        }
                    }
                }
                let count = keys.len();
                state.keys = keys;
                state.loaded = true;
                state.last_attempt = Some((Instant::now(), true));
                state.last_error = None;
                tracing::debug!(keys = count, "JWKS refreshed");
                Ok(count)
            }
            Err(error) => {
                tracing::warn!(%error, "JWKS refresh failed; keeping cached keys");
                state.last_attempt = Some((Instant::now(), false));
                state.last_error = Some(error.clone());
                Err(JwksError::Unavailable(error))
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere mid-update of plain data; the data is
        // still a consistent map, so keep serving it.
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// Largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 256 * 1024;

async fn fetch(http: &reqwest::Client, url: &str) -> Result<JwkSet, String> {
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("GET {url}: HTTP {}", response.status()));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if body.len() > MAX_JWKS_BYTES {
        return Err(format!(
            "GET {url}: JWKS larger than {MAX_JWKS_BYTES} bytes"
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("GET {url}: not a JWK Set: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SigningKey;

    #[tokio::test]
    async fn unknown_kid_after_successful_refresh_is_unknown_key() {
        let key = SigningKey::generate(2048).unwrap();
        let cache = JwksCache::fixed(JwkSet {
            keys: vec![key.public_jwk()],
        });
        assert!(!cache.is_loaded());
        assert_eq!(cache.key(key.kid()).await.unwrap().kid(), key.kid());
        assert!(cache.is_loaded());
        assert_eq!(
            cache.key("nope").await,
            Err(JwksError::UnknownKey("nope".into()))
        );
    }

    #[tokio::test]
    async fn unreachable_jwks_is_transient_and_rate_limited() {
        // Port 9 on loopback (discard) is closed here: connection refused.
        let cache = JwksCache::remote(
            "http://127.0.0.1:9/jwks",
            reqwest::Client::new(),
            Duration::from_secs(60),
        );
        assert!(matches!(
            cache.key("k").await,
            Err(JwksError::Unavailable(_))
        ));
        // Within the cooldown the failure is reported without another request.
        assert!(matches!(
            cache.key("k").await,
            Err(JwksError::Unavailable(_))
        ));
        assert!(!cache.is_loaded());
    }
}
