//! Setting a record aside: where it first came from, how often it was checked, when it may
//! be checked again (the retry topic's headers), and how long to wait.
//!
//! Only Payments writes the retry topic (broker ACLs), so the retry headers found there are
//! its own; on the event topic the same names are an attacker's and are dropped before a
//! copy is made. A record someone else wrote to the retry topic is checked like any other:
//! its headers can only delay, hurry or mislabel that record itself.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::Message as _;
use rdkafka::message::{Headers as _, OwnedMessage};

/// Retry header: checks made so far (decimal, at least 1).
pub const RETRY_ATTEMPTS: &str = "retry-attempts";
/// Retry header: the record must not be checked before this time (Unix milliseconds).
pub const RETRY_NOT_BEFORE: &str = "retry-not-before";
/// Retry header: why the last check could not finish (a transient reason name).
pub const RETRY_REASON: &str = "retry-reason";
/// Retry header: when Payments first read the record (Unix milliseconds); a JWKS fetched
/// after this decides an unknown `kid`.
pub const RETRY_FIRST_SEEN: &str = "retry-first-seen";
/// Retry header: the topic the record was first read from.
pub const RETRY_SOURCE_TOPIC: &str = "retry-source-topic";
/// Retry header: its partition there (decimal).
pub const RETRY_SOURCE_PARTITION: &str = "retry-source-partition";
/// Retry header: its offset there (decimal).
pub const RETRY_SOURCE_OFFSET: &str = "retry-source-offset";

/// Added to a JWKS refresh's expected start before a record waiting for it is checked again
/// (the fetch itself takes a few milliseconds on a healthy network).
const JWKS_SETTLE: Duration = Duration::from_millis(500);

/// Where a record first came from and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    /// Checks made before the current one.
    pub(crate) attempts: u32,
    pub(crate) first_seen: SystemTime,
    pub(crate) not_before: SystemTime,
}

impl Origin {
    /// A record read from the event topic at `received`.
    pub(crate) fn of_event(message: &OwnedMessage, received: SystemTime) -> Self {
        Self {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            attempts: 0,
            first_seen: received,
            not_before: received,
        }
    }

    /// A record read from the retry topic at `received`, from its retry headers; a missing
    /// or unreadable header falls back to the retry record's own position and time. A
    /// not-before time further than `longest_wait` from `received` is brought back to it:
    /// Payments never sets a record aside for longer, so a record claiming otherwise was not
    /// written by Payments and must not hold up the records behind it.
    pub(crate) fn of_retry(
        message: &OwnedMessage,
        received: SystemTime,
        longest_wait: Duration,
    ) -> Self {
        let text = |name: &str| {
            message.headers().and_then(|headers| {
                headers
                    .iter()
                    .find(|h| h.key == name)
                    .and_then(|h| h.value)
                    .and_then(|v| std::str::from_utf8(v).ok())
                    .map(str::to_owned)
            })
        };
        let number = |name: &str| text(name).and_then(|v| v.parse::<i64>().ok());
        let time = |name: &str| {
            number(name)
                .and_then(|ms| u64::try_from(ms).ok())
                .map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
        };
        Self {
            topic: text(RETRY_SOURCE_TOPIC).unwrap_or_else(|| message.topic().to_owned()),
            partition: number(RETRY_SOURCE_PARTITION)
                .and_then(|p| i32::try_from(p).ok())
                .unwrap_or_else(|| message.partition()),
            offset: number(RETRY_SOURCE_OFFSET).unwrap_or_else(|| message.offset()),
            attempts: number(RETRY_ATTEMPTS)
                .and_then(|a| u32::try_from(a).ok())
                .unwrap_or(0),
            first_seen: time(RETRY_FIRST_SEEN).unwrap_or(received),
            not_before: time(RETRY_NOT_BEFORE)
                .unwrap_or(received)
                .min(received + longest_wait),
        }
    }

    /// The headers of the retry copy made after the current check failed with `reason`,
    /// to be checked again at `not_before`.
    pub(crate) fn retry_headers(
        &self,
        reason: &str,
        not_before: SystemTime,
    ) -> Vec<(&'static str, String)> {
        vec![
            (RETRY_ATTEMPTS, (self.attempts + 1).to_string()),
            (RETRY_NOT_BEFORE, unix_millis(not_before).to_string()),
            (RETRY_REASON, reason.to_owned()),
            (RETRY_FIRST_SEEN, unix_millis(self.first_seen).to_string()),
            (RETRY_SOURCE_TOPIC, self.topic.clone()),
            (RETRY_SOURCE_PARTITION, self.partition.to_string()),
            (RETRY_SOURCE_OFFSET, self.offset.to_string()),
        ]
    }
}

