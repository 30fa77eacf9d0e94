//! RFC 7523 client authentication (`private_key_jwt`): the client assertion is checked as
//! carefully as an access token (RFC 8725) and each `jti` is accepted only once.

use std::{collections::HashMap, sync::Mutex};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;
use zte_auth::{
    Algorithm, ClientAssertionClaims, JwksError,
    jws::{self, JwsError, TYP_ACCESS_TOKEN, UntrustedHeader},
};

use crate::{
    error::{ErrorCode, OAuthError},
    registry::{Client, ClientAuth, Registry},
};

/// Algorithms a client assertion may be signed with; each client key verifies only its own.
pub const CLIENT_ASSERTION_ALGORITHMS: [Algorithm; 2] = Algorithm::ALL;
/// Longest accepted assertion lifetime ahead of now (`exp - now`), in seconds.
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 300;
/// Longest accepted `jti`.
const MAX_JTI_LEN: usize = 256;
/// Replay-cache size above which expired entries are pruned on insert.
const PRUNE_ABOVE: usize = 4096;
/// Hard bound on remembered `jti`s (each lives at most ~5 minutes).
const MAX_REMEMBERED: usize = 100_000;

/// `jti`s seen, per client, with the time until which each must be remembered.
#[derive(Debug, Default)]
pub struct ReplayCache {
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    jtis: HashMap<(String, String), i64>,
    /// Size at which the next prune runs: twice what the last prune left (at least
    /// [`PRUNE_ABOVE`], at most [`MAX_REMEMBERED`]). Pruning on *every* insert above a fixed
    /// size scanned the whole map per token request once more than `PRUNE_ABOVE` assertions
    /// were alive (~30 000 at 450 orders/s, BENCHMARKS.md); doubling keeps the scans
    /// amortised O(1) per insert.
    prune_at: usize,
}

impl ReplayCache {
    /// Records `jti` of `client` until `until`; false if it was already recorded (replay).
    fn first_use(&self, client: &str, jti: &str, until: i64, now: i64) -> Result<bool, OAuthError> {
        // A poisoned lock holds a plain map that is still consistent; keep using it.
        let mut guard = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let Seen {
            jtis: seen,
            prune_at,
        } = &mut *guard;
        if seen.len() >= (*prune_at).clamp(PRUNE_ABOVE, MAX_REMEMBERED) {
            seen.retain(|_, until| *until >= now);
            *prune_at = seen.len().saturating_mul(2);
        }
        let key = (client.to_owned(), jti.to_owned());
        if seen.get(&key).is_some_and(|until| *until >= now) {
            return Ok(false);
        }
        if seen.len() >= MAX_REMEMBERED {
            tracing::warn!(client, "client assertion replay cache is full");
            return Err(OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "too many client assertions; retry later",
            ));
        }
        seen.insert(key, until);
        Ok(true)
    }
}

/// What the assertion must be checked against.
#[derive(Debug, Clone, Copy)]
pub struct AssertionPolicy<'a> {
    /// Accepted `aud` values: the issuer and the token endpoint URL.
    pub audiences: [&'a str; 2],
    /// Clock skew tolerated, seconds.
    pub leeway: i64,
}

#[derive(Deserialize)]
struct UnverifiedIssuer {
    iss: String,
}

/// Authenticates a confidential client by its assertion; returns the client.
///
/// `claimed_client_id` is the request's `client_id` parameter, if any: it must match.
pub async fn authenticate<'r>(
    registry: &'r Registry,
    replay: &ReplayCache,
    policy: AssertionPolicy<'_>,
    assertion: &str,
    claimed_client_id: Option<&str>,
    now: i64,
) -> Result<&'r Client, OAuthError> {
    let header =
        UntrustedHeader::parse(assertion, &CLIENT_ASSERTION_ALGORITHMS).map_err(|e| match e {
            JwsError::DisallowedAlgorithm(alg) => OAuthError::invalid_client(format!(
                "client assertion algorithm {alg:?} is not allowed (ES256 or PS256)"
            )),
            _ => OAuthError::invalid_client("client assertion is not a well-formed JWS"),
        })?;
    if header.typ.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case(TYP_ACCESS_TOKEN) || t.eq_ignore_ascii_case("application/at+jwt")
    }) {
        return Err(OAuthError::invalid_client(
            "an access token is not a client assertion",
        ));
    }
    // Find the client from the (not yet trusted) iss; nothing else is read before the
    // signature is verified with that client's registered key.
    let issuer = assertion
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|b| serde_json::from_slice::<UnverifiedIssuer>(&b).ok())
        .map(|c| c.iss)
        .ok_or_else(|| OAuthError::invalid_client("client assertion has no iss"))?;
    if claimed_client_id.is_some_and(|id| id != issuer) {
        return Err(OAuthError::invalid_client(
            "client_id does not match the client assertion",
        ));
    }
    let client = registry
        .client(&issuer)
        .ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
    let ClientAuth::PrivateKeyJwt(keys) = &client.auth else {
        return Err(OAuthError::invalid_client(
            "client is not registered for private_key_jwt",
        ));
    };
    let kid = header
        .kid
        .ok_or_else(|| OAuthError::invalid_client("client assertion has no kid"))?;
    let key = keys.key(&kid).await.map_err(|e| match e {
        JwksError::UnknownKey(_) => {
            OAuthError::invalid_client("client assertion is signed with an unregistered key")
        }
        why @ (JwksError::Unavailable(_) | JwksError::NotYetChecked { .. }) => {
            tracing::warn!(client = %client.id, %why, "client JWKS unavailable");
            OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "client keys unavailable; retry later",
            )
        }
    })?;
    let claims: ClientAssertionClaims = jws::verify(assertion, &key).map_err(|e| match e {
        JwsError::BadSignature => {
            OAuthError::invalid_client("client assertion signature does not verify")
        }
        _ => OAuthError::invalid_client("client assertion claims are malformed"),
    })?;
    check_claims(&claims, &client.id, policy, now)?;
    let until = claims.exp.saturating_add(policy.leeway);
    if !replay.first_use(&client.id, &claims.jti, until, now)? {
        return Err(OAuthError::invalid_client(
            "client assertion jti was already used",
        ));
    }
    Ok(client)
}

