//! Brute-force protection of the password grant: attempts are rate-limited per username and
//! per client address (GCRA, `governor`: a burst of N, then one more every minute / N), and
//! the argon2 verifications waiting for one of the few slots form a bounded queue. An
//! attempt refused by either answers `429` with an RFC 6749-style body
//! (`temporarily_unavailable`) and `Retry-After`, before any password is checked.

use std::{
    fmt,
    net::IpAddr,
    num::NonZeroU32,
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use governor::{
    DefaultKeyedRateLimiter, Quota,
    clock::{Clock, DefaultClock},
};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::OAuthError;

/// What a client whose attempt met a full verification queue is told to wait.
const QUEUE_FULL_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Limits of the password grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PasswordLimits {
    /// Attempts per username: a burst of this many, then one per `period / n`.
    pub(crate) per_user: NonZeroU32,
    /// Attempts per client IP address, likewise.
    pub(crate) per_address: NonZeroU32,
    /// The period both rates are counted over (a minute in the service).
    pub(crate) period: Duration,
    /// Verifications running at once (argon2 costs ~19 MiB and real CPU each).
    pub(crate) slots: usize,
    /// Attempts waiting for a slot; one more is refused.
    pub(crate) queue: usize,
}

impl PasswordLimits {
    fn quota(&self, n: NonZeroU32) -> Quota {
        // `period / n` is never zero for a period of at least n ns; fall back to per-minute.
        Quota::with_period(self.period / n.get())
            .unwrap_or_else(|| Quota::per_minute(n))
            .allow_burst(n)
    }
}

/// The password grant's rate limits and verification queue, shared by every request.
pub(crate) struct PasswordThrottle {
    per_user: DefaultKeyedRateLimiter<String>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
    slots: Semaphore,
    /// Attempts holding or waiting for a slot.
    admitted: AtomicUsize,
    capacity: usize,
}

impl fmt::Debug for PasswordThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordThrottle")
            .field("users", &self.per_user.len())
            .field("addresses", &self.per_address.len())
            .field("admitted", &self.admitted.load(Ordering::Relaxed))
            .field("capacity", &self.capacity)
            .finish()
    }
}

/// A verification slot, held while a password is checked.
#[derive(Debug)]
pub(crate) struct Slot<'a> {
    _permit: SemaphorePermit<'a>,
    _admitted: Admitted<'a>,
}

/// One place in the queue, given back when dropped (also when the request is cancelled).
#[derive(Debug)]
struct Admitted<'a>(&'a AtomicUsize);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PasswordThrottle {
    pub(crate) fn new(limits: PasswordLimits) -> Self {
        Self {
            per_user: DefaultKeyedRateLimiter::dashmap(limits.quota(limits.per_user)),
            per_address: DefaultKeyedRateLimiter::dashmap(limits.quota(limits.per_address)),
            clock: DefaultClock::default(),
            slots: Semaphore::new(limits.slots.max(1)),
            admitted: AtomicUsize::new(0),
            capacity: limits.slots.max(1) + limits.queue,
        }
    }

    /// Counts an attempt for `user` from `address` (the address first, so a flood from one
    /// address does not spend its victims' budgets); `429` when either is over its rate.
    pub(crate) fn admit(&self, user: &str, address: Option<IpAddr>) -> Result<(), OAuthError> {
        if let Some(address) = address {
            self.per_address.check_key(&address).map_err(|not_until| {
                tracing::info!(%address, "password grant refused: too many attempts from the address");
                OAuthError::too_many_requests(
                    "too many password attempts from this address",
                    not_until.wait_time_from(self.clock.now()),
                )
            })?;
        }
        self.per_user
            .check_key(&user.to_owned())
            .map_err(|not_until| {
                tracing::info!(
                    user,
                    "password grant refused: too many attempts for the user"
                );
                OAuthError::too_many_requests(
                    "too many password attempts for this user",
                    not_until.wait_time_from(self.clock.now()),
                )
            })
    }