/// How often and how patiently a record is checked again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// Checks in all, the first included.
    pub(crate) max_attempts: u32,
    /// Wait before the second check (doubled for each further one).
    pub(crate) backoff: Duration,
    /// Longest wait.
    pub(crate) backoff_max: Duration,
    /// The JWKS cache's refresh cooldown (a record waiting for a refresh waits at most this
    /// long, plus a margin).
    pub(crate) refresh_cooldown: Duration,
}

impl RetryPolicy {
    /// True when a record that has had `attempts` checks before the current one may be set
    /// aside for another.
    pub(crate) fn may_retry(&self, attempts: u32) -> bool {
        attempts.saturating_add(1) < self.max_attempts
    }

    /// The longest wait [`Self::delay`] ever gives.
    pub(crate) fn longest_wait(&self) -> Duration {
        self.backoff_max.max(self.refresh_cooldown + JWKS_SETTLE)
    }

    /// The wait before the next check of a record that has had `attempts` checks before the
    /// current one. `refresh_due`: when the JWKS refresh that decides its key is due (then
    /// the record waits for that, not for the backoff).
    pub(crate) fn delay(&self, attempts: u32, refresh_due: Option<Duration>) -> Duration {
        match refresh_due {
            Some(due) => due + JWKS_SETTLE,
            None => self
                .backoff
                .saturating_mul(1 << attempts.min(20))
                .min(self.backoff_max),
        }
    }
}

/// Milliseconds since the Unix epoch (0 before it).
pub(crate) fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use rdkafka::{
        Timestamp,
        message::{Header, OwnedHeaders},
    };

    use super::*;

    fn message(topic: &str, headers: Option<OwnedHeaders>) -> OwnedMessage {
        OwnedMessage::new(
            Some(b"value".to_vec()),
            Some(b"key".to_vec()),
            topic.into(),
            Timestamp::NotAvailable,
            2,
            40,
            headers,
        )
    }

    #[test]
    fn retry_headers_round_trip_and_count_the_check() {
        let received = UNIX_EPOCH + Duration::from_millis(1_700_000_000_000);
        let origin = Origin::of_event(&message("events", None), received);
        assert_eq!(origin.attempts, 0);
        let not_before = received + Duration::from_secs(3);
        let mut headers = OwnedHeaders::new();
        for (key, value) in origin.retry_headers("keys_unavailable", not_before) {
            headers = headers.insert(Header {
                key,
                value: Some(value.as_bytes()),
            });
        }
        let later = received + Duration::from_secs(10);
        let back = Origin::of_retry(
            &message("events.retry", Some(headers)),
            later,
            Duration::from_secs(60),
        );
        assert_eq!(
            back,
            Origin {
                topic: "events".into(),
                partition: 2,
                offset: 40,
                attempts: 1,
                first_seen: received,
                not_before,
            }
        );
    }

    #[test]
    fn a_not_before_beyond_the_longest_wait_is_brought_back() {
        let received = SystemTime::now();
        let far = received + Duration::from_secs(86_400 * 365);
        let headers = OwnedHeaders::new().insert(Header {
            key: RETRY_NOT_BEFORE,
            value: Some(unix_millis(far).to_string().as_bytes()),
        });
        let origin = Origin::of_retry(
            &message("events.retry", Some(headers)),
            received,
            Duration::from_secs(60),
        );
        assert_eq!(origin.not_before, received + Duration::from_secs(60));
    }

    #[test]
    fn a_retry_record_without_our_headers_is_its_own_origin() {
        let received = SystemTime::now();
        let origin = Origin::of_retry(&message("events.retry", None), received, Duration::ZERO);
        assert_eq!(
            (origin.topic.as_str(), origin.offset, origin.attempts),
            ("events.retry", 40, 0)
        );
        assert_eq!(origin.not_before, received);
    }

    #[test]
    fn backoff_doubles_to_its_cap_and_a_jwks_refresh_wins() {
        let policy = RetryPolicy {
            max_attempts: 4,
            backoff: Duration::from_secs(1),
            backoff_max: Duration::from_secs(5),
            refresh_cooldown: Duration::from_secs(10),
        };
        let delays: Vec<u64> = (0..5).map(|a| policy.delay(a, None).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 5, 5]);
        assert_eq!(
            policy.delay(3, Some(Duration::from_millis(200))),
            Duration::from_millis(700)
        );
        assert_eq!(policy.longest_wait(), Duration::from_millis(10_500));
        assert!(policy.may_retry(2));
        assert!(!policy.may_retry(3), "the fourth check is the last");
    }
}
