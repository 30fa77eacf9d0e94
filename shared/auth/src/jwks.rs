//! A JWKS cache: verification keys by `kid`, fetched from the issuer's `jwks_uri` by ONE
//! background refresher per cache, shared by every caller.
//!
//! - **Refreshes happen in the background**: on the TTL the JWKS response gives
//!   (`Cache-Control: max-age`, bounded to [the cooldown, 1 h], 5 min when absent), and when a
//!   lookup meets an unknown `kid`, at most once per cooldown however many lookups ask. A
//!   storm of forged kids therefore costs at most one fetch per cooldown.
//! - **A lookup never sleeps.** [`JwksCache::lookup`] answers at once from the cache:
//!   the key; [`JwksError::UnknownKey`] when the kid is absent from a JWKS fetched *after the
//!   record or request arrived*, or is in the **negative cache** (kids found absent, bounded,
//!   5 min); otherwise it asks for a refresh and answers [`JwksError::NotYetChecked`] (a
//!   refresh is due, with its expected time) or [`JwksError::Unavailable`] (the last fetch
//!   failed). Both are transient: the caller sets the work aside and asks again later.
//! - [`JwksCache::key`], for a request that can wait for a fetch but never for a cooldown,
//!   additionally awaits a fetch that is in flight or may start now.
//! - A failed refresh keeps the cached keys (a JWKS outage does not stop validation with
//!   known keys); a key removed from the JWKS stops validating at the next refresh.
//!
//! The refresher is a tokio task started by the first lookup (or [`JwksCache::start`]); it
//! ends when the last clone of the cache is dropped.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use reqwest::header::{ACCEPT, CACHE_CONTROL, HeaderMap, HeaderValue};
use tokio::sync::{Notify, watch};

use crate::{
    http::OutboundHttp,
    keys::{JwkSet, VerifyingKey},
};

/// Why a key could not be provided.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// The JWKS was fetched after the lookup's arrival time (or recently, for a kid in the
    /// negative cache) and does not contain this `kid`.
    #[error("no key with kid {0:?} in the JWKS")]
    UnknownKey(String),
    /// The JWKS could not be fetched, so the `kid` could not be checked. Transient.
    #[error("JWKS unavailable: {0}")]
    Unavailable(String),
    /// The `kid` is not cached and no fetch has finished since the lookup's arrival; a
    /// refresh is due in about `retry_after` (never sooner than the cooldown allows).
    /// Transient.
    #[error("kid not checked yet; the JWKS is refreshed in about {retry_after:?}")]
    NotYetChecked {
        /// When a fetch answering this lookup is expected to start.
        retry_after: Duration,
    },
}

impl JwksError {
    /// True when asking again later may succeed.
    pub fn is_transient(&self) -> bool {
        !matches!(self, Self::UnknownKey(_))
    }
}

/// TTL of a key set whose response named none.
const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// Longest TTL honoured, whatever `max-age` says.
const MAX_TTL: Duration = Duration::from_secs(3600);
/// Shortest TTL honoured (also the floor of the cooldown-derived minimum).
const MIN_TTL: Duration = Duration::from_secs(1);
/// How long a kid found absent is answered [`JwksError::UnknownKey`] without a new fetch.
const NEGATIVE_TTL: Duration = Duration::from_secs(300);
/// How many absent kids are remembered (the oldest are forgotten first).
const NEGATIVE_CAPACITY: usize = 4096;
/// First wait after a failed fetch before the keys were ever loaded (the issuer may start
/// after us); doubled after each further failure, up to the cooldown (at least 5 s).
const LOAD_RETRY_FIRST: Duration = Duration::from_millis(200);
const LOAD_RETRY_MAX: Duration = Duration::from_secs(5);
/// Largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Where keys come from.
#[derive(Debug)]
enum Source {
    /// An HTTP(S) `jwks_uri`, fetched with `http` (each fetch bounded by `timeout`).
    Remote {
        url: String,
        http: OutboundHttp,
        timeout: Duration,
    },
    /// A fixed set (tests, or a deployment that pins keys): always current.
    Static,
}

