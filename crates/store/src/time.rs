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

/// A timestamp to bind as a query parameter on either backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timestamp(pub(crate) DateTime<Utc>);

impl Timestamp {
    /// The SQLite text form.
    fn to_sqlite_text(self) -> String {
        self.0.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
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
    use chrono::TimeZone;

    use super::*;

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
