//! [`Timestamp`]: an instant in UTC with millisecond precision, written on the wire as
//! RFC 3339 (`2026-11-22T07:26:28.257Z`).

use std::fmt;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An instant in UTC, kept to the millisecond so that what is stored, sent and compared
/// is always the same value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime, example = "2026-11-22T07:26:28.257Z"))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "string"))]
pub struct Timestamp(i64);

impl Timestamp {
    /// The current time, truncated to the millisecond.
    pub fn now() -> Self {
        Self(Utc::now().timestamp_millis())
    }

    /// The instant `ms` milliseconds after the Unix epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the Unix epoch (how the stores keep it).
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            &self
                .to_datetime()
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| Self(t.timestamp_millis()))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_milliseconds_in_utc() {
        let t = Timestamp::from_millis(1_795_332_388_257);
        let json = serde_json::to_string(&t).expect("serialize");
        assert_eq!(json, "\"2026-11-22T07:26:28.257Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).expect("parse"), t);
        // Other offsets are accepted and normalised to UTC.
        let other: Timestamp =
            serde_json::from_str("\"2026-11-22T08:26:28.257+01:00\"").expect("parse");
        assert_eq!(other, t);
    }
}