/// Kids found absent from the JWKS, oldest first, bounded.
#[derive(Debug, Default)]
struct NegativeCache {
    since: HashMap<String, Instant>,
    order: VecDeque<String>,
}

impl NegativeCache {
    fn contains(&self, kid: &str) -> bool {
        self.since
            .get(kid)
            .is_some_and(|at| at.elapsed() < NEGATIVE_TTL)
    }

    fn insert(&mut self, kid: &str) {
        if self.since.insert(kid.to_owned(), Instant::now()).is_none() {
            self.order.push_back(kid.to_owned());
        }
        while self.order.len() > NEGATIVE_CAPACITY {
            if let Some(oldest) = self.order.pop_front() {
                self.since.remove(&oldest);
            }
        }
    }

    /// Forgets kids that a new key set holds.
    fn forget_present(&mut self, keys: &HashMap<String, Arc<VerifyingKey>>) {
        if keys.keys().any(|kid| self.since.contains_key(kid)) {
            self.since.retain(|kid, _| !keys.contains_key(kid));
            self.order.retain(|kid| !keys.contains_key(kid));
        }
    }
}

#[derive(Debug, Default)]
struct State {
    keys: HashMap<String, Arc<VerifyingKey>>,
    loaded: bool,
    /// Completion of the last successful fetch: wall clock (compared with arrival times,
    /// which may come from another process) and monotonic (for the TTL).
    fresh_at: Option<(SystemTime, Instant)>,
    /// Start of the last fetch: the cooldown runs from here.
    attempted_at: Option<Instant>,
    /// Why the last fetch failed; `None` once one succeeds.
    failure: Option<String>,
    /// Fetches failed in a row (paces the first load).
    failures: u32,
    ttl: Duration,
    /// A lookup could not decide a kid: fetch as soon as the cooldown allows.
    wanted: bool,
    /// [`JwksCache::refresh`] asked for a fetch now, cooldown or not.
    forced: bool,
    in_flight: bool,
    negative: NegativeCache,
}

#[derive(Debug)]
struct Shared {
    source: Source,
    cooldown: Duration,
    state: RwLock<State>,
    /// Wakes the refresher (a lookup wants a refresh, or one is forced).
    wake: Notify,
    /// Counts finished fetches (successful or not).
    finished: watch::Sender<u64>,
}

/// Starts the refresher once, and stops it when the last [`JwksCache`] clone is dropped (the
/// sender half of `stop` goes with it).
#[derive(Debug)]
struct Refresher {
    started: AtomicBool,
    stop: watch::Sender<()>,
}

/// Cached verification keys by `kid`. Cheap to clone (shared state, one refresher).
#[derive(Debug, Clone)]
pub struct JwksCache {
    shared: Arc<Shared>,
    refresher: Arc<Refresher>,
}

impl JwksCache {
    /// A cache backed by `url`, fetched with `http` (each fetch bounded by `timeout`),
    /// refetching for unknown kids at most once per `cooldown`.
    pub fn remote(
        url: impl Into<String>,
        http: OutboundHttp,
        timeout: Duration,
        cooldown: Duration,
    ) -> Self {
        Self::new(
            Source::Remote {
                url: url.into(),
                http,
                timeout,
            },
            cooldown,
            State::default(),
        )
    }

    /// A cache holding a fixed key set (unusable keys skipped, as in a fetched set).
    pub fn fixed(keys: JwkSet) -> Self {
        let state = State {
            keys: usable_keys(&keys),
            loaded: true,
            ..State::default()
        };
        Self::new(Source::Static, Duration::ZERO, state)
    }

    fn new(source: Source, cooldown: Duration, state: State) -> Self {
        let (finished, _) = watch::channel(0);
        let (stop, _) = watch::channel(());
        Self {
            shared: Arc::new(Shared {
                source,
                cooldown,
                state: RwLock::new(state),
                wake: Notify::new(),
                finished,
            }),
            refresher: Arc::new(Refresher {
                started: AtomicBool::new(false),
                stop,
            }),
        }
    }

