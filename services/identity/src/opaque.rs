//! Opaque access tokens for internet clients (the phantom-token pattern): the client holds
//! a random reference that means nothing if it leaks or is read; the gateway swaps it, by
//! introspection, for the JWT the APIs validate.
//!
//! A token is 256 random bits, base64url, behind a recognisable prefix. Only its SHA-256
//! is stored (a leaked store does not yield usable tokens), next to the JWT it stands for,
//! which carries the same claims and lifetime. The store is a trait ([`TokenStore`]) so it
//! can move to the shared database; [`MemoryTokenStore`] keeps it in this process.

use std::{collections::HashMap, sync::Mutex};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest as _, Sha256};
use zte_auth::AccessTokenClaims;

/// Prefix of every opaque token: tells a reader (and secret scanners) what it is, and keeps
/// it apart from a JWT at a glance. Not a secret.
pub const OPAQUE_TOKEN_PREFIX: &str = "zto_";
/// Random bytes of an opaque token (256 bits).
const TOKEN_BYTES: usize = 32;
/// Inserts between two sweeps of expired tokens out of the memory store.
const SWEEP_EVERY: usize = 1024;

/// SHA-256 of an opaque token: the only form in which tokens are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// The hash of `token` (whatever the caller presents; unknown strings simply miss).
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }
}

/// A fresh opaque token and its hash.
pub fn mint() -> (String, TokenHash) {
    let bytes: [u8; TOKEN_BYTES] = rand::random();
    let token = format!("{OPAQUE_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = TokenHash::of(&token);
    (token, hash)
}

/// What an opaque token stands for: the JWT and its claims (expiry included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// The signed JWT handed to the APIs.
    pub jwt: String,
    /// Its claims.
    pub claims: AccessTokenClaims,
}

impl TokenRecord {
    /// True when the token may be used at `now` (Unix seconds): not before `nbf`, before `exp`.
    pub fn is_active_at(&self, now: i64) -> bool {
        self.claims.nbf <= now && now < self.claims.exp
    }
}

/// Why the token store failed (a database store may fail; the memory store does not).
#[derive(Debug, thiserror::Error)]
#[error("token store: {0}")]
pub struct TokenStoreError(pub String);

/// Where opaque tokens live, keyed by their hash.
#[async_trait::async_trait]
pub trait TokenStore: Send + Sync + std::fmt::Debug {
    /// Stores a newly issued token.
    async fn insert(&self, hash: TokenHash, record: TokenRecord) -> Result<(), TokenStoreError>;
    /// The token's record if it is known and not revoked (expiry is the caller's check).
    async fn find(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, TokenStoreError>;
    /// Revokes the token; its record, if it was known.
    async fn revoke(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, TokenStoreError>;
}

/// Opaque tokens in this process's memory: lost on restart (clients then sign in again),
/// not shared between replicas. Expired tokens are swept out as new ones come in.
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    inner: Mutex<MemoryInner>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    tokens: HashMap<TokenHash, TokenRecord>,
    inserts_since_sweep: usize,
}

impl MemoryTokenStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        // Poisoning only means another request panicked mid-update of a map entry; the map
        // itself stays consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl TokenStore for MemoryTokenStore {
    async fn insert(&self, hash: TokenHash, record: TokenRecord) -> Result<(), TokenStoreError> {
        let mut inner = self.lock();
        inner.inserts_since_sweep += 1;
        if inner.inserts_since_sweep >= SWEEP_EVERY {
            let now = zte_auth::unix_now();
            inner.tokens.retain(|_, r| r.claims.exp > now);
            inner.inserts_since_sweep = 0;
        }
        inner.tokens.insert(hash, record);
        Ok(())
    }

    async fn find(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, TokenStoreError> {
        Ok(self.lock().tokens.get(hash).cloned())
    }

    async fn revoke(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, TokenStoreError> {
        Ok(self.lock().tokens.remove(hash))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn record(exp_in: i64) -> TokenRecord {
        let now = zte_auth::unix_now();
        let mut claims =
            AccessTokenClaims::issued("i", "u", &["a"], "s", "c", now, Duration::from_secs(60));
        claims.exp = now + exp_in;
        TokenRecord {
            jwt: "h.p.s".into(),
            claims,
        }
    }

    #[test]
    fn tokens_are_256_random_bits_behind_the_prefix_and_hash_apart() {
        let (a, ha) = mint();
        let (b, hb) = mint();
        assert!(a.starts_with(OPAQUE_TOKEN_PREFIX));
        let raw = URL_SAFE_NO_PAD
            .decode(&a[OPAQUE_TOKEN_PREFIX.len()..])
            .unwrap();
        assert_eq!(raw.len(), 32);
        assert_ne!(a, b);
        assert_ne!(ha, hb);
        assert_eq!(TokenHash::of(&a), ha);
        assert!(!a.contains('.'), "never mistaken for a JWT");
    }

    #[tokio::test]
    async fn the_memory_store_finds_by_hash_and_forgets_revoked_tokens() {
        let store = MemoryTokenStore::default();
        let (token, hash) = mint();
        store.insert(hash, record(60)).await.unwrap();
        assert!(store.find(&TokenHash::of(&token)).await.unwrap().is_some());
        assert!(store.find(&mint().1).await.unwrap().is_none());
        assert!(store.revoke(&hash).await.unwrap().is_some());
        assert!(store.find(&hash).await.unwrap().is_none());
        assert!(store.revoke(&hash).await.unwrap().is_none());
    }

    #[test]
    fn a_record_is_active_only_inside_its_lifetime() {
        let now = zte_auth::unix_now();
        assert!(record(60).is_active_at(now));
        assert!(!record(0).is_active_at(now));
        assert!(!record(-5).is_active_at(now));
    }
}