    /// A verification slot, waiting for one unless the queue is full (then `429`).
    pub(crate) async fn slot(&self) -> Result<Slot<'_>, OAuthError> {
        if self.admitted.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            tracing::info!("password grant refused: the verification queue is full");
            return Err(OAuthError::too_many_requests(
                "too many password verifications waiting",
                QUEUE_FULL_RETRY_AFTER,
            ));
        }
        let admitted = Admitted(&self.admitted);
        let permit = self
            .slots
            .acquire()
            .await
            .map_err(|_| OAuthError::server_error())?;
        Ok(Slot {
            _permit: permit,
            _admitted: admitted,
        })
    }

    /// Forgets the users and addresses whose budget is full again, so a flood of made-up
    /// names costs no lasting memory (called periodically).
    pub(crate) fn forget_idle(&self) {
        self.per_user.retain_recent();
        self.per_user.shrink_to_fit();
        self.per_address.retain_recent();
        self.per_address.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_user: u32, per_address: u32, queue: usize) -> PasswordLimits {
        PasswordLimits {
            per_user: NonZeroU32::new(per_user).unwrap(),
            per_address: NonZeroU32::new(per_address).unwrap(),
            // Nothing replenishes while a test runs.
            period: Duration::from_secs(3600),
            slots: 1,
            queue,
        }
    }

    fn retry_after(error: &OAuthError) -> Duration {
        assert_eq!(error.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        error.retry_after().unwrap()
    }

    #[test]
    fn each_user_and_each_address_has_its_own_budget() {
        let throttle = PasswordThrottle::new(limits(2, 3, 0));
        let (a, b) = ("10.0.0.1".parse().ok(), "10.0.0.2".parse().ok());
        throttle.admit("alice", a).unwrap();
        throttle.admit("alice", b).unwrap();
        // Alice's third attempt is refused from any address, for about one period / 2.
        let error = throttle.admit("alice", b).unwrap_err();
        let wait = retry_after(&error);
        assert!(wait > Duration::from_secs(1700) && wait <= Duration::from_secs(1800));
        // Bob is not: his own budget ...
        throttle.admit("bob", b).unwrap();
        // ... until address b has spent its three (alice ×2, bob).
        let error = throttle.admit("carol", b).unwrap_err();
        assert!(error.description.contains("address"), "{error}");
        throttle.admit("carol", a).unwrap();
        // Without an address only the user's budget counts.
        throttle.admit("dave", None).unwrap();
        throttle.admit("dave", None).unwrap();
        assert!(throttle.admit("dave", None).is_err());
    }

    #[tokio::test]
    async fn the_verification_queue_is_bounded_and_frees_its_places() {
        // One slot and one place in the queue.
        let throttle = PasswordThrottle::new(limits(100, 100, 1));
        let running = throttle.slot().await.unwrap();
        let mut waiting = Box::pin(throttle.slot());
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut waiting)
                .await
                .is_err(),
            "the second waits for the running one"
        );
        // A third is refused at once and told to come back in a second.
        let error = throttle.slot().await.unwrap_err();
        assert_eq!(retry_after(&error), QUEUE_FULL_RETRY_AFTER);
        drop(running);
        drop(waiting.await.unwrap());
        assert_eq!(throttle.admitted.load(Ordering::Acquire), 0);
        // A waiter whose request is cancelled gives its place back.
        let held = throttle.slot().await.unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(20), throttle.slot())
                .await
                .is_err()
        );
        assert_eq!(throttle.admitted.load(Ordering::Acquire), 1);
        drop(held);
        assert_eq!(throttle.admitted.load(Ordering::Acquire), 0);
    }

    #[test]
    fn idle_entries_are_forgotten() {
        let throttle = PasswordThrottle::new(PasswordLimits {
            period: Duration::from_millis(1),
            ..limits(5, 5, 0)
        });
        for i in 0..100 {
            throttle.admit(&format!("user-{i}"), None).unwrap();
        }
        assert_eq!(throttle.per_user.len(), 100);
        // Each budget is full again 200 µs after its attempt.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !throttle.per_user.is_empty() {
            assert!(std::time::Instant::now() < deadline, "never forgotten");
            throttle.forget_idle();
            std::thread::yield_now();
        }
    }
}
