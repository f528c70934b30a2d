//! Time as the scheduler sees it: plain millisecond values, never a clock.
//!
//! The scheduling core is clock-agnostic: the caller passes `now` in. The
//! executor passes wall-clock time, the simulator a virtual clock; both are
//! milliseconds since the Unix epoch, so calendars written in RFC 3339 mean the
//! same thing to both.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// An instant: milliseconds since the Unix epoch (RFC 3339 in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// A signed length of time in milliseconds (slack can be negative; a number of ms in JSON).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Span(pub i64);

impl Span {
    pub const ZERO: Span = Span(0);
    pub const SECOND: Span = Span(1_000);
    pub const MINUTE: Span = Span(60_000);
    pub const HOUR: Span = Span(3_600_000);
    pub const DAY: Span = Span(86_400_000);

    /// A span of `s` seconds, rounded to the millisecond (saturating).
    pub fn from_secs_f64(s: f64) -> Span {
        // `as` saturates for out-of-range floats and maps NaN to 0.
        Span((s * 1_000.0).round() as i64)
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1_000.0
    }

    pub fn as_hours_f64(self) -> f64 {
        self.0 as f64 / 3_600_000.0
    }

    /// Parses a human duration: `90s`, `30m`, `4h`, `7d`, `1d 6h`.
    pub fn parse(text: &str) -> Result<Span, String> {
        let d = humantime::parse_duration(text.trim())
            .map_err(|e| format!("`{text}` is not a duration like 30m, 4h or 7d: {e}"))?;
        i64::try_from(d.as_millis())
            .map(Span)
            .map_err(|_| format!("`{text}` is too long"))
    }

    pub fn saturating_mul(self, n: i64) -> Span {
        Span(self.0.saturating_mul(n))
    }
}

impl Timestamp {
    /// The wall clock, for callers that schedule real work (never used inside the core).
    pub fn now() -> Timestamp {
        Timestamp::from_system(SystemTime::now())
    }

    pub fn from_system(t: SystemTime) -> Timestamp {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            Err(e) => Timestamp(-i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX)),
        }
    }

    /// Parses an RFC 3339 time (`2026-11-23T08:00:00Z`; a space for `T` and
    /// no offset are accepted and mean UTC).
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, String> {
        humantime::parse_rfc3339_weak(text.trim())
            .map(Timestamp::from_system)
            .map_err(|e| format!("`{text}` is not an RFC 3339 time: {e}"))
    }

    /// Parses an RFC 3339 time, or `+<duration>` relative to `origin` when there is one.
    pub fn parse_relative(text: &str, origin: Option<Timestamp>) -> Result<Timestamp, String> {
        match (text.trim().strip_prefix('+'), origin) {
            (Some(offset), Some(origin)) => Ok(origin + Span::parse(offset)?),
            (Some(_), None) => Err(format!(
                "`{text}` is relative, but there is no start time here to add it to"
            )),
            (None, _) => Timestamp::parse_rfc3339(text),
        }
    }

    /// As a system time for formatting, clamped to what RFC 3339 text can
    /// say (1970-01-01 to 9999-12-31; humantime panics outside it): a time
    /// out of that range prints as its end, never panics.
    fn system(self) -> SystemTime {
        const LAST_MS: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
        UNIX_EPOCH + Duration::from_millis(self.0.clamp(0, LAST_MS).unsigned_abs())
    }

    /// RFC 3339 in UTC with seconds (milliseconds are dropped).
    pub fn to_rfc3339(self) -> String {
        humantime::format_rfc3339_seconds(self.system()).to_string()
    }
}

impl Serialize for Timestamp {
    /// RFC 3339 in UTC, with milliseconds when there are any.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 % 1_000 == 0 {
            s.serialize_str(&self.to_rfc3339())
        } else {
            s.serialize_str(&humantime::format_rfc3339_millis(self.system()).to_string())
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

impl Add<Span> for Timestamp {
    type Output = Timestamp;
    fn add(self, s: Span) -> Timestamp {
        Timestamp(self.0.saturating_add(s.0))
    }
}

impl AddAssign<Span> for Timestamp {
    fn add_assign(&mut self, s: Span) {
        *self = *self + s;
    }
}

impl Sub<Span> for Timestamp {
    type Output = Timestamp;
    fn sub(self, s: Span) -> Timestamp {
        Timestamp(self.0.saturating_sub(s.0))
    }
}

impl Sub for Timestamp {
    type Output = Span;
    fn sub(self, other: Timestamp) -> Span {
        Span(self.0.saturating_sub(other.0))
    }
}

impl Add for Span {
    type Output = Span;
    fn add(self, s: Span) -> Span {
        Span(self.0.saturating_add(s.0))
    }
}

impl Sub for Span {
    type Output = Span;
    fn sub(self, s: Span) -> Span {
        Span(self.0.saturating_sub(s.0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 0 {
            f.write_str("-")?;
        }
        let d = Duration::from_millis(self.0.unsigned_abs());
        write!(f, "{}", humantime::format_duration(d))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn parses_durations_and_times() {
        assert_eq!(Span::parse("4h").unwrap(), Span::HOUR.saturating_mul(4));
        assert_eq!(Span::parse("1d 6h").unwrap(), Span::HOUR.saturating_mul(30));
        assert!(Span::parse("soon").is_err());
        let t = Timestamp::parse_rfc3339("2026-11-23T08:00:00Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-23T08:00:00Z");
        assert_eq!(
            Timestamp::parse_relative("+2h", Some(t)).unwrap(),
            t + Span::HOUR.saturating_mul(2)
        );
        assert!(Timestamp::parse_relative("+2h", None).is_err());
        let json = serde_json::to_string(&(t + Span(5))).unwrap();
        assert_eq!(json, "\"2026-11-23T08:00:00.005Z\"");
        assert_eq!(
            serde_json::from_str::<Timestamp>(&json).unwrap(),
            t + Span(5)
        );
    }

    #[test]
    fn whole_seconds_serialise_without_millis_and_negative_spans_show_their_sign() {
        let t = Timestamp::parse_rfc3339("2026-11-23T08:00:00Z").unwrap();
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2026-11-23T08:00:00Z\""
        );
        assert_eq!(Span(-90_000).to_string(), "-1m 30s");
        assert_eq!(Span(90_000).to_string(), "1m 30s");
    }
}