    /// Starts the background refresher now (a service calls this at start so the keys load
    /// before the first request). Lookups start it too. Needs a tokio runtime; a no-op for a
    /// fixed key set.
    pub fn start(&self) {
        if matches!(self.shared.source, Source::Static)
            || self.refresher.started.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime yet: the next lookup from inside one starts it.
            self.refresher.started.store(false, Ordering::Release);
            return;
        };
        let shared = self.shared.clone();
        let stop = self.refresher.stop.subscribe();
        runtime.spawn(refresh_in_background(shared, stop));
    }

    /// True once at least one fetch has succeeded (always, for a fixed set).
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

    /// The key for `kid`, for work that arrived at `arrived`, answered at once from the
    /// cache (see the module docs). An undecided kid asks the refresher for a fetch.
    pub fn lookup(&self, kid: &str, arrived: SystemTime) -> Result<Arc<VerifyingKey>, JwksError> {
        if let Some(key) = self.read().keys.get(kid) {
            return Ok(key.clone());
        }
        if matches!(self.shared.source, Source::Static) {
            return Err(JwksError::UnknownKey(kid.to_owned()));
        }
        self.start();
        let mut state = self.write();
        // Re-check under the write lock: a refresh may have landed meanwhile.
        if let Some(key) = state.keys.get(kid) {
            return Ok(key.clone());
        }
        let checked_after_arrival = state.fresh_at.is_some_and(|(fresh, _)| fresh >= arrived);
        if checked_after_arrival {
            state.negative.insert(kid);
            return Err(JwksError::UnknownKey(kid.to_owned()));
        }
        if state.negative.contains(kid) {
            return Err(JwksError::UnknownKey(kid.to_owned()));
        }
        // A fetch in flight finishes after `arrived` and so decides this kid: asking for
        // another would only cost a redundant fetch one cooldown later.
        if !state.wanted && !state.in_flight {
            state.wanted = true;
            self.shared.wake.notify_one();
        }
        match &state.failure {
            Some(why) => Err(JwksError::Unavailable(why.clone())),
            None => Err(JwksError::NotYetChecked {
                retry_after: if state.in_flight {
                    Duration::ZERO
                } else {
                    until_cooldown_ends(&state, self.shared.cooldown)
                },
            }),
        }
    }

    /// The key for `kid`, for a request arriving now that may wait for a fetch but never for
    /// a cooldown: like [`Self::lookup`], and when the answer depends on a fetch that is in
    /// flight or may start now, awaits that fetch (bounded by its timeout) and answers from
    /// it.
    pub async fn key(&self, kid: &str) -> Result<Arc<VerifyingKey>, JwksError> {
        let arrived = SystemTime::now();
        let mut finished = self.shared.finished.subscribe();
        match self.lookup(kid, arrived) {
            Err(JwksError::NotYetChecked { retry_after }) if retry_after.is_zero() => {
                // Any fetch finishing from now on finished after `arrived`.
                let _ = tokio::time::timeout(self.fetch_wait(), finished.changed()).await;
                self.lookup(kid, arrived)
            }
            other => other,
        }
    }

    /// Fetches the JWKS now, cooldown or not (through the refresher, so never two fetches at
    /// once), and returns the number of keys cached or why the fetch failed (the cached keys
    /// are kept).
    pub async fn refresh(&self) -> Result<usize, JwksError> {
        if matches!(self.shared.source, Source::Static) {
            return Ok(self.len());
        }
        self.start();
        let mut finished = self.shared.finished.subscribe();
        self.write().forced = true;
        self.shared.wake.notify_one();
        if tokio::time::timeout(self.fetch_wait() * 2, finished.changed())
            .await
            .is_err()
        {
            return Err(JwksError::Unavailable("JWKS refresh timed out".into()));
        }
        let state = self.read();
        match &state.failure {
            Some(why) => Err(JwksError::Unavailable(why.clone())),
            None => Ok(state.keys.len()),
        }
    }

    /// How long to wait for one fetch to finish.
    fn fetch_wait(&self) -> Duration {
        match &self.shared.source {
            Source::Remote { timeout, .. } => *timeout + Duration::from_secs(1),
            Source::Static => Duration::ZERO,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.shared.read()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.shared.write()
    }
}

