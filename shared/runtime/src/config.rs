//! Checks and parsers for configuration values, shared so every service accepts the same
//! forms and refuses bad values with the same one line naming the setting.

use std::time::Duration;

/// Units of [`parse_duration`], in milliseconds; a bare number is seconds.
const DURATION_UNITS: [(&str, u64); 4] = [("ms", 1), ("", 1_000), ("s", 1_000), ("m", 60_000)];
/// Units of [`parse_lifetime`]: [`DURATION_UNITS`], hours and days.
const LIFETIME_UNITS: [(&str, u64); 6] = [
    ("ms", 1),
    ("", 1_000),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// Parses a duration setting: `250ms`, `10s`, `5m` or a bare number of seconds (use as a
/// clap `value_parser`).
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    parse_with_units(value, &DURATION_UNITS, "250ms, 10s or 5m", "ms, s or m")
}

/// Parses a token lifetime: `h` (hours) and `d` (days) on top of [`parse_duration`]'s forms.
/// Zero is refused.
pub fn parse_lifetime(value: &str) -> Result<Duration, String> {
    let lifetime = parse_with_units(
        value,
        &LIFETIME_UNITS,
        "15m, 24h or 365d",
        "ms, s, m, h or d",
    )?;
    if lifetime.is_zero() {
        return Err(format!("{value:?}: a token lifetime must be positive"));
    }
    Ok(lifetime)
}

fn parse_with_units(
    value: &str,
    units: &[(&str, u64)],
    example: &str,
    unit_names: &str,
) -> Result<Duration, String> {
    let trimmed = value.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{value:?} is not a duration like {example}"))?;
    let millis = units
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, millis)| *millis)
        .ok_or_else(|| format!("{value:?} has an unknown unit (use {unit_names})"))?;
    Ok(Duration::from_millis(number.saturating_mul(millis)))
}

/// Checks that the setting `name` is an absolute `http(s)` URL.
pub fn http_url(name: &str, value: &str) -> Result<url::Url, String> {
    let parsed =
        url::Url::parse(value).map_err(|e| format!("{name} {value:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(format!("{name} {value:?} must be an http(s) URL"));
    }
    Ok(parsed)
}

/// Checks that the URL setting `name` is `https://`, or `http://` with a loopback host
/// (`127.0.0.0/8`, `::1`, `localhost`): a token issuer, JWKS or token endpoint reached in the
/// clear could be answered by anyone on the path (a key of their own in the JWKS, a stolen
/// client assertion at the token endpoint).
pub fn secure_url(name: &str, value: &str) -> Result<url::Url, String> {
    let parsed = http_url(name, value)?;
    if parsed.scheme() == "http" && !is_loopback_url(&parsed) {
        return Err(format!(
            "{name} {value:?} is http:// on a non-loopback host; use https:// \
             (http:// is accepted only for 127.0.0.1, ::1 and localhost)"
        ));
    }
    Ok(parsed)
}

/// True when `url`'s host is a loopback address or `localhost`.
pub fn is_loopback_url(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => is_localhost(name),
        None => false,
    }
}

fn is_localhost(name: &str) -> bool {
    name.eq_ignore_ascii_case("localhost") || name.eq_ignore_ascii_case("localhost.")
}

/// Checks that none of the `(name, value)` settings is empty or blank.
pub fn require_non_empty(settings: &[(&str, &str)]) -> Result<(), String> {
    match settings.iter().find(|(_, value)| value.trim().is_empty()) {
        Some((name, _)) => Err(format!("{name} must not be empty")),
        None => Ok(()),
    }
}

/// Checks that none of the `(name, value)` durations is zero.
pub fn require_positive(settings: &[(&str, Duration)]) -> Result<(), String> {
    match settings.iter().find(|(_, value)| value.is_zero()) {
        Some((name, _)) => Err(format!("{name} must be greater than zero")),
        None => Ok(()),
    }
}

/// Checks that the setting `name` is a legal Kafka topic name: 1 to 249 of `[A-Za-z0-9._-]`,
/// not `.` or `..`.
pub fn require_topic_name(name: &str, topic: &str) -> Result<(), String> {
    if is_topic_name(topic) {
        Ok(())
    } else {
        Err(format!(
            "{name} {topic:?} is not a valid Kafka topic name (1-249 of [A-Za-z0-9._-])"
        ))
    }
}

/// True for a legal Kafka topic name: 1 to 249 of `[A-Za-z0-9._-]`, not `.` or `..`.
pub fn is_topic_name(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_bad_ones_are_named() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("10h").unwrap_err().contains("unit"));
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn lifetimes_accept_hours_and_days_and_refuse_zero_and_junk() {
        assert_eq!(parse_lifetime("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_lifetime("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(
            parse_lifetime("365d"),
            Ok(Duration::from_secs(365 * 86_400))
        );
        assert!(parse_lifetime("0s").unwrap_err().contains("positive"));
        assert!(parse_lifetime("d").is_err());
        assert!(parse_lifetime("1w").unwrap_err().contains("unit"));
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(is_topic_name("orders.order-created.v1"));
        assert!(!is_topic_name(""));
        assert!(!is_topic_name(".."));
        assert!(!is_topic_name("bad topic"));
        assert!(!is_topic_name(&"a".repeat(250)));
        assert!(
            require_topic_name("--topic", "x y")
                .unwrap_err()
                .contains("--topic")
        );
    }

    #[test]
    fn http_urls_are_refused_unless_the_host_is_loopback() {
        for ok in [
            "https://identity:8443",
            "https://10.0.0.1/jwks",
            "http://127.0.0.1:18080",
            "http://127.1.2.3/x",
            "http://[::1]:18080/jwks",
            "http://localhost:18080",
        ] {
            assert!(secure_url("--issuer", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://identity:8080",
            "http://10.0.0.1/jwks",
            "http://[::2]/",
            "http://localhost.evil.example/",
            "http://127.0.0.1.nip.io/",
        ] {
            let error = secure_url("--issuer", bad).unwrap_err();
            assert!(
                error.starts_with("--issuer") && error.contains("non-loopback"),
                "{bad}: {error}"
            );
            assert!(!error.contains('\n'), "one line: {error}");
        }
    }

    #[test]
    fn checks_name_the_setting_that_failed() {
        assert!(http_url("--issuer", "http://127.0.0.1:18080").is_ok());
        assert!(
            http_url("--issuer", "not a url")
                .unwrap_err()
                .contains("--issuer")
        );
        assert!(
            http_url("--jwks-uri", "ftp://x/")
                .unwrap_err()
                .contains("http(s)")
        );
        assert_eq!(
            require_non_empty(&[("--a", "x"), ("--b", " ")]),
            Err("--b must not be empty".into())
        );
        assert_eq!(
            require_positive(&[("--a", Duration::from_secs(1)), ("--b", Duration::ZERO)]),
            Err("--b must be greater than zero".into())
        );
    }
}
