//! Durations as MegaMon measures and prints them.
//!
//! Durations are never negative: clocks and stored data can disagree, and a
//! negative MTTR would be nonsense on a dashboard, so differences are clamped.

use std::time::Duration;

use jiff::Timestamp;

/// Time from `from` to `to`, zero if `to` is earlier.
pub fn elapsed(from: Timestamp, to: Timestamp) -> Duration {
    let nanos = to.as_nanosecond() - from.as_nanosecond();
    if nanos <= 0 {
        return Duration::ZERO;
    }
    // A Timestamp spans less than 2^64 ns... of course not: clamp to u64 anyway.
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Go's `time.Duration` is an int64 of nanoseconds; the report keeps that shape.
/// Integer-nanosecond mean, truncating like Go's `time.Duration` division;
/// zero for no values.
pub fn mean(total: Duration, count: u64) -> Duration {
    if count == 0 {
        return Duration::ZERO;
    }
    let nanos = total.as_nanos() / u128::from(count);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

pub fn as_go_nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Formats like Go's `time.Duration.String()` truncated to whole seconds below
/// an hour's precision: `0s`, `45s`, `10m0s`, `1h10m0s`. Sub-second durations
/// print with milliseconds (`250ms`) so that short outages remain visible.
pub fn human(d: Duration) -> String {
    let total = d.as_secs();
    if total == 0 {
        let ms = d.subsec_millis();
        return if ms == 0 {
            "0s".to_string()
        } else {
            format!("{ms}ms")
        };
    }
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// Serialises a `Duration` as integer nanoseconds (Go's `time.Duration` JSON).
pub mod go_nanos {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(super::as_go_nanos(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let nanos = i64::deserialize(d)?;
        Ok(Duration::from_nanos(u64::try_from(nanos).unwrap_or(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn elapsed_clamps_negative_to_zero() {
        let a = ts("2024-01-01T00:00:10Z");
        let b = ts("2024-01-01T00:00:00Z");
        assert_eq!(elapsed(a, b), Duration::ZERO);
        assert_eq!(elapsed(b, a), Duration::from_secs(10));
    }

    #[test]
    fn elapsed_keeps_nanoseconds() {
        let a = ts("2024-01-01T00:00:00Z");
        let b = ts("2024-01-01T00:00:00.000000123Z");
        assert_eq!(elapsed(a, b), Duration::from_nanos(123));
    }

    #[test]
    fn human_matches_go_style() {
        assert_eq!(human(Duration::ZERO), "0s");
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_secs(45)), "45s");
        assert_eq!(human(Duration::from_secs(600)), "10m0s");
        assert_eq!(human(Duration::from_secs(4200)), "1h10m0s");
        assert_eq!(human(Duration::from_secs(100 * 3600 + 1)), "100h0m1s");
    }

    #[test]
    fn go_nanos_saturates() {
        assert_eq!(as_go_nanos(Duration::from_secs(1)), 1_000_000_000);
        assert_eq!(as_go_nanos(Duration::MAX), i64::MAX);
    }
}
