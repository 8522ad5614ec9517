//! The log lines' timestamps, formatted once per second.
//!
//! tracing-subscriber's default timer works out the calendar date and
//! formats all seven parts of `2026-12-07T22:41:05.123456Z` through
//! `core::fmt` for every line. [`Clock`] writes the same text: the part up
//! to the seconds is kept per thread and rebuilt when the second changes,
//! and only the microseconds are written for each line.

use std::cell::RefCell;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// RFC 3339 in UTC to the microsecond, as tracing-subscriber's default
/// `SystemTime` timer writes it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock;

/// A thread's last second: its Unix time and `YYYY-MM-DDTHH:MM:SS.`.
struct Second {
    unix: i64,
    prefix: String,
}

thread_local! {
    static SECOND: RefCell<Option<Second>> = const { RefCell::new(None) };
}

impl FormatTime for Clock {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        write_at(w, SystemTime::now())
    }
}

/// Writes `at` as [`Clock`] does.
fn write_at(w: &mut impl fmt::Write, at: SystemTime) -> fmt::Result {
    // Before 1970 (a clock set wrong): the whole second below, as the
    // default timer counts it.
    let (unix, micros) = match at.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_micros()),
        Err(e) => {
            let d = e.duration();
            match d.subsec_nanos() {
                0 => (-(d.as_secs() as i64), 0),
                n => (-(d.as_secs() as i64) - 1, (1_000_000_000 - n) / 1_000),
            }
        }
    };
    SECOND.with(|second| {
        let mut second = second.borrow_mut();
        let fresh = match second.as_ref() {
            Some(s) => s.unix != unix,
            None => true,
        };
        if fresh {
            *second = Some(Second {
                unix,
                prefix: prefix(unix),
            });
        }
        let prefix = second.as_ref().map_or("", |s| s.prefix.as_str());
        w.write_str(prefix)?;
        let mut digits = *b"000000Z";
        let mut rest = micros;
        for d in digits[..6].iter_mut().rev() {
            *d = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        // Six ASCII digits and a `Z`.
        w.write_str(std::str::from_utf8(&digits).map_err(|_| fmt::Error)?)
    })
}

/// `YYYY-MM-DDTHH:MM:SS.` of the Unix second `unix`, in UTC.
fn prefix(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (year, month, day) = civil(days);
    let year = if year > 9999 {
        format!("+{year}")
    } else if year < 0 {
        format!("{year:05}")
    } else {
        format!("{year:04}")
    };
    format!(
        "{year}-{month:02}-{day:02}T{:02}:{:02}:{:02}.",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: i64, micros: u32) -> SystemTime {
        let sub = Duration::from_micros(u64::from(micros));
        if secs >= 0 {
            UNIX_EPOCH + Duration::from_secs(secs as u64) + sub
        } else {
            UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + sub
        }
    }

    fn written(t: SystemTime) -> String {
        let mut out = String::new();
        write_at(&mut out, t).unwrap();
        out
    }

    #[test]
    fn times_are_written_as_rfc_3339_to_the_microsecond() {
        // Worked by hand from the calendar, not from this code.
        let table = [
            (0, 0, "1970-01-01T00:00:00.000000Z"),
            (59, 999_999, "1970-01-01T00:00:59.999999Z"),
            // 2000-02-29, a leap day of a century divisible by 400:
            // 11,016 days after 1970-01-01, at 12:34:56.
            (951_827_696, 7, "2000-02-29T12:34:56.000007Z"),
            // 2026-12-07 is 20,794 days after 1970-01-01.
            (
                1_796_601_600 + 3_600 + 61,
                120_000,
                "2026-12-07T01:01:01.120000Z",
            ),
            // The last second of 2024 (a leap year: 20,088 days to its
            // 31 December).
            (1_735_689_599, 1, "2024-12-31T23:59:59.000001Z"),
            // A clock before 1970: half a second before the epoch is in
            // 1969's last second.
            (-1, 500_000, "1969-12-31T23:59:59.500000Z"),
        ];
        for (secs, micros, want) in table {
            assert_eq!(written(at(secs, micros)), want, "{secs} s {micros} us");
        }
    }

    #[test]
    fn a_new_second_rebuilds_the_cached_part() {
        // The same thread, three lines: within one second, then the next
        // second, then back (a clock stepped back) must all be right.
        assert_eq!(written(at(86_399, 1)), "1970-01-01T23:59:59.000001Z");
        assert_eq!(written(at(86_399, 2)), "1970-01-01T23:59:59.000002Z");
        assert_eq!(written(at(86_400, 0)), "1970-01-02T00:00:00.000000Z");
        assert_eq!(written(at(86_399, 3)), "1970-01-01T23:59:59.000003Z");
    }
}
