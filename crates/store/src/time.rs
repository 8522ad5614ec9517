//! How timestamps are written: one type, encoded per backend.
//!
//! PostgreSQL stores `TIMESTAMPTZ` (microsecond precision). SQLite has no
//! date type, so it stores TEXT in a fixed-width RFC 3339 form
//! (`2025-01-02T03:04:05.000006Z`): fixed width and always UTC make text
//! order equal time order, which later `ORDER BY created_at` and range
//! queries rely on. sqlx's own SQLite encoding of `DateTime` varies the
//! number of fractional digits, hence this wrapper for writing. Reading needs
//! no wrapper: sqlx decodes both forms into `DateTime<Utc>`.

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Encode, Postgres, Sqlite, Type};

/// The current time, truncated to the microsecond precision both backends
/// store, so a value returned by a write equals the value read back later.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// SQLite's text form of a timestamp.
const SQLITE_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

/// A timestamp to bind as a query parameter on either backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timestamp(pub(crate) DateTime<Utc>);

impl Timestamp {
    /// The SQLite text form.
    fn to_sqlite_text(self) -> String {
        use chrono::{Datelike, Timelike};
        let t = self.0;
        // `format` interprets its pattern on every call, and every ledger
        // and generation row binds a few timestamps: write the common case
        // directly, and leave years outside 0..=9999 and leap seconds to
        // chrono.
        if !(0..=9999).contains(&t.year()) || t.nanosecond() >= 1_000_000_000 {
            return t.format(SQLITE_FORMAT).to_string();
        }
        let mut text = *b"0000-00-00T00:00:00.000000Z";
        // In range: the year is 0..=9999, checked above.
        put_digits(&mut text[0..4], t.year().unsigned_abs());
        put_digits(&mut text[5..7], t.month());
        put_digits(&mut text[8..10], t.day());
        put_digits(&mut text[11..13], t.hour());
        put_digits(&mut text[14..16], t.minute());
        put_digits(&mut text[17..19], t.second());
        put_digits(&mut text[20..26], t.nanosecond() / 1_000);
        match std::str::from_utf8(&text) {
            Ok(text) => text.to_owned(),
            // Only ASCII digits were written.
            Err(_) => t.format(SQLITE_FORMAT).to_string(),
        }
    }
}

/// Writes `value` in decimal into all of `dst`, zero-padded on the left
/// (`format!` costs some two thousand instructions a timestamp, and a
/// request binds several).
fn put_digits(dst: &mut [u8], mut value: u32) {
    for digit in dst.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

impl Type<Sqlite> for Timestamp {
    fn type_info() -> <Sqlite as Database>::TypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl<'q> Encode<'q, Sqlite> for Timestamp {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as Database>::ArgumentBuffer<'q>,
    ) -> Result<IsNull, BoxDynError> {
        <String as Encode<'q, Sqlite>>::encode(self.to_sqlite_text(), buf)
    }
}

impl Type<Postgres> for Timestamp {
    fn type_info() -> <Postgres as Database>::TypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Timestamp {
    fn encode_by_ref(
        &self,
        buf: &mut <Postgres as Database>::ArgumentBuffer<'_>,
    ) -> Result<IsNull, BoxDynError> {
        <DateTime<Utc> as Encode<'_, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Datelike, TimeZone};

    use super::*;

    #[test]
    fn sqlite_text_matches_chronos_format() {
        let start = Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap();
        let mut t = start;
        // Steps of a prime number of microseconds through 2063: every
        // field's width and carry.
        while t.year() < 2063 {
            assert_eq!(
                Timestamp(t).to_sqlite_text(),
                t.format(SQLITE_FORMAT).to_string()
            );
            t += chrono::Duration::microseconds(7_777_777_777_777);
        }
        let far = Utc.with_ymd_and_hms(12345, 6, 7, 8, 9, 10).unwrap();
        assert_eq!(
            Timestamp(far).to_sqlite_text(),
            far.format(SQLITE_FORMAT).to_string()
        );
    }

    #[test]
    fn sqlite_text_is_fixed_width_utc() {
        let whole = Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(
            Timestamp(whole).to_sqlite_text(),
            "2025-01-02T03:04:05.000000Z"
        );
        let micros = whole + chrono::Duration::microseconds(6);
        assert_eq!(
            Timestamp(micros).to_sqlite_text(),
            "2025-01-02T03:04:05.000006Z"
        );
    }

    #[test]
    fn sqlite_text_round_trips_through_rfc3339() {
        let t = now();
        let parsed = DateTime::parse_from_rfc3339(&Timestamp(t).to_sqlite_text()).unwrap();
        assert_eq!(parsed.with_timezone(&Utc), t);
    }

    #[test]
    fn now_has_microsecond_precision() {
        assert_eq!(now().timestamp_subsec_nanos() % 1_000, 0);
    }
}
