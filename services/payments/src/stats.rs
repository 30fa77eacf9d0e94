//! Counters of what the consumer did with the records it read, readable by embedding code
//! ([`crate::Application::stats`]) and logged as one summary line periodically and at shutdown.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, updated by the consumer.
#[derive(Debug, Default)]
pub struct ConsumerStats {
    processed: AtomicU64,
    paid: AtomicU64,
    duplicate: AtomicU64,
    dead_lettered: AtomicU64,
    retried: AtomicU64,
}

/// A point-in-time copy of [`ConsumerStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Records fully handled (paid + duplicate + dead-lettered).
    pub processed: u64,
    /// Records that created a payment.
    pub paid: u64,
    /// Records for an order that was already paid (replays, redeliveries).
    pub duplicate: u64,
    /// Records copied to the dead-letter topic.
    pub dead_lettered: u64,
    /// Transient failures that were retried (JWKS, DLQ or storage unavailable).
    pub retried: u64,
}

impl ConsumerStats {
    pub(crate) fn paid(&self) {
        self.paid.fetch_add(1, Ordering::Relaxed);
        self.processed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn duplicate(&self) {
        self.duplicate.fetch_add(1, Ordering::Relaxed);
        self.processed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn dead_lettered(&self) {
        self.dead_lettered.fetch_add(1, Ordering::Relaxed);
        self.processed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn retried(&self) {
        self.retried.fetch_add(1, Ordering::Relaxed);
    }

    /// The current values.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            processed: self.processed.load(Ordering::Relaxed),
            paid: self.paid.load(Ordering::Relaxed),
            duplicate: self.duplicate.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
        }
    }

    /// Logs the summary line.
    pub(crate) fn log_summary(&self, when: &'static str) {
        let s = self.snapshot();
        tracing::info!(
            when,
            processed = s.processed,
            paid = s.paid,
            duplicate = s.duplicate,
            dead_lettered = s.dead_lettered,
            retried = s.retried,
            "consumer stats"
        );
    }
}