fn check_claims(
    claims: &ClientAssertionClaims,
    client_id: &str,
    policy: AssertionPolicy<'_>,
    now: i64,
) -> Result<(), OAuthError> {
    let leeway = policy.leeway;
    if claims.iss != client_id || claims.sub != client_id {
        return Err(OAuthError::invalid_client(
            "client assertion iss and sub must both be the client_id",
        ));
    }
    if !policy.audiences.iter().any(|a| claims.aud.contains(a)) {
        return Err(OAuthError::invalid_client(
            "client assertion aud is not this issuer or token endpoint",
        ));
    }
    if now > claims.exp.saturating_add(leeway) {
        return Err(OAuthError::invalid_client("client assertion has expired"));
    }
    if claims.exp > now.saturating_add(MAX_ASSERTION_LIFETIME_SECS + leeway) {
        return Err(OAuthError::invalid_client(
            "client assertion exp is more than 5 minutes ahead",
        ));
    }
    if claims
        .nbf
        .into_iter()
        .chain(claims.iat)
        .any(|t| t > now.saturating_add(leeway))
    {
        return Err(OAuthError::invalid_client(
            "client assertion is not valid yet (nbf/iat in the future)",
        ));
    }
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_LEN {
        return Err(OAuthError::invalid_client(
            "client assertion jti is missing or too long",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_cache_refuses_a_second_use_until_expiry_and_scopes_jti_per_client() {
        let cache = ReplayCache::default();
        assert!(cache.first_use("a", "j", 100, 50).unwrap());
        assert!(!cache.first_use("a", "j", 100, 60).unwrap());
        assert!(cache.first_use("b", "j", 100, 60).unwrap());
        // Past its expiry the entry no longer blocks (the assertion itself is expired then).
        assert!(cache.first_use("a", "j", 200, 101).unwrap());
    }

    fn remembered(cache: &ReplayCache) -> usize {
        cache.seen.lock().unwrap().jtis.len()
    }

    #[test]
    fn replay_cache_prunes_expired_entries_without_rescanning_on_every_insert() {
        let cache = ReplayCache::default();
        // More live entries than PRUNE_ABOVE: each must still be refused a second time.
        let live = 3 * PRUNE_ABOVE;
        for i in 0..live {
            assert!(
                cache
                    .first_use("c", &format!("live-{i}"), 1_000, 10)
                    .unwrap()
            );
        }
        assert_eq!(remembered(&cache), live);
        assert!(!cache.first_use("c", "live-0", 1_000, 11).unwrap());
        assert!(
            !cache
                .first_use("c", &format!("live-{}", live - 1), 1_000, 11)
                .unwrap()
        );
        // The scan threshold moved above the live set instead of staying at PRUNE_ABOVE.
        assert!(cache.seen.lock().unwrap().prune_at > PRUNE_ABOVE);
        // Once they are all expired, growing past the threshold drops them.
        let mut i = 0;
        while remembered(&cache) >= live {
            assert!(
                cache
                    .first_use("c", &format!("late-{i}"), 5_000, 2_000)
                    .unwrap()
            );
            i += 1;
            assert!(i <= 2 * live, "expired entries were never pruned");
        }
        assert!(remembered(&cache) <= i);
    }

    #[test]
    fn replay_cache_full_of_expired_entries_still_accepts_new_assertions() {
        let cache = ReplayCache::default();
        for i in 0..MAX_REMEMBERED {
            cache
                .seen
                .lock()
                .unwrap()
                .jtis
                .insert(("c".into(), format!("old-{i}")), 100);
        }
        cache.seen.lock().unwrap().prune_at = usize::MAX;
        assert!(cache.first_use("c", "new", 500, 200).unwrap());
        assert_eq!(remembered(&cache), 1);
        // And a cache full of live entries refuses rather than forgetting one.
        let full = ReplayCache::default();
        for i in 0..MAX_REMEMBERED {
            full.seen
                .lock()
                .unwrap()
                .jtis
                .insert(("c".into(), format!("live-{i}")), 1_000);
        }
        assert!(full.first_use("c", "one-more", 1_000, 200).is_err());
    }
}
