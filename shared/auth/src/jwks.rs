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

    /// The key for `kid`, refetching the JWKS once if it is unknown.
    ///
    /// `UnknownKey` is only answered after a refresh that *completed after this lookup
    /// began*, so a key rotated in just after the last refresh is never refused as unknown.
    /// Refreshes are at most one per cooldown: a lookup that needs one while the cooldown
    /// runs waits for it to end (at most one cooldown), and every lookup waiting meanwhile is
    /// answered by that one refresh. After a failed refresh, lookups get `Unavailable` at once
    /// until the cooldown ends.
    pub async fn key(&self, kid: &str) -> Result<Arc<VerifyingKey>, JwksError> {
        if let Some(key) = self.read().keys.get(kid) {
            return Ok(key.clone());
        }
        let started = Instant::now();
        let _guard = self.refresh_lock.lock().await;
        let wait = {
            let state = self.read();
            if let Some(key) = state.keys.get(kid) {
                return Ok(key.clone());
            }
            match state.last_attempt {
                // Someone refreshed after we asked: that answer is ours too.
                Some((at, true)) if at >= started => {
                    return Err(JwksError::UnknownKey(kid.to_owned()));
                }
                Some((at, false)) if at >= started || at.elapsed() < self.cooldown => {
                    return Err(JwksError::Unavailable(
                        state
                            .last_error
                            .clone()
                            .unwrap_or_else(|| "refresh failed".into()),
                    ));
                }
                Some((at, true)) => self.cooldown.saturating_sub(at.elapsed()),
                _ => Duration::ZERO,
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        self.refresh_locked().await?;
        self.read()
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| JwksError::UnknownKey(kid.to_owned()))
    }

    /// Fetches the JWKS now, replacing the cached keys on success and keeping them on failure.
    pub async fn refresh(&self) -> Result<usize, JwksError> {
        let _guard = self.refresh_lock.lock().await;
        self.refresh_locked().await
    }

    /// Fetches the JWKS until a fetch succeeds (or the future is dropped), waiting 200 ms
    /// after the first failure and twice as long after each next one, up to 5 s: a service
    /// starts before its issuer and loads the keys as soon as the issuer answers. Returns the
    /// number of keys loaded.
    pub async fn load_with_retry(&self) -> usize {
        let mut delay = LOAD_RETRY_FIRST;
        loop {
            match self.refresh().await {
                Ok(count) => {
                    tracing::info!(keys = count, "JWKS loaded");
                    return count;
                }
                Err(error) => tracing::warn!(%error, retry_in = ?delay, "JWKS not loaded yet"),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(LOAD_RETRY_MAX);
        }
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

/// First wait of [`JwksCache::load_with_retry`] after a failed fetch.
const LOAD_RETRY_FIRST: Duration = Duration::from_millis(200);
/// Longest wait of [`JwksCache::load_with_retry`] between fetches.
const LOAD_RETRY_MAX: Duration = Duration::from_secs(5);

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
    async fn a_key_published_just_after_a_refresh_is_found_after_the_cooldown() {
        // A tiny JWKS server whose key set can change between requests.
        use std::sync::Mutex;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let old = SigningKey::generate(2048).unwrap();
        let new = SigningKey::generate(2048).unwrap();
        let served = Arc::new(Mutex::new(JwkSet {
            keys: vec![old.public_jwk()],
        }));
        let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (served2, requests2) = (served.clone(), requests.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 2048];
                let _ = socket.read(&mut buf).await;
                requests2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let body = serde_json::to_string(&*served2.lock().unwrap()).unwrap();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            }
        });
        let cooldown = Duration::from_millis(500);
        let cache = JwksCache::remote(url, reqwest::Client::new(), cooldown);
        assert_eq!(cache.refresh().await.unwrap(), 1);
        // Rotation right after the refresh: the new kid must not be declared unknown.
        served.lock().unwrap().keys.push(new.public_jwk());
        let began = Instant::now();
        assert_eq!(cache.key(new.kid()).await.unwrap().kid(), new.kid());
        assert!(
            began.elapsed() >= cooldown / 2,
            "waited for the cooldown before refetching"
        );
        // A forged kid: one refetch, then unknown; requests stay rate-limited.
        assert_eq!(
            cache.key("forged").await,
            Err(JwksError::UnknownKey("forged".into()))
        );
        let before = requests.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(cache.key(old.kid()).await.unwrap().kid(), old.kid());
        assert_eq!(
            requests.load(std::sync::atomic::Ordering::SeqCst),
            before,
            "known kid needs no request"
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
