//! HTTP helpers every client shares (the SCIM service, Microsoft Graph and its login
//! authority): loopback URLs, error text, backoff with jitter, and `Retry-After`.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use url::Url;

/// Is the URL's host this machine (127.0.0.0/8, ::1, `localhost`)?
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// A random number for backoff jitter, without a dependency: `RandomState` is seeded randomly.
pub fn jitter(max: Duration) -> Duration {
    let r = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let ms = max.as_millis().max(1) as u64;
    Duration::from_millis(r % ms)
}

/// What went wrong with a request, with its causes, in words.
pub fn describe(e: &reqwest::Error) -> String {
    let mut what = if e.is_timeout() {
        "the request timed out".to_string()
    } else if e.is_connect() {
        "the connection failed".to_string()
    } else {
        "the request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        what.push_str(": ");
        what.push_str(&s.to_string());
        source = s.source();
    }
    what
}

/// The wait before retry `attempt` (0-based): `first` doubled each attempt, capped by `max`,
/// half of it random (jitter), so that clients throttled together do not retry together.
pub fn backoff(first: Duration, max: Duration, attempt: u32) -> Duration {
    let exp = first.saturating_mul(1u32 << attempt.min(16)).min(max);
    exp / 2 + jitter(exp / 2 + Duration::from_millis(1))
}

/// `Retry-After` (RFC 9110 §10.2.3): seconds, or an HTTP date (then the time from `now` to it).
pub fn retry_after(headers: &HeaderMap, now: std::time::SystemTime) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = http_date(v)?;
    let now = jiff::Timestamp::try_from(now).ok()?;
    Some(Duration::try_from(now.duration_until(at)).unwrap_or(Duration::ZERO))
}

/// An IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 §5.6.7): RFC 2822 with `GMT`. A
/// weekday that does not match the date is let through, as servers get it wrong.
fn http_date(s: &str) -> Option<jiff::Timestamp> {
    static PARSER: jiff::fmt::rfc2822::DateTimeParser =
        jiff::fmt::rfc2822::DateTimeParser::new().relaxed_weekday(true);
    if !s.ends_with(" GMT") {
        return None;
    }
    PARSER.parse_timestamp(s).ok()
}

/// Text percent-encoded for a URL's path or query (a space as `%20`, not `+`).
pub fn urlencoded(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let at = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(RETRY_AFTER, HeaderValue::from_str(v).unwrap());
            // 1994-11-06T08:49:00Z
            let now = std::time::UNIX_EPOCH + Duration::from_secs(784_111_740);
            retry_after(&h, now)
        };
        assert_eq!(at("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            at("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::from_secs(37))
        );
        assert_eq!(at("Sun, 06 Nov 1994 08:00:00 GMT"), Some(Duration::ZERO));
        assert_eq!(at("soon"), None);
        assert_eq!(at("Sun, 06 Nov 1994 08:49:37 CET"), None);
        // The weekday is not checked against the date (the old reader ignored it too), a
        // one-digit day reads, a day that does not exist does not.
        assert_eq!(
            at("Mon, 06 Nov 1994 08:50:00 GMT"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            at("Sun, 6 Nov 1994 08:49:37 GMT"),
            Some(Duration::from_secs(37))
        );
        assert_eq!(
            at("Tue, 07 Nov 1995 08:49:00 GMT"),
            Some(Duration::from_secs(366 * 86_400))
        );
        assert_eq!(at("Thu, 31 Nov 1994 08:49:37 GMT"), None);
        assert_eq!(at("Sun, 06 Nov 1994 08:49:37 +0000"), None);
        assert_eq!(at("Sun, 06 Nov 1994 08:49:37 GMT trailing"), None);
    }
}