impl Shared {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere mid-update of plain data; the data is
        // still a consistent map, so keep serving it.
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// How long until the next fetch is due (zero: now).
    fn next_fetch_in(&self) -> Duration {
        let state = self.read();
        let Some(attempted) = state.attempted_at else {
            return Duration::ZERO;
        };
        if state.forced {
            return Duration::ZERO;
        }
        let since = attempted.elapsed();
        if !state.loaded {
            let backoff = LOAD_RETRY_FIRST
                .saturating_mul(1 << state.failures.saturating_sub(1).min(8))
                .min(self.cooldown.max(LOAD_RETRY_MAX));
            return backoff.saturating_sub(since);
        }
        if state.failure.is_some() || state.wanted {
            return until_cooldown_ends(&state, self.cooldown);
        }
        match state.fresh_at {
            Some((_, fresh)) => state.ttl.saturating_sub(fresh.elapsed()),
            None => Duration::ZERO,
        }
    }
}

fn until_cooldown_ends(state: &State, cooldown: Duration) -> Duration {
    state
        .attempted_at
        .map_or(Duration::ZERO, |at| cooldown.saturating_sub(at.elapsed()))
}

/// The refresher: one fetch whenever [`Shared::next_fetch_in`] says one is due, until the
/// cache is dropped.
async fn refresh_in_background(shared: Arc<Shared>, mut stop: watch::Receiver<()>) {
    let Source::Remote { url, http, .. } = &shared.source else {
        return;
    };
    loop {
        let wait = shared.next_fetch_in();
        if !wait.is_zero() {
            // `stop` only ever changes by closing: the last cache clone was dropped.
            tokio::select! {
                _ = stop.changed() => return,
                () = shared.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
            continue;
        }
        {
            let mut state = shared.write();
            state.attempted_at = Some(Instant::now());
            state.in_flight = true;
            state.wanted = false;
            state.forced = false;
        }
        let fetched = tokio::select! {
            _ = stop.changed() => return,
            fetched = fetch(http, url, shared.cooldown) => fetched,
        };
        {
            let mut state = shared.write();
            state.in_flight = false;
            match fetched {
                Ok((keys, ttl)) => {
                    if !state.loaded {
                        tracing::info!(keys = keys.len(), %url, "JWKS loaded");
                    } else {
                        tracing::debug!(keys = keys.len(), ?ttl, "JWKS refreshed");
                    }
                    state.negative.forget_present(&keys);
                    state.keys = keys;
                    state.loaded = true;
                    state.fresh_at = Some((SystemTime::now(), Instant::now()));
                    state.failure = None;
                    state.failures = 0;
                    state.ttl = ttl;
                }
                Err(why) => {
                    tracing::warn!(error = %why, "JWKS refresh failed; keeping cached keys");
                    state.failure = Some(why);
                    state.failures = state.failures.saturating_add(1);
                }
            }
        }
        shared
            .finished
            .send_modify(|count| *count = count.wrapping_add(1));
    }
}

/// Fetches and parses the JWKS at `url`; the TTL comes from `Cache-Control`.
async fn fetch(
    http: &OutboundHttp,
    url: &str,
    cooldown: Duration,
) -> Result<(HashMap<String, Arc<VerifyingKey>>, Duration), String> {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    let response = http
        .get(url, headers, MAX_JWKS_BYTES)
        .await
        .map_err(|e| e.to_string())?;
    if !response.status.is_success() {
        return Err(format!("GET {url}: HTTP {}", response.status));
    }
    let set: JwkSet = serde_json::from_slice(&response.body)
        .map_err(|e| format!("GET {url}: not a JWK Set: {e}"))?;
    let ttl = response
        .headers
        .get(CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .map_or(DEFAULT_TTL, max_age)
        .clamp(cooldown.max(MIN_TTL), MAX_TTL.max(cooldown));
    Ok((usable_keys(&set), ttl))
}

/// The TTL a `Cache-Control` value gives: `max-age`, zero for `no-cache`/`no-store` (then
/// bounded below by the caller), [`DEFAULT_TTL`] when it says neither.
fn max_age(cache_control: &str) -> Duration {
    let mut ttl = DEFAULT_TTL;
    for directive in cache_control.split(',').map(str::trim) {
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return Duration::ZERO;
        }
        if name.eq_ignore_ascii_case("max-age")
            && let Ok(seconds) = value.trim_matches('"').parse::<u64>()
        {
            ttl = Duration::from_secs(seconds);
        }
    }
    ttl
}

/// The keys of `set` that can verify our tokens, by kid. Keys we cannot use (wrong
/// kty/alg/use, too small, no kid) are skipped: a JWKS may publish keys for other purposes.
fn usable_keys(set: &JwkSet) -> HashMap<String, Arc<VerifyingKey>> {
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        match jwk.to_verifying_key() {
            Ok(key) if jwk.kid.is_some() => {
                keys.insert(key.kid().to_owned(), Arc::new(key));
            }
            Ok(_) => tracing::debug!("skipping JWK without kid"),
            Err(error) => tracing::debug!(%error, kid = ?jwk.kid, "skipping unusable JWK"),
        }
    }
    keys
}

