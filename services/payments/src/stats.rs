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
    set_aside: AtomicU64,
}

/// A point-in-time copy of [`ConsumerStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Records handled (paid + duplicate + dead-lettered + set aside), counting each read of
    /// a record, from the event topic or the retry topic.
    pub processed: u64,
    /// Records that created a payment.
    pub paid: u64,
    /// Records for an order that was already paid (replays, redeliveries).
    pub duplicate: u64,
    /// Records copied to the dead-letter topic.
    pub dead_lettered: u64,
    /// Records set aside on the retry topic because their check could not finish (JWKS not
    /// fetched since they arrived or unreachable for their key, database failing).
    pub set_aside: u64,
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

    pub(crate) fn set_aside(&self) {
        self.set_aside.fetch_add(1, Ordering::Relaxed);
        self.processed.fetch_add(1, Ordering::Relaxed);
    }

    /// The current values.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            processed: self.processed.load(Ordering::Relaxed),
            paid: self.paid.load(Ordering::Relaxed),
            duplicate: self.duplicate.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            set_aside: self.set_aside.load(Ordering::Relaxed),
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
            set_aside = s.set_aside,
            "consumer stats"
        );
    }
}
