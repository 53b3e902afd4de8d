//! Timestamps as the seed writes them: UTC without an offset, Python's `isoformat()` —
//! `2026-11-30T16:34:18.951466`, with the fraction left out when it is zero and six digits
//! otherwise. The seed's WebSocket `new_message` uses Python's `str()` instead, a space in place
//! of the `T` ([`space`]). Clients read `created_at[:19]`; both forms keep those 19 characters.
//!
//! Reading is lenient: either separator, with or without a fraction, and with or without an
//! offset (`Z`, `+02:00`), so a client may send back any form it received or produced.

use chrono::{DateTime, NaiveDateTime, Timelike as _, Utc};
use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

fn format_with(t: &DateTime<Utc>, sep: char) -> String {
    let date = t.format("%Y-%m-%d");
    let time = t.format("%H:%M:%S");
    let micros = t.nanosecond() / 1000;
    if micros == 0 {
        format!("{date}{sep}{time}")
    } else {
        format!("{date}{sep}{time}.{micros:06}")
    }
}

/// `2026-11-30T16:34:18.951466` (the seed's HTTP form).
pub fn format(t: &DateTime<Utc>) -> String {
    format_with(t, 'T')
}

/// `2026-11-30 16:34:18.951466` (the seed's WebSocket form).
pub fn format_space(t: &DateTime<Utc>) -> String {
    format_with(t, ' ')
}

/// Reads any of the forms above; a time without an offset is UTC.
pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = s.replacen(' ', "T", 1);
    let naive = naive.strip_suffix('Z').unwrap_or(&naive);
    NaiveDateTime::parse_from_str(naive, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|t| t.and_utc())
}

pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(t))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let s = String::deserialize(d)?;
    parse(&s).ok_or_else(|| D::Error::custom(format!("not a timestamp: {s:?}")))
}

/// `Option<DateTime<Utc>>` in the seed's HTTP form; `None` is `null`.
pub mod option {
    use serde::de::Error as _;

    use super::{DateTime, Deserialize, Deserializer, Serializer, Utc};

    // serde's `with` hands over `&Option<T>`.
    #[allow(clippy::ref_option)]
    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::format(t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(s) => super::parse(&s).map(Some).ok_or_else(|| D::Error::custom(format!("not a timestamp: {s:?}"))),
            None => Ok(None),
        }
    }
}

/// The seed's WebSocket form, with a space.
pub mod space {
    use super::{DateTime, Deserializer, Serializer, Utc};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_space(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        super::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    #[test]
    fn formats_like_python() {
        let t = Utc.with_ymd_and_hms(2026, 11, 30, 16, 34, 18).single().expect("valid");
        assert_eq!(format(&t), "2026-11-30T16:34:18");
        let t = t + chrono::Duration::microseconds(951_466);
        assert_eq!(format(&t), "2026-11-30T16:34:18.951466");
        assert_eq!(format_space(&t), "2026-11-30 16:34:18.951466");
        let t2 = t + chrono::Duration::microseconds(-951_466 + 5);
        assert_eq!(format(&t2), "2026-11-30T16:34:18.000005");
    }

    #[test]
    fn parses_every_form() {
        let t = Utc.with_ymd_and_hms(2026, 11, 30, 16, 34, 18).single().expect("valid")
            + chrono::Duration::microseconds(951_466);
        for s in [
            "2026-11-30T16:34:18.951466",
            "2026-11-30 16:34:18.951466",
            "2026-11-30T16:34:18.951466Z",
            "2026-11-30T18:34:18.951466+02:00",
        ] {
            assert_eq!(parse(s), Some(t), "{s}");
        }
        assert_eq!(parse("2026-11-30T16:34:18"), Some(t - chrono::Duration::microseconds(951_466)));
        assert_eq!(parse("yesterday"), None);
    }
}