/// A mutable key set served over HTTP on loopback, counting requests: the JWKS of this
/// crate's tests.
#[cfg(test)]
pub(crate) mod test_server {
    use std::sync::{Mutex, atomic::AtomicUsize};

    use super::*;
    use crate::keys::PublicJwk;

    #[derive(Debug, Clone)]
    pub(crate) struct JwksServer {
        pub(crate) url: String,
        pub(crate) keys: Arc<Mutex<Vec<PublicJwk>>>,
        pub(crate) up: Arc<AtomicBool>,
        pub(crate) requests: Arc<AtomicUsize>,
    }

    impl JwksServer {
        pub(crate) async fn start(keys: Vec<PublicJwk>, cache_control: &'static str) -> Self {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let server = Self {
                url: format!("http://{}/jwks", listener.local_addr().unwrap()),
                keys: Arc::new(Mutex::new(keys)),
                up: Arc::new(AtomicBool::new(true)),
                requests: Arc::default(),
            };
            let state = server.clone();
            tokio::spawn(async move {
                while let Ok((mut socket, _)) = listener.accept().await {
                    let mut buf = [0u8; 2048];
                    let _ = socket.read(&mut buf).await;
                    state.requests.fetch_add(1, Ordering::SeqCst);
                    let response = if state.up.load(Ordering::SeqCst) {
                        let body = serde_json::to_string(&JwkSet {
                            keys: state.keys.lock().unwrap().clone(),
                        })
                        .unwrap();
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                             cache-control: {cache_control}\r\ncontent-length: {}\r\n\
                             connection: close\r\n\r\n{body}",
                            body.len()
                        )
                    } else {
                        "HTTP/1.1 503 Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                            .to_owned()
                    };
                    let _ = socket.write_all(response.as_bytes()).await;
                }
            });
            server
        }

        pub(crate) fn requests(&self) -> usize {
            self.requests.load(Ordering::SeqCst)
        }

        pub(crate) fn cache(&self, cooldown: Duration) -> JwksCache {
            let timeout = Duration::from_secs(2);
            JwksCache::remote(
                &self.url,
                OutboundHttp::new(timeout).unwrap(),
                timeout,
                cooldown,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{test_server::JwksServer, *};
    use crate::keys::{KeySpec, SigningKey};

    fn key() -> SigningKey {
        SigningKey::generate(KeySpec::Es256).unwrap()
    }

    /// Waits (bounded) until `done` holds, polling.
    async fn eventually(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn a_fixed_set_answers_unknown_kids_at_once() {
        let known = key();
        let cache = JwksCache::fixed(JwkSet {
            keys: vec![known.public_jwk()],
        });
        assert!(cache.is_loaded());
        let now = SystemTime::now();
        assert_eq!(cache.lookup(known.kid(), now).unwrap().kid(), known.kid());
        assert_eq!(
            cache.lookup("nope", now),
            Err(JwksError::UnknownKey("nope".into()))
        );
        assert_eq!(
            cache.key("nope").await,
            Err(JwksError::UnknownKey("nope".into()))
        );
    }

    #[tokio::test]
    async fn a_storm_of_forged_kids_never_waits_and_costs_one_fetch_per_cooldown() {
        let known = key();
        let server = JwksServer::start(vec![known.public_jwk()], "max-age=300").await;
        let cooldown = Duration::from_millis(400);
        let cache = server.cache(cooldown);
        assert_eq!(cache.refresh().await, Ok(1));
        assert_eq!(server.requests(), 1);

        // 2,000 forged kids arriving now: each answered at once, none decided unknown yet
        // (no fetch has finished since they arrived), one fetch asked for.
        let arrived = SystemTime::now();
        let started = Instant::now();
        for i in 0..2_000 {
            match cache.lookup(&format!("forged-{i}"), arrived) {
                Err(JwksError::NotYetChecked { retry_after }) => assert!(retry_after <= cooldown),
                other => panic!("forged kid {i}: {other:?}"),
            }
        }
        assert!(
            started.elapsed() < Duration::from_millis(300),
            "lookups never wait"
        );
        // The one refresh they asked for comes after the cooldown; then every one of them is
        // unknown, at once, and a known key still verifies.
        eventually("the refresh asked for", || server.requests() == 2).await;
        eventually("the refresh to land", || {
            cache.lookup("forged-0", arrived) == Err(JwksError::UnknownKey("forged-0".into()))
        })
        .await;
        for i in 0..2_000 {
            let kid = format!("forged-{i}");
            assert_eq!(cache.lookup(&kid, arrived), Err(JwksError::UnknownKey(kid)));
        }
        assert!(cache.lookup(known.kid(), SystemTime::now()).is_ok());
        // Kids found absent are in the negative cache: later arrivals are unknown at once and
        // ask for nothing.
        let later = SystemTime::now() + Duration::from_secs(1);
        assert_eq!(
            cache.lookup("forged-7", later),
            Err(JwksError::UnknownKey("forged-7".into()))
        );
        // A second wave of new forged kids: still one fetch per cooldown in all.
        let second = SystemTime::now() + Duration::from_millis(1);
        for i in 0..500 {
            assert!(cache.lookup(&format!("wave2-{i}"), second).is_err());
        }
        eventually("the second refresh", || server.requests() == 3).await;
        let elapsed = started.elapsed();
        let allowed = 2 + (elapsed.as_millis() / cooldown.as_millis()) as usize + 1;
        assert!(
            server.requests() <= allowed,
            "{} fetches in {elapsed:?}",
            server.requests()
        );
    }

    #[tokio::test]
    async fn a_key_published_after_the_last_fetch_is_found_by_the_refresh_it_asks_for() {
        let (old, new) = (key(), key());
        let server = JwksServer::start(vec![old.public_jwk()], "max-age=300").await;
        let cache = server.cache(Duration::from_millis(300));
        assert_eq!(cache.refresh().await, Ok(1));
        // Rotation right after the fetch: the new kid must not be declared unknown.
        server.keys.lock().unwrap().push(new.public_jwk());
        let arrived = SystemTime::now();
        assert!(matches!(
            cache.lookup(new.kid(), arrived),
            Err(JwksError::NotYetChecked { .. })
        ));
        eventually("the new key", || cache.lookup(new.kid(), arrived).is_ok()).await;
        // A request (not a record) waits for a fetch that may start at once, never for a
        // cooldown: after the cooldown, an unknown kid is answered by the fetch it starts.
        tokio::time::sleep(Duration::from_millis(350)).await;
        let before = server.requests();
        assert_eq!(
            cache.key("forged").await,
            Err(JwksError::UnknownKey("forged".into()))
        );
        assert_eq!(server.requests(), before + 1);
        // Within the cooldown another unknown kid is answered at once, without a fetch.
        let started = Instant::now();
        assert!(matches!(
            cache.key("forged-2").await,
            Err(JwksError::NotYetChecked { .. })
        ));
        assert!(started.elapsed() < Duration::from_millis(100));
    }

    #[tokio::test]
    async fn the_ttl_refreshes_in_the_background_and_a_revoked_key_stops_validating() {
        let (kept, revoked) = (key(), key());
        let server =
            JwksServer::start(vec![kept.public_jwk(), revoked.public_jwk()], "max-age=1").await;
        let cache = server.cache(Duration::from_millis(100));
        cache.start();
        eventually("the first load", || cache.is_loaded()).await;
        assert_eq!(cache.len(), 2);
        server
            .keys
            .lock()
            .unwrap()
            .retain(|k| k.kid.as_deref() != Some(revoked.kid()));
        // Nobody looks anything up: the TTL alone brings the revocation in.
        eventually("the TTL refresh", || cache.len() == 1).await;
        let now = SystemTime::now();
        assert!(cache.lookup(kept.kid(), now).is_ok());
        assert!(cache.lookup(revoked.kid(), now).is_err());
    }

    #[tokio::test]
    async fn an_unreachable_jwks_is_transient_and_cached_keys_keep_working() {
        let known = key();
        let server = JwksServer::start(vec![known.public_jwk()], "max-age=300").await;
        let cache = server.cache(Duration::from_millis(200));
        assert_eq!(cache.refresh().await, Ok(1));
        server.up.store(false, Ordering::SeqCst);
        assert!(matches!(
            cache.refresh().await,
            Err(JwksError::Unavailable(_))
        ));
        let arrived = SystemTime::now();
        // Known keys keep validating; an unknown kid is transient, never unknown.
        assert!(cache.lookup(known.kid(), arrived).is_ok());
        let answer = cache.lookup("new-kid", arrived);
        assert!(
            matches!(answer, Err(JwksError::Unavailable(_))),
            "{answer:?}"
        );
        assert!(answer.is_err_and(|e| e.is_transient()));
        // Back up: the refresh the lookup asked for decides it.
        server.up.store(true, Ordering::SeqCst);
        eventually("a decision", || {
            cache.lookup("new-kid", arrived) == Err(JwksError::UnknownKey("new-kid".into()))
        })
        .await;
    }

    #[tokio::test]
    async fn nothing_listening_is_unavailable_and_the_load_keeps_retrying() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let timeout = Duration::from_secs(1);
        let cache = JwksCache::remote(
            format!("http://{addr}/jwks"),
            OutboundHttp::new(timeout).unwrap(),
            timeout,
            Duration::from_secs(60),
        );
        assert!(matches!(
            cache.key("k").await,
            Err(JwksError::Unavailable(_))
        ));
        assert!(!cache.is_loaded());
    }

    #[test]
    fn max_age_parsing() {
        assert_eq!(max_age("public, max-age=60"), Duration::from_secs(60));
        assert_eq!(max_age("MAX-AGE=\"7\""), Duration::from_secs(7));
        assert_eq!(max_age("no-store"), Duration::ZERO);
        assert_eq!(max_age("public"), DEFAULT_TTL);
        assert_eq!(max_age("max-age=abc"), DEFAULT_TTL);
    }

    #[test]
    fn the_negative_cache_is_bounded() {
        let mut negative = NegativeCache::default();
        for i in 0..NEGATIVE_CAPACITY + 10 {
            negative.insert(&i.to_string());
        }
        assert_eq!(negative.since.len(), NEGATIVE_CAPACITY);
        assert!(!negative.contains("0"));
        assert!(negative.contains(&(NEGATIVE_CAPACITY + 9).to_string()));
    }
}
