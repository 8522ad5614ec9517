//! API key spending limits and their reset periods.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, Utc};
use rust_decimal::Decimal;

use crate::Error;

/// When a key's spending limit starts again. Periods are calendar periods
/// in UTC, whatever the server's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitReset {
    /// Every day at 00:00 UTC.
    Daily,
    /// Every Monday at 00:00 UTC (ISO 8601 weeks).
    Weekly,
    /// The first of every month at 00:00 UTC.
    Monthly,
}

impl LimitReset {
    /// The stored and wire form: `daily`, `weekly` or `monthly`.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitReset::Daily => "daily",
            LimitReset::Weekly => "weekly",
            LimitReset::Monthly => "monthly",
        }
    }

    /// The start of the period `now` falls in (inclusive): spending at or
    /// after this instant counts against the current period.
    pub fn period_start(self, now: DateTime<Utc>) -> DateTime<Utc> {
        let today = now.date_naive();
        let start = match self {
            LimitReset::Daily => Some(today),
            LimitReset::Weekly => {
                today.checked_sub_days(Days::new(u64::from(today.weekday().num_days_from_monday())))
            }
            LimitReset::Monthly => today.with_day(1),
        };
        // `None` only within a week of chrono's earliest date.
        start
            .unwrap_or(NaiveDate::MIN)
            .and_time(NaiveTime::MIN)
            .and_utc()
    }

    /// The start of the next period (exclusive end of the current one).
    pub fn next_reset(self, now: DateTime<Utc>) -> DateTime<Utc> {
        let start = self.period_start(now).date_naive();
        let next = match self {
            LimitReset::Daily => start.checked_add_days(Days::new(1)),
            LimitReset::Weekly => start.checked_add_days(Days::new(7)),
            LimitReset::Monthly => start.checked_add_months(Months::new(1)),
        };
        // `None` only within a month of chrono's latest date.
        next.unwrap_or(NaiveDate::MAX)
            .and_time(NaiveTime::MIN)
            .and_utc()
    }
}

impl fmt::Display for LimitReset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LimitReset {
    type Err = Error;

    fn from_str(s: &str) -> Result<LimitReset, Error> {
        match s {
            "daily" => Ok(LimitReset::Daily),
            "weekly" => Ok(LimitReset::Weekly),
            "monthly" => Ok(LimitReset::Monthly),
            other => Err(Error::UnknownLimitReset(other.to_owned())),
        }
    }
}

/// What is left of a key's `limit` after `used` (spent in the period plus
/// in flight), never below zero (`limit_remaining` on `/key`).
pub fn limit_remaining(limit: Decimal, used: Decimal) -> Decimal {
    (limit - used).max(Decimal::ZERO)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, s).unwrap()
    }

    #[test]
    fn period_starts_in_utc() {
        // Wednesday 2025-03-12 15:30:07 UTC.
        let now = at(2025, 3, 12, 15, 30, 7) + chrono::Duration::microseconds(42);
        assert_eq!(
            LimitReset::Daily.period_start(now),
            at(2025, 3, 12, 0, 0, 0)
        );
        assert_eq!(
            LimitReset::Weekly.period_start(now),
            at(2025, 3, 10, 0, 0, 0)
        );
        assert_eq!(
            LimitReset::Monthly.period_start(now),
            at(2025, 3, 1, 0, 0, 0)
        );
        assert_eq!(LimitReset::Daily.next_reset(now), at(2025, 3, 13, 0, 0, 0));
        assert_eq!(LimitReset::Weekly.next_reset(now), at(2025, 3, 17, 0, 0, 0));
        assert_eq!(LimitReset::Monthly.next_reset(now), at(2025, 4, 1, 0, 0, 0));
    }

    #[test]
    fn period_edges() {
        // A period starts exactly at midnight and includes it.
        let midnight = at(2025, 3, 10, 0, 0, 0);
        assert_eq!(LimitReset::Daily.period_start(midnight), midnight);
        assert_eq!(
            LimitReset::Weekly.period_start(midnight),
            midnight,
            "a Monday"
        );
        let last_moment = at(2025, 3, 9, 23, 59, 59);
        assert_eq!(
            LimitReset::Weekly.period_start(last_moment),
            at(2025, 3, 3, 0, 0, 0)
        );
        // Sunday belongs to the week that began the Monday before.
        assert_eq!(
            LimitReset::Weekly.period_start(at(2025, 3, 16, 12, 0, 0)),
            at(2025, 3, 10, 0, 0, 0)
        );
        // Weeks across a year boundary; months of every length.
        assert_eq!(
            LimitReset::Weekly.period_start(at(2026, 1, 1, 8, 0, 0)),
            at(2025, 12, 29, 0, 0, 0)
        );
        assert_eq!(
            LimitReset::Monthly.next_reset(at(2024, 2, 29, 23, 0, 0)),
            at(2024, 3, 1, 0, 0, 0)
        );
        assert_eq!(
            LimitReset::Monthly.next_reset(at(2025, 12, 31, 23, 0, 0)),
            at(2026, 1, 1, 0, 0, 0)
        );
        assert_eq!(
            LimitReset::Monthly.period_start(at(2025, 1, 31, 23, 59, 59)),
            at(2025, 1, 1, 0, 0, 0)
        );
    }

    #[test]
    fn names_round_trip() {
        for r in [LimitReset::Daily, LimitReset::Weekly, LimitReset::Monthly] {
            assert_eq!(r.as_str().parse::<LimitReset>().unwrap(), r);
            assert_eq!(r.to_string(), r.as_str());
        }
        assert_eq!(
            "yearly".parse::<LimitReset>().unwrap_err().to_string(),
            "unknown limit reset `yearly`, expected daily, weekly or monthly"
        );
    }

    #[test]
    fn remaining_never_negative() {
        assert_eq!(
            limit_remaining(Decimal::TEN, Decimal::ONE),
            Decimal::from(9)
        );
        assert_eq!(limit_remaining(Decimal::ONE, Decimal::TEN), Decimal::ZERO);
    }
}
